/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stub's near cache (see near.h): a chained hash table of copies keyed by a per-process
 * SipHash-128 of the lookup material, an LRU list for the byte bound, and the agent's version
 * table mapped read-only. Mapping happens on the miss path (the first Get reply that names an
 * epoch), and again whenever a reply names an epoch the mapped table does not show (a new
 * agent that had to replace the file).
 */
#include "near.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "near_report.h"
#include "nearver_layout.h"
#include "os.h"
#include "siphash.h"
#include "stub_internal.h"

#define DEFAULT_MAX_MS 60000u
#define MIN_BUCKETS    64u

typedef struct entry {
	uint64_t h[2];
	uint64_t epoch, version;
	uint64_t slot_hash;
	int64_t expires_ns; /* CLOCK_MONOTONIC */
	struct entry *chain;
	struct entry *prev, *next; /* LRU: head.next is the most recent */
	size_t len;
	uint8_t data[]; /* len bytes and a NUL */
} entry;

struct cki_near {
	size_t max_bytes, bytes;
	int64_t max_ns;
	entry **buckets;
	size_t nbuckets, count;
	entry lru;
	uint8_t sipkey[16];
	unsigned fork_gen;
	char *ver_path; /* NULL: not an ipc endpoint, nothing is ever kept */
	const cki_nearver_header *hdr;
	const uint64_t *slots;
	uint64_t mask;
	size_t map_len;
	ck_near_stats st;
	cki_near_report rep;
};

/* ---- table ------------------------------------------------------------------------------ */

static void
lru_unlink(entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void
lru_push_front(cki_near *n, entry *e)
{
	e->next = n->lru.next;
	e->prev = &n->lru;
	n->lru.next->prev = e;
	n->lru.next = e;
}

static size_t
entry_cost(size_t len)
{
	return sizeof(entry) + len + 1;
}

static entry **
find_link(cki_near *n, const uint64_t h[2])
{
	entry **link = &n->buckets[h[0] & (n->nbuckets - 1)];
	while (*link != NULL && ((*link)->h[0] != h[0] || (*link)->h[1] != h[1]))
		link = &(*link)->chain;
	return link;
}

static void
drop(cki_near *n, entry *e)
{
	entry **link = find_link(n, e->h);
	if (*link == e)
		*link = e->chain;
	lru_unlink(e);
	n->bytes -= entry_cost(e->len);
	n->count--;
	free(e);
}

static void
clear_all(cki_near *n)
{
	while (n->lru.next != &n->lru)
		drop(n, n->lru.next);
}

static void
grow(cki_near *n)
{
	size_t nb = n->nbuckets * 2;
	entry **b = calloc(nb, sizeof(*b));
	if (b == NULL)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < n->nbuckets; i++) {
		entry *e = n->buckets[i];
		while (e != NULL) {
			entry *next = e->chain;
			e->chain = b[e->h[0] & (nb - 1)];
			b[e->h[0] & (nb - 1)] = e;
			e = next;
		}
	}
	free(n->buckets);
	n->buckets = b;
	n->nbuckets = nb;
}

/* After fork(): forget the parent's copies and hash key; the mapping stays valid. */
static void
check_fork(cki_near *n)
{
	unsigned gen = cki_stub_fork_generation();
	if (gen == n->fork_gen)
		return;
	n->fork_gen = gen;
	clear_all(n);
	memset(&n->st, 0, sizeof(n->st));
	memset(&n->rep, 0, sizeof(n->rep));
	cki_stub_random_bytes(n->sipkey, sizeof(n->sipkey));
}

/* ---- the version table ------------------------------------------------------------------ */

static void
unmap_table(cki_near *n)
{
	if (n->hdr != NULL)
		munmap((void *)n->hdr, n->map_len);
	n->hdr = NULL;
	n->slots = NULL;
}

/* Maps the table read-only when it shows `epoch`; false otherwise (nothing is kept then). */
static bool
map_table(cki_near *n, uint64_t epoch)
{
	struct stat st;
	void *p;
	int fd;

	if (n->hdr != NULL && __atomic_load_n(&n->hdr->epoch, __ATOMIC_ACQUIRE) == epoch)
		return true;
	unmap_table(n);
	if (n->ver_path == NULL || (fd = open(n->ver_path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	p = MAP_FAILED;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (size_t)st.st_size >= sizeof(cki_nearver_header))
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return false;
	const cki_nearver_header *h = p;
	uint64_t slots = h->nslots;
	if (h->magic != CKI_NEARVER_MAGIC || slots == 0 || (slots & (slots - 1)) != 0 ||
	    slots > (1u << 28) || cki_nearver_size(slots) != (size_t)st.st_size) {
		munmap(p, (size_t)st.st_size);
		return false;
	}
	n->hdr = h;
	n->slots = (const uint64_t *)((const uint8_t *)p + CKI_NEARVER_HEADER);
	n->mask = slots - 1;
	n->map_len = (size_t)st.st_size;
	return __atomic_load_n(&h->epoch, __ATOMIC_ACQUIRE) == epoch;
}

static bool
still_valid(const cki_near *n, const entry *e)
{
	return __atomic_load_n(&n->hdr->epoch, __ATOMIC_ACQUIRE) == e->epoch &&
	       __atomic_load_n(&n->slots[e->slot_hash & n->mask], __ATOMIC_ACQUIRE) == e->version;
}

/* ---- API -------------------------------------------------------------------------------- */

ck_err
cki_near_new(cki_near **out, const char *endpoint, size_t max_bytes, uint32_t max_ms)
{
	cki_near *n;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return CK_ENOMEM;
	n->nbuckets = MIN_BUCKETS;
	if ((n->buckets = calloc(n->nbuckets, sizeof(*n->buckets))) == NULL) {
		free(n);
		return CK_ENOMEM;
	}
	if (strncmp(endpoint, "ipc://", 6) == 0) {
		size_t len = strlen(endpoint + 6) + sizeof(CKI_NEARVER_SUFFIX);
		if ((n->ver_path = malloc(len)) == NULL) {
			cki_near_free(n);
			return CK_ENOMEM;
		}
		snprintf(n->ver_path, len, "%s%s", endpoint + 6, CKI_NEARVER_SUFFIX);
	}
	n->max_bytes = max_bytes;
	n->max_ns = (int64_t)(max_ms ? max_ms : DEFAULT_MAX_MS) * 1000000;
	n->lru.next = n->lru.prev = &n->lru;
	n->fork_gen = cki_stub_fork_generation();
	cki_stub_random_bytes(n->sipkey, sizeof(n->sipkey));
	*out = n;
	return CK_OK;
}

void
cki_near_free(cki_near *n)
{
	if (n == NULL)
		return;
	clear_all(n);
	unmap_table(n);
	free(n->buckets);
	free(n->ver_path);
	explicit_bzero(n->sipkey, sizeof(n->sipkey));
	free(n);
}

void
cki_near_key_of(cki_near *n, const char *ns, const char *key, bool secure, const char *format,
                cki_near_key *k)
{
	/* Lookup material: one byte of intent, format, NUL, then the storage key. Format and key
	 * are bounded by the caller's checks (CKI_STUB_MAX_KEY, CKI_STUB_MAX_NS). */
	uint8_t buf[1 + CKI_STUB_MAX_KEY + 1 + 4 + CKI_STUB_MAX_NS + CKI_STUB_MAX_KEY];
	size_t fl = format ? strlen(format) : 0, nl = ns ? strlen(ns) : 0, kl = strlen(key);
	size_t off = 0;
	uint64_t sh = CKI_NEARVER_HASH_INIT;

	check_fork(n);
	buf[off++] = secure ? 1 : 0;
	memcpy(buf + off, format ? format : "", fl);
	off += fl;
	buf[off++] = 0;
	size_t storage = off;
	if (nl > 0) {
		memcpy(buf + off, "ns:", 3);
		memcpy(buf + off + 3, ns, nl);
		buf[off + 3 + nl] = ':';
		off += 4 + nl;
	}
	memcpy(buf + off, key, kl);
	off += kl;
	sh = cki_nearver_hash_update(sh, buf + storage, off - storage);
	k->slot_hash = cki_nearver_hash_final(sh);
	cki_siphash128(n->sipkey, buf, off, k->h);
}

bool
cki_near_get(cki_near *n, const cki_near_key *k, ck_value **out)
{
	entry **link, *e;
	ck_value *v;

	check_fork(n);
	link = find_link(n, k->h);
	e = *link;
	if (e == NULL) {
		n->st.misses++;
		return false;
	}
	int64_t left =
	        e->expires_ns - cki_stub_now_ns(); /* vDSO: a hit stays free of system calls */
	if (left <= 0 || n->hdr == NULL || !still_valid(n, e)) {
		if (left <= 0)
			n->st.expirations++;
		else
			n->st.invalidations++;
		drop(n, e);
		n->st.misses++;
		return false;
	}
	if ((v = malloc(sizeof(*v))) == NULL || (v->data = malloc(e->len + 1)) == NULL) {
		free(v);
		n->st.misses++;
		return false;
	}
	memcpy(v->data, e->data, e->len + 1);
	v->len = e->len;
	v->freshness = CK_FRESHNESS_FRESH;
	v->fresh_for_ms = left / 1000000;
	v->refresh_due = false;
	lru_unlink(e);
	lru_push_front(n, e);
	n->st.hits++;
	*out = v;
	return true;
}

void
cki_near_put(cki_near *n, const cki_near_key *k, const ck_value *v, uint64_t epoch,
             uint64_t version)
{
	int64_t life = n->max_ns;
	entry **link, *e;

	check_fork(n);
	if (epoch == 0 || v->freshness == CK_FRESHNESS_STALE || v->refresh_due ||
	    v->fresh_for_ms == 0 || entry_cost(v->len) > n->max_bytes / 4)
		return;
	if (v->fresh_for_ms > 0 && v->fresh_for_ms < life / 1000000)
		life = v->fresh_for_ms * 1000000;
	if (!map_table(n, epoch))
		return;
	link = find_link(n, k->h);
	if (*link != NULL)
		drop(n, *link);
	if ((e = malloc(entry_cost(v->len))) == NULL)
		return;
	memcpy(e->h, k->h, sizeof(e->h));
	e->epoch = epoch;
	e->version = version;
	e->slot_hash = k->slot_hash;
	e->expires_ns = cki_stub_now_ns() + life;
	e->len = v->len;
	memcpy(e->data, v->data, v->len);
	e->data[v->len] = '\0';
	while (n->bytes + entry_cost(v->len) > n->max_bytes && n->lru.prev != &n->lru) {
		drop(n, n->lru.prev);
		n->st.evictions++;
	}
	if (n->count >= n->nbuckets)
		grow(n);
	link = &n->buckets[e->h[0] & (n->nbuckets - 1)];
	e->chain = *link;
	*link = e;
	lru_push_front(n, e);
	n->bytes += entry_cost(v->len);
	n->count++;
}

void
cki_near_stats(cki_near *n, ck_near_stats *out)
{
	check_fork(n);
	*out = n->st;
	out->entries = n->count;
	out->bytes = n->bytes;
}

bool
cki_near_report_due(cki_near *n, Cachekit__Agent__V1__NearStats *out)
{
	check_fork(n);
	return cki_near_report_take(&n->rep, &n->st, cki_stub_now_ns(), out);
}
