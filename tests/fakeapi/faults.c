/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ck-fakeapi fault injection and behaviour modes: the settings (latency, stall, error rate,
 * reset rate, Retry-After, the deterministic fail_next queue, and the switches for the
 * UNCONFIRMED server behaviours of spec §11), their JSON form for the control endpoint, and
 * the seeded random choice made for each API request.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include <jansson.h>

#include "fakeapi.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

void
cki_rng_seed(uint64_t seed)
{
	rng_state = seed ^ 0x9e3779b97f4a7c15ULL;
}

/* splitmix64: deterministic for a given seed, good enough for fault dice. */
uint64_t
cki_rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double
rng_unit(void)
{
	return (double)(cki_rng_next() >> 11) / (double)(1ULL << 53);
}

void
cki_faults_defaults(struct fa_faults *f)
{
	memset(f, 0, sizeof(*f));
	f->error_statuses[0] = 503;
	f->n_error_statuses = 1;
	f->delete_missing = FA_DELETE_404;
	f->lock_contested = FA_LOCK_NULL;
	f->unlock_wrong = FA_UNLOCK_200;
	f->health_shape = FA_HEALTH_NEW;
}

static int
status_ok(long long s)
{
	return s == 0 || (s >= 100 && s <= 599);
}

int
cki_faults_parse_list(int *out, size_t *n, size_t cap, const char *s)
{
	size_t count = 0;
	while (*s) {
		char *end;
		long long v = strtoll(s, &end, 10);
		if (end == s || !status_ok(v) || count >= cap) {
			return -1;
		}
		out[count++] = (int)v;
		s = end;
		if (*s == ',') {
			s++;
		} else if (*s) {
			return -1;
		}
	}
	*n = count;
	return 0;
}

static int
json_status_list(json_t *v, int *out, size_t *n, size_t cap)
{
	if (!json_is_array(v) || json_array_size(v) > cap) {
		return -1;
	}
	size_t i;
	json_t *item;
	json_array_foreach(v, i, item)
	{
		if (!json_is_integer(item) || !status_ok(json_integer_value(item))) {
			return -1;
		}
		out[i] = (int)json_integer_value(item);
	}
	*n = json_array_size(v);
	return 0;
}

static int
json_rate(json_t *v, double *out)
{
	if (!json_is_number(v)) {
		return -1;
	}
	double r = json_number_value(v);
	if (!(r >= 0.0 && r <= 1.0)) {
		return -1;
	}
	*out = r;
	return 0;
}

static int
json_uint(json_t *v, uint64_t max, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max) {
		return -1;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* A mode value may be given as a string ("404") or a number (404); returns the index of
 * the matching name, or -1. */
static int
json_choice_of(json_t *v, const char *const *names, size_t n)
{
	char tmp[32];
	const char *s = NULL;
	if (json_is_string(v)) {
		s = json_string_value(v);
	} else if (json_is_integer(v)) {
		snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(v));
		s = tmp;
	} else if (json_is_null(v)) {
		s = "null";
	}
	if (s == NULL) {
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, names[i]) == 0) {
			return (int)i;
		}
	}
	return -1;
}

static int
json_choice(json_t *v, const char *a, const char *b)
{
	const char *const names[] = {a, b};
	return json_choice_of(v, names, 2);
}

static const char *const health_names[] = {"new", "old", "text"};
static const char *const lock_route_names[] = {"on", "400", "404", "405"};
static const int lock_route_values[] = {FA_LOCK_ROUTES_ON, 400, 404, 405};
static const char *const retry_after_names[] = {"seconds", "date"};

int
cki_faults_merge_json(struct fa_faults *f, const char *json, size_t len, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	struct fa_faults next = *f;
	int rv = -1;
	const char *bad = NULL;
	if (root == NULL || !json_is_object(root)) {
		snprintf(err, errlen, "body must be a JSON object");
		goto out;
	}
	const char *name;
	json_t *v;
	json_object_foreach(root, name, v)
	{
		uint64_t u;
		int c;
		if (strcmp(name, "latency_ms") == 0) {
			if (json_uint(v, 600000, &next.latency_ms) != 0) {
				bad = name;
			}
		} else if (strcmp(name, "stall_ms") == 0) {
			if (json_uint(v, 600000, &next.stall_ms) != 0) {
				bad = name;
			}
		} else if (strcmp(name, "retry_after") == 0) {
			if (json_uint(v, 86400, &u) != 0) {
				bad = name;
			}
			next.retry_after = (unsigned)u;
		} else if (strcmp(name, "error_rate") == 0) {
			if (json_rate(v, &next.error_rate) != 0) {
				bad = name;
			}
		} else if (strcmp(name, "reset_rate") == 0) {
			if (json_rate(v, &next.reset_rate) != 0) {
				bad = name;
			}
		} else if (strcmp(name, "error_statuses") == 0) {
			if (json_status_list(v, next.error_statuses, &next.n_error_statuses,
			                     FA_MAX_ERR_STATUSES) != 0 ||
			    next.n_error_statuses == 0) {
				bad = name;
			}
		} else if (strcmp(name, "fail_next") == 0) {
			if (json_status_list(v, next.fail_next, &next.n_fail_next,
			                     FA_MAX_FAIL_NEXT) != 0) {
				bad = name;
			}
		} else if (strcmp(name, "seed") == 0) {
			if (json_uint(v, UINT64_MAX >> 1, &u) != 0) {
				bad = name;
			} else {
				cki_rng_seed(u);
			}
		} else if (strcmp(name, "delete_missing") == 0) {
			if ((c = json_choice(v, "404", "200")) < 0) {
				bad = name;
			}
			next.delete_missing = c == 1 ? FA_DELETE_200 : FA_DELETE_404;
		} else if (strcmp(name, "lock_contested") == 0) {
			if ((c = json_choice(v, "null", "409")) < 0) {
				bad = name;
			}
			next.lock_contested = c == 1 ? FA_LOCK_409 : FA_LOCK_NULL;
		} else if (strcmp(name, "unlock_wrong") == 0) {
			if ((c = json_choice(v, "200", "404")) < 0) {
				bad = name;
			}
			next.unlock_wrong = c == 1 ? FA_UNLOCK_404 : FA_UNLOCK_200;
		} else if (strcmp(name, "health_shape") == 0) {
			if ((c = json_choice_of(v, health_names, 3)) < 0) {
				bad = name;
			} else {
				next.health_shape = (enum fa_mode_health)c;
			}
		} else if (strcmp(name, "lock_routes") == 0) {
			if ((c = json_choice_of(v, lock_route_names, 4)) < 0) {
				bad = name;
			} else {
				next.lock_routes = lock_route_values[c];
			}
		} else if (strcmp(name, "retry_after_form") == 0) {
			if ((c = json_choice_of(v, retry_after_names, 2)) < 0) {
				bad = name;
			} else {
				next.retry_after_form = (enum fa_mode_retry_after)c;
			}
		} else if (strcmp(name, "ttl_zero") == 0) {
			if (!json_is_boolean(v)) {
				bad = name;
			} else {
				next.ttl_zero = json_is_true(v);
			}
		} else {
			snprintf(err, errlen, "unknown field: %s", name);
			goto out;
		}
		if (bad != NULL) {
			snprintf(err, errlen, "bad value for %s", bad);
			goto out;
		}
	}
	*f = next;
	rv = 0;
out:
	json_decref(root);
	return rv;
}

static json_t *
int_array(const int *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(a, json_integer(v[i]));
	}
	return a;
}

char *
cki_faults_to_json(const struct fa_faults *f)
{
	json_t *o = json_object();
	json_object_set_new(o, "latency_ms", json_integer((json_int_t)f->latency_ms));
	json_object_set_new(o, "stall_ms", json_integer((json_int_t)f->stall_ms));
	json_object_set_new(o, "error_rate", json_real(f->error_rate));
	json_object_set_new(o, "reset_rate", json_real(f->reset_rate));
	json_object_set_new(o, "retry_after", json_integer(f->retry_after));
	json_object_set_new(o, "error_statuses", int_array(f->error_statuses, f->n_error_statuses));
	json_object_set_new(o, "fail_next", int_array(f->fail_next, f->n_fail_next));
	json_object_set_new(o, "delete_missing",
	                    json_string(f->delete_missing == FA_DELETE_200 ? "200" : "404"));
	json_object_set_new(o, "lock_contested",
	                    json_string(f->lock_contested == FA_LOCK_409 ? "409" : "null"));
	json_object_set_new(o, "unlock_wrong",
	                    json_string(f->unlock_wrong == FA_UNLOCK_404 ? "404" : "200"));
	json_object_set_new(o, "health_shape", json_string(health_names[f->health_shape]));
	if (f->lock_routes == FA_LOCK_ROUTES_ON) {
		json_object_set_new(o, "lock_routes", json_string("on"));
	} else {
		char st[8];
		snprintf(st, sizeof(st), "%d", f->lock_routes);
		json_object_set_new(o, "lock_routes", json_string(st));
	}
	json_object_set_new(o, "retry_after_form",
	                    json_string(retry_after_names[f->retry_after_form]));
	json_object_set_new(o, "ttl_zero", json_boolean(f->ttl_zero));
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

int
cki_faults_pick(struct fa_faults *f)
{
	if (f->n_fail_next > 0) {
		int s = f->fail_next[0];
		memmove(f->fail_next, f->fail_next + 1, (f->n_fail_next - 1) * sizeof(int));
		f->n_fail_next--;
		return s;
	}
	if (f->reset_rate > 0 && rng_unit() < f->reset_rate) {
		return 0;
	}
	if (f->error_rate > 0 && rng_unit() < f->error_rate) {
		return f->error_statuses[cki_rng_next() % f->n_error_statuses];
	}
	return -1;
}
