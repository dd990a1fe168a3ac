/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ck-fakeapi HTTP/1.1: a small keep-alive request parser (request line, headers, bodies framed
 * by Content-Length only; chunked is refused with 411) and the response writer. Used for TLS
 * connections that negotiated "http/1.1" (or no ALPN) and for the plain control listener.
 * One request at a time per connection: while a (delayed) response is pending, parsing stops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
	c->h1.have_head = 0;
	c->want_close = 1;
	return rv;
}

static int
tchar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* Parse the head (without its final CRLFCRLF). 0 ok, else the status to fail with. */
static int
parse_head(char *head, size_t len, struct fa_request *req, uint64_t *clen, int *close_after,
           int *expect100)
{
	char *eol = strstr(head, "\r\n");
	char *line_end = eol ? eol : head + len;
	char *sp1 = memchr(head, ' ', (size_t)(line_end - head));
	if (sp1 == NULL || sp1 == head) {
		return 400;
	}
	char *target = sp1 + 1;
	char *sp2 = memchr(target, ' ', (size_t)(line_end - target));
	if (sp2 == NULL || sp2 == target) {
		return 400;
	}
	size_t vlen = (size_t)(line_end - sp2 - 1);
	if (vlen != 8 ||
	    (memcmp(sp2 + 1, "HTTP/1.1", 8) != 0 && memcmp(sp2 + 1, "HTTP/1.0", 8) != 0)) {
		return vlen >= 5 && memcmp(sp2 + 1, "HTTP/", 5) == 0 ? 505 : 400;
	}
	*close_after = memcmp(sp2 + 1, "HTTP/1.0", 8) == 0;
	for (char *p = head; p < sp1; p++) {
		if (!tchar(*p)) {
			return 400;
		}
	}
	if ((size_t)(sp2 - target) > FA_MAX_PATH) {
		return 414;
	}
	req->method = strndup(head, (size_t)(sp1 - head));
	req->path = strndup(target, (size_t)(sp2 - target));
	if (req->method == NULL || req->path == NULL) {
		return 500;
	}
	int have_clen = 0;
	char *p = eol ? eol + 2 : head + len;
	while (p < head + len) {
		char *e = strstr(p, "\r\n");
		char *end = e ? e : head + len;
		if (*p == ' ' || *p == '\t') {
			return 400; /* obs-fold */
		}
		char *colon = memchr(p, ':', (size_t)(end - p));
		if (colon == NULL || colon == p) {
			return 400;
		}
		for (char *q = p; q < colon; q++) {
			if (!tchar(*q)) {
				return 400;
			}
		}
		char *v = colon + 1;
		char *ve = end;
		while (v < ve && (*v == ' ' || *v == '\t')) {
			v++;
		}
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) {
			ve--;
		}
		if (cki_req_add_header(req, p, (size_t)(colon - p), v, (size_t)(ve - v)) != 0) {
			return 431;
		}
		const struct fa_header *h = &req->headers[req->nheaders - 1];
		if (strcmp(h->name, "content-length") == 0) {
			char *endp;
			if (h->value_len == 0 || h->value_len > 18 || h->value[0] < '0' ||
			    h->value[0] > '9') {
				return 400;
			}
			unsigned long long n = strtoull(h->value, &endp, 10);
			if (*endp != '\0' || (have_clen && n != *clen)) {
				return 400;
			}
			*clen = n;
			have_clen = 1;
		} else if (strcmp(h->name, "transfer-encoding") == 0) {
			return 411;
		} else if (strcmp(h->name, "connection") == 0) {
			if (strcasecmp(h->value, "close") == 0) {
				*close_after = 1;
			} else if (strcasecmp(h->value, "keep-alive") == 0) {
				*close_after = 0;
			}
		} else if (strcmp(h->name, "expect") == 0) {
			*expect100 = strcasecmp(h->value, "100-continue") == 0;
		} else if (strcmp(h->name, "host") == 0 && req->authority == NULL) {
			req->authority = strdup(h->value);
		}
		p = e ? e + 2 : head + len;
	}
	return 0;
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
	h->have_head = 0;
	cki_req_free(req);
	if (h->pending.due_ms <= cki_mono_ms()) {
		return send_pending(c);
	}
	return 0;
}

int
cki_h1_input(struct fa_conn *c)
{
	struct fa_h1 *h = &c->h1;
	while (!c->dead && !c->want_close) {
		if (h->discard_left > 0) {
			size_t n =
			        c->in.len < h->discard_left ? c->in.len : (size_t)h->discard_left;
			cki_buf_consume(&c->in, n);
			h->discard_left -= n;
			if (h->discard_left > 0) {
				return 0;
			}
			continue;
		}
		if (h->busy) {
			return 0;
		}
		if (!h->have_head) {
			unsigned char *end = c->in.len >= 4
			                             ? memmem(c->in.data, c->in.len, "\r\n\r\n", 4)
			                             : NULL;
			if (end == NULL) {
				if (c->in.len > FA_MAX_HEADER_BYTES + FA_MAX_PATH) {
					return fail(c, 431);
				}
				return 0;
			}
			size_t hlen = (size_t)(end - c->in.data);
			if (memchr(c->in.data, '\0', hlen) != NULL) {
				return fail(c, 400); /* the parser works on C strings */
			}
			char *head = strndup((const char *)c->in.data, hlen);
			if (head == NULL) {
				return -1;
			}
			uint64_t clen = 0;
			int close_after = 0, expect100 = 0;
			int st = parse_head(head, hlen, &h->req, &clen, &close_after, &expect100);
			free(head);
			cki_buf_consume(&c->in, hlen + 4);
			if (st != 0) {
				return fail(c, st);
			}
			h->body_expect = clen;
			h->close_after_discard = close_after;
			uint64_t cap =
			        c->kind == FA_CONN_API ? cki_fa.max_value : FA_CONTROL_MAX_BODY;
			if (clen > cap) {
				/* Answer now and drop the body as it arrives; with Expect the
				 * client may never send it, so close after the answer. */
				h->req.body_too_large = 1;
				h->req.body_len = clen;
				h->discard_left = expect100 ? 0 : clen;
				if (c->kind == FA_CONN_CONTROL) {
					return fail(c, 413);
				}
				if (dispatch(c, close_after || expect100) != 0) {
					return -1;
				}
				continue;
			}
			h->have_head = 1;
			if (expect100 && clen > 0 &&
			    cki_buf_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25) != 0) {
				return -1;
			}
		}
		size_t want = (size_t)(h->body_expect - h->req.body.len);
		size_t n = c->in.len < want ? c->in.len : want;
		if (cki_buf_append(&h->req.body, c->in.data, n) != 0) {
			return -1;
		}
		cki_buf_consume(&c->in, n);
		if (h->req.body.len < h->body_expect) {
			return 0;
		}
		h->req.body_len = h->req.body.len;
		if (dispatch(c, h->close_after_discard) != 0) {
			return -1;
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
}
