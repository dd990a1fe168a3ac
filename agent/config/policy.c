/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parsers and lookups for the typed policy (policy.h): id sets, namespace pattern sets,
 * rights lists and the [access.NAME] rules. Every parser reports each problem as one line on
 * err naming the setting and the bad item, and returns CK_ECONFIG.
 */
#include "config/policy.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "base/keys.h"

/* Calls item(ctx, text, len) for every non-empty, space-trimmed item of a comma list. */
static ck_err
each_item(const char *list, ck_err (*item)(void *ctx, const char *s, size_t len), void *ctx)
{
	const char *p = list ? list : "";
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *end = p;
		while (*end && *end != ',')
			end++;
		const char *tail = end;
		while (tail > p && (tail[-1] == ' ' || tail[-1] == '\t'))
			tail--;
		if (tail > p) {
			ck_err rv = item(ctx, p, (size_t)(tail - p));
			if (rv != CK_OK)
				return rv;
		}
		p = end;
	}
	return CK_OK;
}

/* What each list parser hands each_item: the setting's name and the stream its error lines go
 * to, and the value its items build (one union member per parser). */
typedef struct list_ctx {
	const char *what;
	FILE *err;
	union {
		cki_id_set *id_set; /* cki_id_set_parse */
		cki_ns_set *ns_set; /* cki_ns_set_parse */
		unsigned rights;    /* cki_rights_parse */
	};
	bool groups; /* id sets: names are group names, ids are gids */
} list_ctx;

/* ---- id sets ------------------------------------------------------------------------------ */

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static bool
lookup_name(const char *name, bool groups, uint32_t *out)
{
	if (groups) {
		struct group *g = getgrnam(name);
		if (g == NULL)
			return false;
		*out = (uint32_t)g->gr_gid;
		return true;
	}
	struct passwd *pw = getpwnam(name);
	if (pw == NULL)
		return false;
	*out = (uint32_t)pw->pw_uid;
	return true;
}

static ck_err
add_id(void *arg, const char *s, size_t len)
{
	list_ctx *c = arg;
	char text[64];
	if (len >= sizeof(text)) {
		fprintf(c->err, "cachekit-agent: %s: \"%.*s...\" is not a %s\n", c->what, 20, s,
		        c->groups ? "gid" : "uid");
		return CK_ECONFIG;
	}
	memcpy(text, s, len);
	text[len] = '\0';
	uint32_t id;
	if (text[0] >= '0' && text[0] <= '9') {
		char *end;
		errno = 0;
		unsigned long v = strtoul(text, &end, 10);
		if (errno != 0 || *end != '\0' || v >= UINT32_MAX) {
			fprintf(c->err, "cachekit-agent: %s: \"%s\" is not a %s\n", c->what, text,
			        c->groups ? "gid" : "uid");
			return CK_ECONFIG;
		}
		id = (uint32_t)v;
	} else if (!lookup_name(text, c->groups, &id)) {
		fprintf(c->err, "cachekit-agent: %s: \"%s\" is not a %s or a known %s name\n",
		        c->what, text, c->groups ? "gid" : "uid", c->groups ? "group" : "user");
		return CK_ECONFIG;
	}
	if (cki_id_set_has(c->id_set, id))
		return CK_OK;
	if (c->id_set->n == CKI_POLICY_MAX_IDS) {
		fprintf(c->err, "cachekit-agent: %s: more than %d ids\n", c->what,
		        CKI_POLICY_MAX_IDS);
		return CK_ECONFIG;
	}
	uint32_t *ids = realloc(c->id_set->ids, (c->id_set->n + 1) * sizeof(*ids));
	if (ids == NULL)
		return CK_ENOMEM;
	ids[c->id_set->n++] = id;
	c->id_set->ids = ids;
	qsort(ids, c->id_set->n, sizeof(*ids), cmp_u32);
	return CK_OK;
}

ck_err
cki_id_set_parse(cki_id_set *out, const char *list, const char *what, bool groups, FILE *err)
{
	list_ctx c = {.what = what, .err = err, .id_set = out, .groups = groups};
	ck_err rv = each_item(list, add_id, &c);
	if (rv != CK_OK)
		cki_id_set_free(out);
	return rv;
}

bool
cki_id_set_has(const cki_id_set *s, uint32_t id)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->ids[mid] == id)
			return true;
		if (s->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

void
cki_id_set_free(cki_id_set *s)
{
	free(s->ids);
	s->ids = NULL;
	s->n = 0;
}

/* ---- namespace sets ----------------------------------------------------------------------- */

static ck_err
add_pattern(void *arg, const char *s, size_t len)
{
	list_ctx *c = arg;
	size_t stem = len > 0 && s[len - 1] == '*' ? len - 1 : len;
	if ((stem > 0 && cki_namespace_validate(s, stem) != CK_OK) || len > CKI_NAMESPACE_MAX) {
		fprintf(c->err,
		        "cachekit-agent: %s: \"%.*s\" is not a namespace (1-64 characters of "
		        "[A-Za-z0-9_-], optionally ending in *)\n",
		        c->what, (int)(len > 80 ? 80 : len), s);
		return CK_ECONFIG;
	}
	if (c->ns_set->n == CKI_POLICY_MAX_PATTERNS) {
		fprintf(c->err, "cachekit-agent: %s: more than %d namespaces\n", c->what,
		        CKI_POLICY_MAX_PATTERNS);
		return CK_ECONFIG;
	}
	char **p = realloc(c->ns_set->patterns, (c->ns_set->n + 1) * sizeof(*p));
	if (p == NULL)
		return CK_ENOMEM;
	c->ns_set->patterns = p;
	if ((p[c->ns_set->n] = strndup(s, len)) == NULL)
		return CK_ENOMEM;
	c->ns_set->n++;
	return CK_OK;
}

ck_err
cki_ns_set_parse(cki_ns_set *out, const char *list, const char *what, FILE *err)
{
	list_ctx c = {.what = what, .err = err, .ns_set = out};
	ck_err rv = each_item(list, add_pattern, &c);
	if (rv != CK_OK)
		cki_ns_set_free(out);
	return rv;
}

bool
cki_ns_set_match(const cki_ns_set *s, const char *ns)
{
	if (ns == NULL)
		return false;
	for (size_t i = 0; i < s->n; i++) {
		const char *p = s->patterns[i];
		size_t len = strlen(p);
		if (len > 0 && p[len - 1] == '*') {
			if (strncmp(ns, p, len - 1) == 0)
				return true;
		} else if (strcmp(ns, p) == 0) {
			return true;
		}
	}
	return false;
}

void
cki_ns_set_free(cki_ns_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->patterns[i]);
	free(s->patterns);
	s->patterns = NULL;
	s->n = 0;
}

/* ---- rights ------------------------------------------------------------------------------- */

static const struct {
	const char *name;
	unsigned bits;
} right_names[] = {
        {"read", CKI_RIGHT_READ}, {"write", CKI_RIGHT_WRITE},   {"delete", CKI_RIGHT_DELETE},
        {"lock", CKI_RIGHT_LOCK}, {"secure", CKI_RIGHT_SECURE}, {"all", CKI_RIGHT_ALL},
};
#define NRIGHTS (sizeof(right_names) / sizeof(right_names[0]))

static ck_err
add_right(void *arg, const char *s, size_t len)
{
	list_ctx *c = arg;
	for (size_t i = 0; i < NRIGHTS; i++)
		if (strlen(right_names[i].name) == len &&
		    strncmp(right_names[i].name, s, len) == 0) {
			c->rights |= right_names[i].bits;
			return CK_OK;
		}
	fprintf(c->err,
	        "cachekit-agent: %s: unknown right \"%.*s\" (read, write, delete, lock, secure, "
	        "all)\n",
	        c->what, (int)(len > 40 ? 40 : len), s);
	return CK_ECONFIG;
}

ck_err
cki_rights_parse(const char *list, unsigned *out, const char *what, FILE *err)
{
	list_ctx c = {.what = what, .err = err, .rights = 0};
	ck_err rv = each_item(list, add_right, &c);
	if (rv == CK_OK)
		*out = c.rights;
	return rv;
}

const char *
cki_rights_name(unsigned rights, char *buf, size_t cap)
{
	size_t used = 0;
	if (cap == 0)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; i + 1 < NRIGHTS; i++) { /* not "all" */
		if (!(rights & right_names[i].bits))
			continue;
		int n = snprintf(buf + used, cap - used, "%s%s", used ? "," : "",
		                 right_names[i].name);
		if (n < 0 || (size_t)n >= cap - used)
			break;
		used += (size_t)n;
	}
	return buf;
}

/* ---- access rules ------------------------------------------------------------------------- */

static cki_access_rule *
find_or_add_rule(cki_access *a, const char *name)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->rules[i].name, name) == 0)
			return &a->rules[i];
	if (a->n == CKI_POLICY_MAX_RULES)
		return NULL;
	cki_access_rule *r = realloc(a->rules, (a->n + 1) * sizeof(*r));
	if (r == NULL)
		return NULL;
	a->rules = r;
	memset(&r[a->n], 0, sizeof(r[a->n]));
	if ((r[a->n].name = strdup(name)) == NULL)
		return NULL;
	return &r[a->n++];
}

ck_err
cki_access_add(cki_access **ap, const char *rule_name, const char *key, const char *value,
               const char *where, FILE *err)
{
	if (*ap == NULL) {
		static uint64_t serials; /* config loads run on one thread */
		if ((*ap = calloc(1, sizeof(**ap))) == NULL)
			return CK_ENOMEM;
		(*ap)->serial = ++serials;
	}
	if (rule_name[0] == '\0') {
		fprintf(err, "cachekit-agent: %s: an access section needs a name: [access.NAME]\n",
		        where);
		return CK_ECONFIG;
	}
	bool full = (*ap)->n == CKI_POLICY_MAX_RULES;
	cki_access_rule *r = find_or_add_rule(*ap, rule_name);
	if (r == NULL && full) {
		fprintf(err, "cachekit-agent: %s: too many access sections (most %d)\n", where,
		        CKI_POLICY_MAX_RULES);
		return CK_ECONFIG;
	}
	if (r == NULL)
		return CK_ENOMEM;
	char what[512];
	snprintf(what, sizeof(what), "%s %s", where, key);
	if (strcmp(key, "uid") == 0 || strcmp(key, "uids") == 0 || strcmp(key, "user") == 0)
		return cki_id_set_parse(&r->uids, value, what, false, err);
	if (strcmp(key, "gid") == 0 || strcmp(key, "gids") == 0 || strcmp(key, "group") == 0)
		return cki_id_set_parse(&r->gids, value, what, true, err);
	if (strcmp(key, "namespaces") == 0 || strcmp(key, "namespace") == 0)
		return cki_ns_set_parse(&r->namespaces, value, what, err);
	if (strcmp(key, "allow") == 0) {
		unsigned bits = 0;
		ck_err rv = cki_rights_parse(value, &bits, what, err);
		r->rights |= bits;
		return rv;
	}
	fprintf(err,
	        "cachekit-agent: %s: unknown access setting \"%s\" (uid, gid, namespaces, "
	        "allow)\n",
	        where, key);
	return CK_ECONFIG;
}

ck_err
cki_access_validate(const cki_access *a, FILE *err)
{
	ck_err rv = CK_OK;
	for (size_t i = 0; a != NULL && i < a->n; i++) {
		const cki_access_rule *r = &a->rules[i];
		const char *missing = r->uids.n == 0 && r->gids.n == 0 ? "uid or gid"
		                      : r->namespaces.n == 0           ? "namespaces"
		                      : r->rights == 0                 ? "allow"
		                                                       : NULL;
		if (missing != NULL) {
			fprintf(err, "cachekit-agent: [access.%s] needs %s\n", r->name, missing);
			rv = CK_ECONFIG;
		}
	}
	return rv;
}

void
cki_access_free(cki_access *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n; i++) {
		free(a->rules[i].name);
		cki_id_set_free(&a->rules[i].uids);
		cki_id_set_free(&a->rules[i].gids);
		cki_ns_set_free(&a->rules[i].namespaces);
	}
	free(a->rules);
	free(a);
}

void
cki_policy_free_sets(cki_policy *p)
{
	cki_id_set_free(&p->allow_uids);
	cki_id_set_free(&p->allow_gids);
	cki_ns_set_free(&p->secure_ns);
	cki_ns_set_free(&p->envelope_ns);
	cki_ns_set_free(&p->sliding_ns);
	cki_ns_set_free(&p->stale_off_ns);
}

void
cki_policy_free(cki_policy *p)
{
	if (p == NULL)
		return;
	cki_policy_free_sets(p);
	cki_access_free(p->access);
	p->access = NULL;
}
