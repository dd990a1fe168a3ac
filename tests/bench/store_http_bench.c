/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's cachekit.io store measured alone: sequential Gets through store_http on the
 * agent's own reactor, in one process, no ZeroMQ. Beside `agent-get` (the same work behind
 * the stub round trip) and `curl-direct-get` (a libcurl easy handle) it shows where the time of
 * the agent path goes. Prints one row of ck-bench's table.
 * Usage: ck-bench-store-http URL CA_FILE RESOLVE OPS   (API key from CK_BENCH_API_KEY)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/loop.h"
#include "store/http/store_http.h"

typedef struct run {
	cki_loop *loop;
	cki_store *store;
	uint32_t *lat_us;
	int n, ops, failures;
	uint64_t t0;
} run;

static void next_get(run *r);

static void
on_get(void *arg, const cki_store_reply *rep)
{
	run *r = arg;
	r->lat_us[r->n++] = (uint32_t)(cki_now_us() - r->t0);
	if (rep->err != CK_OK || !rep->found)
		r->failures++;
	if (r->n == r->ops)
		cki_loop_stop(r->loop);
	else
		next_get(r);
}

static void
next_get(run *r)
{
	r->t0 = cki_now_us();
	r->store->ops->get(r->store, "bench:v64", cki_now_ms() + 5000, on_get, r);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	const char *key = getenv("CK_BENCH_API_KEY");
	if (argc != 5 || key == NULL) {
		fprintf(stderr,
		        "usage: CK_BENCH_API_KEY=K ck-bench-store-http URL CA RESOLVE OPS\n");
		return 2;
	}
	run r = {.ops = atoi(argv[4])};
	char why[256] = "";
	cki_http_opts o = {.url = argv[1],
	                   .ca_file = argv[2],
	                   .resolve = argv[3],
	                   .api_key = (const uint8_t *)key,
	                   .api_key_len = strlen(key)};
	if (r.ops < 1 || cki_loop_new(&r.loop) != CK_OK ||
	    cki_store_http_new(&r.store, r.loop, &o, why, sizeof(why)) != CK_OK) {
		fprintf(stderr, "ck-bench-store-http: %s\n", why);
		return 1;
	}
	r.lat_us = calloc((size_t)r.ops, sizeof(*r.lat_us));
	uint64_t start = cki_now_us();
	next_get(&r);
	if (cki_loop_run(r.loop) != CK_OK || r.failures) {
		fprintf(stderr, "ck-bench-store-http: %d Gets failed\n", r.failures);
		return 1;
	}
	double secs = (double)(cki_now_us() - start) / 1e6;
	qsort(r.lat_us, (size_t)r.n, sizeof(*r.lat_us), cmp_u32);
	printf("| store_http in-process | 64 B | 1 | %.0f | %.1f | %.1f | %.1f |\n", r.n / secs,
	       (double)r.lat_us[r.n / 2], (double)r.lat_us[(size_t)(r.n * 0.99)],
	       (double)r.lat_us[r.n - 1]);
	r.store->ops->destroy(r.store);
	cki_loop_free(r.loop);
	free(r.lat_us);
	return 0;
}
