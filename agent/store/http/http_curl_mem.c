/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wipe-on-free allocation for libcurl (curl_global_init_mem). libcurl formats every request's
 * headers, the Authorization line included, into heap buffers it frees without clearing; with
 * HTTP/2 the header list is also copied into the nghttp2 name/value array. Freed blocks are
 * reused in any order, so copies of the key pile up in free memory. Clearing each block on
 * free (malloc_usable_size gives its size) leaves only the buffers of requests in flight.
 * The cost is one memset per freed byte of libcurl's, small next to the TLS work on the same
 * bytes.
 */
#define _GNU_SOURCE
#include "store/http/http_curl_mem.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

static void
wipe_free(void *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

static void *
wipe_realloc(void *p, size_t n)
{
	size_t old;
	void *q;

	if (p == NULL)
		return malloc(n);
	if (n == 0) {
		wipe_free(p);
		return NULL;
	}
	old = malloc_usable_size(p);
	if (n <= old)
		return p; /* fits: realloc would keep the block anyway */
	q = malloc(n);
	if (q == NULL)
		return NULL;
	memcpy(q, p, old);
	wipe_free(p);
	return q;
}

static char *
wipe_strdup(const char *s)
{
	return strdup(s);
}

CURLcode
cki_http_curl_init(void)
{
	return curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, wipe_free, wipe_realloc,
	                            wipe_strdup, calloc);
}
