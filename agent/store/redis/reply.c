/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Redis reply decoders (reply.h). Numbers are read with strtol and range checks, never
 * atoi (whose overflow is undefined), and every length is checked before a copy.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "store/redis/reply.h"

#define SLOTS 16384

/* hiredis's own reply functions (the same table for every reader), and ours around them. */
static redisReplyObjectFunctions *hiredis_fn;

static void *
limited_array(const redisReadTask *task, int elements)
{
	if (elements > CKI_REDIS_MAX_ELEMENTS) {
		cki_log_warn(
		        "store redis: the server announced an array of %d elements (at most %d): "
		        "dropping the connection",
		        elements, CKI_REDIS_MAX_ELEMENTS);
		return NULL;
	}
	return hiredis_fn->createArray(task, elements);
}

static void *
pass_string(const redisReadTask *task, char *str, size_t len)
{
	return hiredis_fn->createString(task, str, len);
}

static void *
pass_integer(const redisReadTask *task, long long v)
{
	return hiredis_fn->createInteger(task, v);
}

static void *
pass_nil(const redisReadTask *task)
{
	return hiredis_fn->createNil(task);
}

static void
pass_free(void *obj)
{
	hiredis_fn->freeObject(obj);
}

static redisReplyObjectFunctions limited_fn = {
        pass_string, limited_array, pass_integer, pass_nil, pass_free,
};

void
cki_redis_reader_limit(redisReader *reader)
{
	if (reader == NULL || reader->fn == NULL || reader->fn == &limited_fn)
		return;
	if (hiredis_fn == NULL)
		hiredis_fn = reader->fn;
	reader->fn = &limited_fn;
}

/* A decimal in [lo, hi] at *p, which is advanced past it; false if there is none. */
static bool
read_int(const char **p, long lo, long hi, int *out)
{
	char *end;
	long v;

	if (**p < '0' || **p > '9')
		return false;
	errno = 0;
	v = strtol(*p, &end, 10);
	if (errno != 0 || v < lo || v > hi)
		return false;
	*p = end;
	*out = (int)v;
	return true;
}

bool
cki_redis_parse_redirect(const char *msg, cki_redis_redirect *out)
{
	const char *p = msg, *colon;
	size_t host_len;

	if (strncmp(p, "MOVED ", 6) == 0) {
		out->ask = false;
		p += 6;
	} else if (strncmp(p, "ASK ", 4) == 0) {
		out->ask = true;
		p += 4;
	} else {
		return false;
	}
	if (!read_int(&p, 0, SLOTS - 1, &out->slot) || *p != ' ')
		return false;
	p++;
	colon = strrchr(p, ':'); /* the last one: an IPv6 host has its own */
	if (colon == NULL)
		return false;
	host_len = (size_t)(colon - p);
	if (host_len >= sizeof(out->host) || memchr(p, ' ', host_len) != NULL)
		return false;
	colon++;
	if (!read_int(&colon, 1, 65535, &out->port) || *colon != '\0')
		return false;
	memcpy(out->host, p, host_len);
	out->host[host_len] = '\0';
	return true;
}

bool
cki_redis_parse_range(const redisReply *e, cki_redis_range *out)
{
	const redisReply *master;
	long long lo, hi, port;

	if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
	    e->element[0]->type != REDIS_REPLY_INTEGER ||
	    e->element[1]->type != REDIS_REPLY_INTEGER || e->element[2]->type != REDIS_REPLY_ARRAY)
		return false;
	master = e->element[2];
	if (master->elements < 2 || master->element[0]->type != REDIS_REPLY_STRING ||
	    master->element[1]->type != REDIS_REPLY_INTEGER)
		return false;
	lo = e->element[0]->integer;
	hi = e->element[1]->integer;
	port = master->element[1]->integer;
	if (lo < 0 || hi >= SLOTS || lo > hi || port < 1 || port > 65535 ||
	    master->element[0]->len >= CKI_REDIS_HOST_MAX ||
	    memchr(master->element[0]->str, '\0', master->element[0]->len) != NULL)
		return false;
	out->lo = (int)lo;
	out->hi = (int)hi;
	out->host = master->element[0]->str;
	out->host_len = master->element[0]->len;
	out->port = (int)port;
	return true;
}

bool
cki_redis_parse_version(const char *info, char *out, size_t cap)
{
	const char *v = strstr(info, "redis_version:");
	size_t len;

	if (v == NULL || cap == 0)
		return false;
	v += sizeof("redis_version:") - 1;
	len = strcspn(v, "\r\n");
	if (len >= cap)
		len = cap - 1;
	memcpy(out, v, len);
	out[len] = '\0';
	return true;
}
