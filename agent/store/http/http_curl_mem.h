/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl initialised with allocation functions that wipe every block on free, so the
 * request buffers in which libcurl formats the Authorization line leave no copies of the API
 * key behind in freed heap memory (docs/security-apikey.md has the measurements).
 */
#ifndef CKI_HTTP_CURL_MEM_H
#define CKI_HTTP_CURL_MEM_H

#include <curl/curl.h>

/* curl_global_init(CURL_GLOBAL_DEFAULT) with the wiping allocator. Like curl_global_init it
 * is reference-counted and must be balanced by curl_global_cleanup(); the allocator takes
 * effect only when this is the process's first initialisation. Not thread-safe (start-up). */
CURLcode cki_http_curl_init(void);

#endif
