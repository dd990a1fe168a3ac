/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ck-fakeapi HTTP/2: an nghttp2 server session per TLS connection that negotiated "h2".
 * Each stream assembles one fa_request (header count/bytes capped, body kept up to
 * max_value + 1 bytes and counted beyond), is answered by the API module when the request
 * ends, and its response is submitted at once or when its latency/stall delay expires.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakeapi.h"

#define H2_WINDOW (1 << 20)

struct fa_stream {
	int32_t id;
	struct fa_conn *conn;
	struct fa_request req;
	struct fa_response resp;
	size_t resp_off;
	int waiting; /* answered, response held until resp.due_ms */
	struct fa_stream *prev, *next;
};

static void
stream_free(struct fa_stream *s)
{
	struct fa_conn *c = s->conn;
	if (s->prev) {
		s->prev->next = s->next;
	} else {
		c->streams = s->next;
	}
	if (s->next) {
		s->next->prev = s->prev;
	}
	cki_req_free(&s->req);
	cki_resp_free(&s->resp);
	free(s);
}

static ssize_t
read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length, uint32_t *flags,
          nghttp2_data_source *source, void *user_data)
{
	struct fa_stream *s = source->ptr;
	size_t left = s->resp.body.len - s->resp_off;
	size_t n = left < length ? left : length;
	memcpy(buf, s->resp.body.data + s->resp_off, n);
	s->resp_off += n;
	if (s->resp_off == s->resp.body.len) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	}
	return (ssize_t)n;
}

static int
submit(struct fa_stream *s)
{
	struct fa_conn *c = s->conn;
	s->waiting = 0;
	if (s->resp.status == 0) {
		cki_conn_abort(c);
		return 0;
	}
	nghttp2_nv nva[FA_MAX_RESP_HEADERS + 2];
	char status[8], clen[24];
	size_t n = 0;
	snprintf(status, sizeof(status), "%d", s->resp.status);
	snprintf(clen, sizeof(clen), "%zu", s->resp.body.len);
	nva[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, strlen(status),
	                        NGHTTP2_NV_FLAG_NONE};
	for (size_t i = 0; i < s->resp.nheaders; i++) {
		struct fa_header *h = &s->resp.headers[i];
		nva[n++] = (nghttp2_nv){(uint8_t *)h->name, (uint8_t *)h->value, strlen(h->name),
		                        h->value_len, NGHTTP2_NV_FLAG_NONE};
	}
	if (s->resp.status != 204) {
		nva[n++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)clen, 14,
		                        strlen(clen), NGHTTP2_NV_FLAG_NONE};
	}
	nghttp2_data_provider prd = {.source.ptr = s, .read_callback = read_body};
	int with_body = !s->resp.head && s->resp.status != 204 && s->resp.body.len > 0;
	int rv = nghttp2_submit_response(c->h2, s->id, nva, n, with_body ? &prd : NULL);
	return rv == 0 ? 0 : -1;
}

static int
dispatch(struct fa_stream *s)
{
	struct fa_request *req = &s->req;
	if (req->method == NULL || req->path == NULL) {
		return nghttp2_submit_rst_stream(s->conn->h2, NGHTTP2_FLAG_NONE, s->id,
		                                 NGHTTP2_PROTOCOL_ERROR);
	}
	cki_api_handle(req, &s->resp);
	s->waiting = 1;
	if (s->resp.due_ms <= cki_mono_ms()) {
		return submit(s);
	}
	return 0;
}

static int
on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct fa_conn *c = user_data;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
		return 0;
	}
	struct fa_stream *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	s->id = frame->hd.stream_id;
	s->conn = c;
	s->req.conn_id = c->id;
	s->req.proto = "h2";
	s->next = c->streams;
	if (c->streams) {
		c->streams->prev = s;
	}
	c->streams = s;
	nghttp2_session_set_stream_user_data(session, s->id, s);
	c->open_streams++;
	if (c->open_streams > cki_fa.stats.max_concurrent_streams) {
		cki_fa.stats.max_concurrent_streams = c->open_streams;
	}
	return 0;
}

static int
on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
          const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data)
{
	struct fa_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (s == NULL || frame->hd.type != NGHTTP2_HEADERS) {
		return 0;
	}
	struct fa_request *req = &s->req;
	char **slot = NULL;
	if (namelen > 0 && name[0] == ':') {
		if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
			slot = &req->method;
		} else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
			slot = &req->path;
		} else if (namelen == 10 && memcmp(name, ":authority", 10) == 0) {
			slot = &req->authority;
		} else {
			return 0;
		}
		if (*slot != NULL || valuelen > FA_MAX_PATH) {
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		}
		*slot = strndup((const char *)value, valuelen);
		return *slot ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	if (cki_req_add_header(req, (const char *)name, namelen, (const char *)value, valuelen) !=
	    0) {
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return 0;
}

static int
on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
              size_t len, void *user_data)
{
	struct fa_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
	if (s == NULL) {
		return 0;
	}
	s->req.body_len += len;
	if (s->req.body_too_large || s->req.body.len + len > cki_fa.max_value) {
		/* Keep counting, stop storing: the answer will be 413. */
		s->req.body_too_large = 1;
		return 0;
	}
	if (cki_buf_append(&s->req.body, data, len) != 0) {
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return 0;
}

static int
on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct fa_conn *c = user_data;
	if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
		return 0;
	}
	struct fa_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (s == NULL) {
		return 0;
	}
	if (dispatch(s) != 0) {
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	return c->dead ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int
on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data)
{
	struct fa_conn *c = user_data;
	struct fa_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
	if (s == NULL) {
		return 0;
	}
	nghttp2_session_set_stream_user_data(session, stream_id, NULL);
	stream_free(s);
	c->open_streams--;
	return 0;
}

int
cki_h2_start(struct fa_conn *c)
{
	nghttp2_session_callbacks *cb;
	int rv = -1;
	if (nghttp2_session_callbacks_new(&cb) != 0) {
		return -1;
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	if (nghttp2_session_server_new(&c->h2, cb, c) != 0) {
		goto out;
	}
	nghttp2_settings_entry iv[] = {
	        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, FA_MAX_STREAMS},
	        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_WINDOW},
	        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, FA_MAX_HEADER_BYTES * 2},
	};
	if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) !=
	            0 ||
	    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, 16 * H2_WINDOW) !=
	            0) {
		goto out;
	}
	rv = 0;
out:
	nghttp2_session_callbacks_del(cb);
	return rv;
}

int
cki_h2_input(struct fa_conn *c, const unsigned char *data, size_t len)
{
	ssize_t n = nghttp2_session_mem_recv(c->h2, data, len);
	if (c->dead) {
		return 0;
	}
	return n < 0 ? -1 : 0;
}

int
cki_h2_fill(struct fa_conn *c)
{
	while (c->out.len < 256 * 1024) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(c->h2, &data);
		if (n < 0) {
			return -1;
		}
		if (n == 0) {
			break;
		}
		if (cki_buf_append(&c->out, data, (size_t)n) != 0) {
			return -1;
		}
	}
	return 0;
}

void
cki_h2_timers(struct fa_conn *c, uint64_t now)
{
	for (struct fa_stream *s = c->streams; s != NULL && !c->dead; s = s->next) {
		if (s->waiting && s->resp.due_ms <= now && submit(s) != 0) {
			c->dead = 1;
		}
	}
}

uint64_t
cki_h2_next_due(const struct fa_conn *c)
{
	uint64_t best = UINT64_MAX;
	for (const struct fa_stream *s = c->streams; s != NULL; s = s->next) {
		if (s->waiting && s->resp.due_ms < best) {
			best = s->resp.due_ms;
		}
	}
	return best;
}

void
cki_h2_free(struct fa_conn *c)
{
	if (c->h2 != NULL) {
		nghttp2_session_del(c->h2); /* does not call on_stream_close */
		c->h2 = NULL;
	}
	while (c->streams != NULL) {
		stream_free(c->streams);
	}
}
