/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret memory and process hardening. Key material (master keys, derived keys, the API key)
 * lives in OpenSSL's secure heap: locked with mlock so it never reaches swap, excluded from
 * core dumps, and wiped on free. Secrets enter the process through cki_secret_load(), which
 * reads systemd credentials, owner-only files or the environment and scrubs the environment
 * copy. Nothing here logs secret bytes; error texts name sources, never contents.
 *
 * Thread-safety: cki_secmem_init() and cki_harden_process() are start-up calls (one thread);
 * the allocator itself is thread-safe (OpenSSL locks its secure heap).
 */
#ifndef CKI_SECMEM_H
#define CKI_SECMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cachekit/errors.h"

/* Largest secret accepted from any source (bytes, after trimming). A master key is 64 hex
 * characters; four of them plus commas fit easily. */
#define CKI_SECRET_MAX 4096

/*
 * Sets up the OpenSSL secure heap with heap_bytes (rounded up to a power of two; 0 means
 * "do not create one"). When the heap cannot be created or cannot be locked (RLIMIT_MEMLOCK),
 * logs a warning and carries on: allocations then come from the ordinary heap but are still
 * wiped on free. Returns CK_OK in both cases; CK_EINVAL for an absurd size. Call once, early.
 */
CK_NODISCARD ck_err cki_secmem_init(size_t heap_bytes);

/* Formats a reason into why (when why is not NULL). Shared by the secret loaders. */
void cki_set_why(char *why, size_t why_cap, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* True when the secure heap is in use (initialised and locked). */
bool cki_secmem_locked(void);

/* n zeroed bytes of secret memory (n == 0 allocates 1 byte); NULL on failure. */
void *cki_secmem_alloc(size_t n);

/* Wipes n bytes at p and frees them. Accepts NULL. n must be the size given to alloc. */
void cki_secmem_free(void *p, size_t n);

/* Makes the process non-dumpable (no ptrace by same uid, no /proc/pid/mem) and sets
 * RLIMIT_CORE to 0. Failures are logged and otherwise ignored. */
void cki_harden_process(void);

/* A secret read from outside: data points to len bytes in secret memory, followed by one NUL
 * byte (so hex text can be parsed in place). Free with cki_secret_free(). */
typedef struct cki_secret {
	uint8_t *data;
	size_t len;
} cki_secret;

/*
 * Loads one secret. Sources, first found wins:
 *   1. $CREDENTIALS_DIRECTORY/<credential_name> (systemd LoadCredential=), when both are set
 *      and the file exists;
 *   2. the file named by the environment variable <env_name>_FILE;
 *   3. the environment variable <env_name> itself (an empty value counts as unset).
 * Files must be regular files with no group or other permission bits (mode & 077 == 0) and
 * at most CKI_SECRET_MAX bytes; otherwise CK_ECONFIG. From a file, one trailing "\n" or "\r\n"
 * is removed (text files end with one); the environment value is taken exactly as set, so a
 * stray newline there reaches the consumer, which refuses it with a clear message.
 * Whatever source wins, a set <env_name> variable is overwritten with zeros in place and
 * unsetenv()'d, so no secret stays in the environment. Not thread-safe (touches environ).
 *
 * Returns CK_OK with *out set (caller frees with cki_secret_free), CK_ENOTFOUND when no source
 * holds the secret, CK_ECONFIG or CK_EIO for a refused or unreadable file, CK_ENOMEM.
 * why (may be NULL) receives a one-line reason on failure; it never contains the secret.
 */
CK_NODISCARD ck_err cki_secret_load(const char *env_name, const char *credential_name,
                                    cki_secret **out, char *why, size_t why_cap);

/* Builds a secret from bytes (copied into secret memory). NULL on allocation failure. */
cki_secret *cki_secret_from(const uint8_t *bytes, size_t n);

/* Wipes and frees; accepts NULL. */
void cki_secret_free(cki_secret *s);

/* Constant-time comparison (time depends on n only). false when a is NULL or the lengths
 * differ. */
bool cki_secret_equal(const cki_secret *a, const uint8_t *b, size_t n);

#endif
