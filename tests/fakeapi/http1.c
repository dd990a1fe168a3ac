/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ck-fakeapi HTTP/1.1: keep-alive requests read with the packaged nodejs http_parser (request
 * line, headers, bodies framed by Content-Length only; chunked is refused with 411) and the
 * response writer. The callbacks add the fake API's own rules on top of the parser: the caps on
 * target and header bytes, header-name tokens, the Content-Length form, Expect: 100-continue and
 * the early 413. Used for TLS connections that negotiated "http/1.1" (or no ALPN) and for the
 * plain control listener. One request at a time per connection: the parser pauses at the end of
 * each request and stays paused while a (delayed) response is pending.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "fakeapi.h"

static const char *
reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 413:
		return "Payload Too Large";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Status";
	}
}

static int
write_response(struct fa_conn *c, struct fa_response *resp)
{
	struct fa_buf *o = &c->out;
	int rv = cki_buf_printf(o, "HTTP/1.1 %d %s\r\n", resp->status, reason(resp->status));
	for (size_t i = 0; i < resp->nheaders && rv == 0; i++) {
		rv = cki_buf_printf(o, "%s: %s\r\n", resp->headers[i].name, resp->headers[i].value);
	}
	if (rv == 0 && resp->status != 204 && resp->status >= 200) {
		rv = cki_buf_printf(o, "content-length: %zu\r\n", resp->body.len);
	}
	if (rv == 0 && resp->close_after) {
		rv = cki_buf_printf(o, "connection: close\r\n");
	}
	if (rv == 0) {
		rv = cki_buf_append(o, "\r\n", 2);
	}
	if (rv == 0 && !resp->head && resp->status != 204) {
		rv = cki_buf_append(o, resp->body.data, resp->body.len);
	}
	return rv;
}

/* Answer a request that cannot be parsed, then close. */
static int
fail(struct fa_conn *c, int status)
{
	struct fa_response resp = {0};
	char body[96];
	snprintf(body, sizeof(body), "{\"error\":\"%s\"}", reason(status));
	cki_resp_json(&resp, status, body);
	resp.close_after = 1;
	int rv = write_response(c, &resp);
	cki_resp_free(&resp);
	cki_req_free(&c->h1.req);
	c->want_close = 1;
	return rv;
}

static int
send_pending(struct fa_conn *c)
{
	struct fa_h1 *h = &c->h1;
	int rv = 0;
	if (h->pending.status == 0) {
		cki_conn_abort(c);
	} else {
		rv = write_response(c, &h->pending);
		if (h->pending.close_after) {
			c->want_close = 1;
		}
	}
	cki_resp_free(&h->pending);
	h->has_pending = 0;
	h->busy = 0;
	return rv;
}

static int
dispatch(struct fa_conn *c, int close_after)
{
	struct fa_h1 *h = &c->h1;
	struct fa_request *req = &h->req;
	memset(&h->pending, 0, sizeof(h->pending));
	req->conn_id = c->id;
	req->proto = "http/1.1";
	if (c->kind == FA_CONN_API) {
		cki_api_handle(req, &h->pending);
	} else {
		cki_control_handle(req, &h->pending);
		h->pending.due_ms = 0;
	}
	h->pending.close_after = h->pending.close_after || close_after;
	h->has_pending = 1;
	h->busy = 1;
	cki_req_free(req);
	if (h->pending.due_ms <= cki_mono_ms()) {
		return send_pending(c);
	}
	return 0;
}

/* ---- http_parser callbacks: 0 go on; -1 stop, with the answer in h1.fail_status ---- */

static struct fa_conn *
conn_of(http_parser *p)
{
	return p->data;
}

static int
refuse(struct fa_conn *c, int status)
{
	c->h1.fail_status = status;
	return -1;
}

static int
tchar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int
on_message_begin(http_parser *p)
{
	struct fa_h1 *h = &conn_of(p)->h1;
	cki_req_free(&h->req);
	h->url.len = 0;
	h->field.len = 0;
	h->value.len = 0;
	h->in_value = 0;
	h->version_seen = 0;
	h->answered = 0;
	h->close_after = 0;
	h->expect100 = 0;
	h->have_clen = 0;
	h->clen = 0;
	return 0;
}

static int
on_url(http_parser *p, const char *at, size_t len)
{
	struct fa_conn *c = conn_of(p);
	if (c->h1.url.len + len > FA_MAX_PATH) {
		return refuse(c, 414);
	}
	return cki_buf_append(&c->h1.url, at, len) == 0 ? 0 : refuse(c, 500);
}

/* Once per request, when the request line is complete: only HTTP/1.0 and HTTP/1.1. */
static int
check_version(http_parser *p)
{
	struct fa_h1 *h = &conn_of(p)->h1;
	if (h->version_seen) {
		return 0;
	}
	h->version_seen = 1;
	if (p->http_major == 0 && p->http_minor == 9) {
		return refuse(conn_of(p), 400); /* the parser's HTTP/0.9: no version at all */
	}
	if (p->http_major != 1 || p->http_minor > 1) {
		return refuse(conn_of(p), 505);
	}
	h->close_after = p->http_minor == 0;
	return 0;
}

/* Content-Length: 1..18 digits; a repeat must carry the same number. */
static int
take_content_length(struct fa_h1 *h, const struct fa_header *hd)
{
	char *endp;
	if (hd->value_len == 0 || hd->value_len > 18 || hd->value[0] < '0' || hd->value[0] > '9') {
		return 400;
	}
	unsigned long long n = strtoull(hd->value, &endp, 10);
	if (*endp != '\0' || (h->have_clen && n != h->clen)) {
		return 400;
	}
	h->clen = n;
	h->have_clen = 1;
	return 0;
}

/* The field and value gathered so far make one header: check it, keep it, act on it. */
static int
finish_header(struct fa_conn *c)
{
	struct fa_h1 *h = &c->h1;
	struct fa_request *req = &h->req;
	const char *name = (const char *)h->field.data;
	const char *v = (const char *)h->value.data;
	size_t vlen = h->value.len;
	for (size_t i = 0; i < h->field.len; i++) {
		if (!tchar(name[i])) {
			return refuse(c, 400);
		}
	}
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) {
		vlen--;
	}
	h->in_value = 0;
	if (cki_req_add_header(req, name, h->field.len, v ? v : "", vlen) != 0) {
		return refuse(c, 431);
	}
	h->field.len = 0;
	h->value.len = 0;
	const struct fa_header *hd = &req->headers[req->nheaders - 1];
	if (strcmp(hd->name, "content-length") == 0) {
		int st = take_content_length(h, hd);
		return st == 0 ? 0 : refuse(c, st);
	}
	if (strcmp(hd->name, "connection") == 0) {
		if (strcasecmp(hd->value, "close") == 0) {
			h->close_after = 1;
		} else if (strcasecmp(hd->value, "keep-alive") == 0) {
			h->close_after = 0;
		}
	} else if (strcmp(hd->name, "expect") == 0) {
		h->expect100 = strcasecmp(hd->value, "100-continue") == 0;
	} else if (strcmp(hd->name, "host") == 0 && req->authority == NULL) {
		req->authority = strdup(hd->value);
	}
	return 0;
}

/* Gather a header piece (the parser may split one across reads) under the header-byte cap. */
static int
gather(struct fa_conn *c, struct fa_buf *into, const char *at, size_t len)
{
	struct fa_h1 *h = &c->h1;
	if (h->req.header_bytes + h->field.len + h->value.len + len > FA_MAX_HEADER_BYTES) {
		return refuse(c, 431);
	}
	return cki_buf_append(into, at, len) == 0 ? 0 : refuse(c, 500);
}

static int
on_header_field(http_parser *p, const char *at, size_t len)
{
	struct fa_conn *c = conn_of(p);
	if (check_version(p) != 0 || (c->h1.in_value && finish_header(c) != 0)) {
		return -1;
	}
	return gather(c, &c->h1.field, at, len);
}

static int
on_header_value(http_parser *p, const char *at, size_t len)
{
	struct fa_conn *c = conn_of(p);
	struct fa_h1 *h = &c->h1;
	if (!h->in_value) {
		h->in_value = 1;
		/* Refused before the parser sees the rest: chunked is never decoded here. */
		if (h->field.len == 17 &&
		    strncasecmp((const char *)h->field.data, "transfer-encoding", 17) == 0) {
			return refuse(c, 411);
		}
	} else if (!(h->value_open && at == h->feed)) {
		/* More of the same value that is not where the last read stopped: the parser
		 * joined an obs-fold continuation line, which RFC 9112 lets us refuse. */
		return refuse(c, 400);
	}
	h->value_open = at + len == h->feed_end;
	return gather(c, &h->value, at, len);
}

static int
on_headers_complete(http_parser *p)
{
	struct fa_conn *c = conn_of(p);
	struct fa_h1 *h = &c->h1;
	if (check_version(p) != 0 || (h->in_value && finish_header(c) != 0)) {
		return -1;
	}
	h->req.method = strdup(http_method_str((enum http_method)p->method));
	h->req.path = strndup(h->url.data ? (const char *)h->url.data : "", h->url.len);
	if (h->req.method == NULL || h->req.path == NULL) {
		return refuse(c, 500);
	}
	uint64_t cap = c->kind == FA_CONN_API ? cki_fa.max_value : FA_CONTROL_MAX_BODY;
	if (h->clen > cap) {
		if (c->kind == FA_CONN_CONTROL) {
			return refuse(c, 413);
		}
		/* Answer now and drop the body as it arrives; with Expect the client may never
		 * send it, so stop reading and close after the answer. */
		h->req.body_too_large = 1;
		h->req.body_len = h->clen;
		h->answered = 1;
		if (dispatch(c, h->close_after || h->expect100) != 0) {
			h->io_error = 1;
			return -1;
		}
		if (h->expect100) {
			http_parser_pause(p, 1);
		}
		return 0;
	}
	if (h->expect100 && h->clen > 0 &&
	    cki_buf_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25) != 0) {
		h->io_error = 1;
		return -1;
	}
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
	struct fa_conn *c = conn_of(p);
	if (c->h1.answered) {
		return 0; /* the early answer is out; the rest of the body is dropped */
	}
	return cki_buf_append(&c->h1.req.body, at, len) == 0 ? 0 : refuse(c, 500);
}

static int
on_message_complete(http_parser *p)
{
	struct fa_conn *c = conn_of(p);
	struct fa_h1 *h = &c->h1;
	if (!h->answered) {
		h->req.body_len = h->req.body.len;
		if (dispatch(c, h->close_after) != 0) {
			h->io_error = 1;
			return -1;
		}
	}
	h->answered = 0;
	/* Pipelined input waits in c->in until this response has gone out. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings parser_settings = {
        .on_message_begin = on_message_begin,
        .on_url = on_url,
        .on_header_field = on_header_field,
        .on_header_value = on_header_value,
        .on_headers_complete = on_headers_complete,
        .on_body = on_body,
        .on_message_complete = on_message_complete,
};

/* The answer to a request the parser itself rejected. */
static int
status_for(enum http_errno e)
{
	switch (e) {
	case HPE_HEADER_OVERFLOW:
		return 431;
	case HPE_INVALID_VERSION:
		return 505;
	default:
		return 400;
	}
}

int
cki_h1_input(struct fa_conn *c)
{
	struct fa_h1 *h = &c->h1;
	if (!h->parser_ready) {
		/* Whole head (request line + headers) before its blank line; process-wide. */
		http_parser_set_max_header_size(FA_MAX_HEADER_BYTES + FA_MAX_PATH);
		http_parser_init(&h->parser, HTTP_REQUEST);
		h->parser.data = c;
		h->parser_ready = 1;
	}
	while (!c->dead && !c->want_close && c->in.len > 0) {
		if (HTTP_PARSER_ERRNO(&h->parser) == HPE_PAUSED) {
			if (h->busy) {
				return 0;
			}
			http_parser_pause(&h->parser, 0);
		}
		h->feed = (const char *)c->in.data;
		h->feed_end = h->feed + c->in.len;
		size_t n = http_parser_execute(&h->parser, &parser_settings, h->feed, c->in.len);
		cki_buf_consume(&c->in, n);
		if (h->io_error) {
			return -1;
		}
		enum http_errno e = HTTP_PARSER_ERRNO(&h->parser);
		if (e != HPE_OK && e != HPE_PAUSED) {
			return fail(c, h->fail_status != 0 ? h->fail_status : status_for(e));
		}
	}
	return 0;
}

void
cki_h1_timers(struct fa_conn *c, uint64_t now)
{
	if (c->h1.has_pending && c->h1.pending.due_ms <= now && send_pending(c) != 0) {
		c->dead = 1;
	}
}

void
cki_h1_free(struct fa_conn *c)
{
	cki_req_free(&c->h1.req);
	cki_resp_free(&c->h1.pending);
	cki_buf_free(&c->h1.url);
	cki_buf_free(&c->h1.field);
	cki_buf_free(&c->h1.value);
}
