/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The optional L1 metrics headers of spec §2.5 (X-CacheKit-L1-Hits, -L2-Hits, -Misses,
 * -L1-Hit-Rate) that the HTTP store adds to every request while near-cache figures exist:
 * L1 hits are the agent's near-cache hits plus the hits stubs reported for their own near
 * caches; L2 hits and misses are the upstream Gets that found, or did not find, a value.
 * The hit rate is l1 / (l1 + l2 + misses) (cachekit-ts and -rs; docs/compatibility.md says
 * why not cachekit-py's l1 / (l1 + l2)). Loop thread only, like the metrics table it reads.
 */
#ifndef CKI_L1_HEADERS_H
#define CKI_L1_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CKI_L1_HEADER_LINES 4
#define CKI_L1_HEADER_CAP   64 /* bytes per line, NUL included */

typedef char cki_l1_header_lines[CKI_L1_HEADER_LINES][CKI_L1_HEADER_CAP];

/* Formats the four header lines for these totals. The rate has exactly 3 decimals,
 * "0.000".."1.000", rounded half up; "0.000" when all three totals are 0. */
void cki_l1_headers_format(cki_l1_header_lines lines, uint64_t l1_hits, uint64_t l2_hits,
                           uint64_t misses);

/* Fills lines from the agent's counters and returns CKI_L1_HEADER_LINES, or returns 0 (lines
 * untouched) when no near-cache figures exist: the agent's L1 is off (agent_l1 false) and no
 * stub has reported its near cache. */
size_t cki_l1_headers_current(cki_l1_header_lines lines, bool agent_l1);

/* Counts one upstream Get that found (or did not find) a value. */
void cki_l1_headers_count_get(bool found);

#endif
