/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ck-fakeapi small helpers shared by every module: growable byte buffers, request/response
 * header lists, the two clocks (monotonic for delays, server clock with the test offset for
 * TTLs and leases) and logging.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fakeapi.h"

int
cki_buf_append(struct fa_buf *b, const void *p, size_t n)
{
	if (n == 0) {
		return 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n) {
			cap *= 2;
		}
		unsigned char *d = realloc(b->data, cap);
		if (d == NULL) {
			return -1;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int
cki_buf_printf(struct fa_buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		return -1;
	}
	return cki_buf_append(b, tmp, (size_t)n);
}

void
cki_buf_consume(struct fa_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void
cki_buf_free(struct fa_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

const char *
cki_req_header(const struct fa_request *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++) {
		if (strcmp(req->headers[i].name, name) == 0) {
			return req->headers[i].value;
		}
	}
	return NULL;
}

int
cki_req_add_header(struct fa_request *req, const char *name, size_t nlen, const char *value,
                   size_t vlen)
{
	if (req->nheaders >= FA_MAX_HEADERS) {
		return -1;
	}
	req->header_bytes += nlen + vlen;
	if (req->header_bytes > FA_MAX_HEADER_BYTES) {
		return -1;
	}
	struct fa_header *h = &req->headers[req->nheaders];
	h->name = strndup(name, nlen);
	h->value = malloc(vlen + 1);
	if (h->name == NULL || h->value == NULL) {
		free(h->name);
		free(h->value);
		return -1;
	}
	for (size_t i = 0; i < nlen; i++) {
		if (h->name[i] >= 'A' && h->name[i] <= 'Z') {
			h->name[i] = (char)(h->name[i] - 'A' + 'a');
		}
	}
	memcpy(h->value, value, vlen);
	h->value[vlen] = '\0';
	h->value_len = vlen;
	req->nheaders++;
	return 0;
}

void
cki_req_free(struct fa_request *req)
{
	for (size_t i = 0; i < req->nheaders; i++) {
		free(req->headers[i].name);
		free(req->headers[i].value);
	}
	free(req->method);
	free(req->path);
	free(req->authority);
	cki_buf_free(&req->body);
	memset(req, 0, sizeof(*req));
}

void
cki_resp_header(struct fa_response *resp, const char *name, const char *value)
{
	if (resp->nheaders >= FA_MAX_RESP_HEADERS) {
		return;
	}
	struct fa_header *h = &resp->headers[resp->nheaders];
	h->name = strdup(name);
	h->value = strdup(value);
	if (h->name == NULL || h->value == NULL) {
		free(h->name);
		free(h->value);
		return;
	}
	h->value_len = strlen(value);
	resp->nheaders++;
}

void
cki_resp_json(struct fa_response *resp, int status, const char *json)
{
	resp->status = status;
	resp->body.len = 0;
	cki_buf_append(&resp->body, json, strlen(json));
	cki_resp_header(resp, "content-type", "application/json");
}

void
cki_resp_free(struct fa_response *resp)
{
	for (size_t i = 0; i < resp->nheaders; i++) {
		free(resp->headers[i].name);
		free(resp->headers[i].value);
	}
	cki_buf_free(&resp->body);
	memset(resp, 0, sizeof(*resp));
}

uint64_t
cki_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t
cki_now_ms(void)
{
	struct timespec ts;
	if (cki_fa.clock_frozen_ms > 0)
		return cki_fa.clock_frozen_ms + cki_fa.clock_offset_ms;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + cki_fa.clock_offset_ms;
}

void
cki_log(const char *fmt, ...)
{
	if (cki_fa.quiet) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	fputs("ck-fakeapi: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}
