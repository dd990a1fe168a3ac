/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ck-fakeapi request recording: every API request becomes one JSON record (sequence number,
 * connection id, protocol, method, raw path, headers, body length, response status) kept in a
 * bounded ring, so GET /requests can show tests exactly what a client sent. The oldest records
 * are dropped (and counted) once the ring is full.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fakeapi.h"

static json_t **ring;
static size_t ring_cap;
static size_t ring_count; /* records held */
static size_t ring_head;  /* index of the oldest */
static uint64_t next_seq = 1;

void
cki_record_init(size_t max_records)
{
	ring_cap = max_records;
	ring = ring_cap ? calloc(ring_cap, sizeof(*ring)) : NULL;
	if (ring == NULL) {
		ring_cap = 0;
	}
}

void
cki_record_clear(void)
{
	for (size_t i = 0; i < ring_count; i++) {
		json_decref(ring[(ring_head + i) % ring_cap]);
	}
	ring_count = 0;
	ring_head = 0;
	next_seq = 1;
}

/* Header bytes are not necessarily UTF-8: map each byte to U+0000..U+00FF (latin-1). */
static json_t *
latin1_string(const char *s, size_t n)
{
	char *u = malloc(n * 2 + 1);
	if (u == NULL) {
		return json_null();
	}
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x80) {
			u[o++] = (char)c;
		} else {
			u[o++] = (char)(0xc0 | (c >> 6));
			u[o++] = (char)(0x80 | (c & 0x3f));
		}
	}
	json_t *j = json_stringn(u, o);
	free(u);
	return j ? j : json_null();
}

void
cki_record_add(const struct fa_request *req, int status)
{
	uint64_t seq = next_seq++;
	if (ring_cap == 0) {
		cki_fa.stats.records_dropped++;
		return;
	}
	json_t *o = json_object();
	json_t *hdrs = json_array();
	for (size_t i = 0; i < req->nheaders; i++) {
		json_t *pair = json_array();
		json_array_append_new(
		        pair, latin1_string(req->headers[i].name, strlen(req->headers[i].name)));
		json_array_append_new(
		        pair, latin1_string(req->headers[i].value, req->headers[i].value_len));
		json_array_append_new(hdrs, pair);
	}
	json_object_set_new(o, "seq", json_integer((json_int_t)seq));
	json_object_set_new(o, "conn", json_integer((json_int_t)req->conn_id));
	json_object_set_new(o, "proto", json_string(req->proto));
	json_object_set_new(o, "method", latin1_string(req->method, strlen(req->method)));
	json_object_set_new(o, "path", latin1_string(req->path, strlen(req->path)));
	json_object_set_new(o, "authority",
	                    req->authority ? latin1_string(req->authority, strlen(req->authority))
	                                   : json_null());
	json_object_set_new(o, "headers", hdrs);
	json_object_set_new(o, "body_len", json_integer((json_int_t)req->body_len));
	json_object_set_new(o, "status", json_integer(status));
	if (ring_count == ring_cap) {
		json_decref(ring[ring_head]);
		ring[ring_head] = o;
		ring_head = (ring_head + 1) % ring_cap;
		cki_fa.stats.records_dropped++;
	} else {
		ring[(ring_head + ring_count) % ring_cap] = o;
		ring_count++;
	}
}

char *
cki_record_json(uint64_t since)
{
	json_t *a = json_array();
	for (size_t i = 0; i < ring_count; i++) {
		json_t *o = ring[(ring_head + i) % ring_cap];
		uint64_t seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
		if (seq > since) {
			json_array_append(a, o);
		}
	}
	char *s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}
