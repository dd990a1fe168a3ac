/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What config.c (the sources: file, environment, flags, --help, validation) and settings.c
 * (the settings table and typed access to a cki_config through it) share: the row type, the
 * one table, the lookup by name and the typed setter. Nothing outside config/ includes it.
 */
#ifndef CKI_CONFIG_INTERNAL_H
#define CKI_CONFIG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"

typedef enum opt_type { T_STR, T_BOOL, T_U32, T_U64, T_SECONDS_MS, T_OCTAL } opt_type;

typedef struct opt_row {
	const char *name; /* INI key and --flag */
	const char *env;  /* CACHEKIT_* variable, or NULL */
	opt_type type;
	size_t offset;
	const char *def; /* default as text, or NULL */
	uint64_t max;    /* for integers: inclusive upper bound (0 = none) */
	const char *help;
} opt_row;

/* The settings table: one row per setting, in --help order. */
extern const opt_row cki_config_rows[];
extern const size_t cki_config_nrows;

/* The row named name (INI files may spell '-' as '_'); NULL when there is none. */
const opt_row *cki_config_find_row(const char *name);

/* Parses value for row into cfg; on a bad value writes one line naming source to err and
 * returns CK_ECONFIG. */
CK_NODISCARD ck_err cki_config_set_value(cki_config *cfg, const opt_row *row, const char *value,
                                         const char *source, FILE *err);

#endif
