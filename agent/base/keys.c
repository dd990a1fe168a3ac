/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cache keys beyond the rule itself (which is common/keys.c, shared with the C stub): the
 * namespace a storage key belongs to, and percent-encoding into a URL path segment.
 */
#include "base/keys.h"

#include <stdbool.h>
#include <string.h>

void
cki_key_namespace(const char *key, char *out, size_t cap)
{
	size_t plen = 0;
	if (strncmp(key, "ns:", 3) == 0)
		plen = 3;
	else if (strncmp(key, "nsapi:", 6) == 0)
		plen = 6;
	const char *colon = plen ? strchr(key + plen, ':') : NULL;
	const char *ns = "default";
	size_t len = 7;
	if (colon != NULL) {
		ns = key + plen;
		len = (size_t)(colon - ns);
	}
	if (cap == 0)
		return;
	if (len > cap - 1)
		len = cap - 1;
	memcpy(out, ns, len);
	out[len] = '\0';
}

size_t
cki_key_encode(const char *key, size_t len, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];
		bool raw = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
		if (raw) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return o;
}
