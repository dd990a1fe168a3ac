/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret memory on OpenSSL's secure heap, process hardening, and loading secrets from
 * systemd credentials, owner-only files or the environment. Every buffer that ever held a
 * secret is wiped with OPENSSL_cleanse before it is released; error texts name the source of
 * a secret, never its bytes.
 */
#define _GNU_SOURCE
#include "crypto/secmem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/log.h"

/* Upper bound for the secure heap; the agent needs a few KiB. */
#define SECMEM_HEAP_MAX ((size_t)1 << 30)
/* Smallest secure-heap allocation unit (OpenSSL rounds every allocation up to it). */
#define SECMEM_MIN_UNIT 32
/* Longest environment variable name we build "<name>_FILE" from. */
#define ENV_NAME_MAX 128

static bool secmem_is_locked;

ck_err
cki_secmem_init(size_t heap_bytes)
{
	if (heap_bytes == 0)
		return CK_OK;
	if (heap_bytes > SECMEM_HEAP_MAX)
		return CK_EINVAL;
	if (CRYPTO_secure_malloc_initialized())
		return CK_OK;

	size_t size = SECMEM_MIN_UNIT * 2;
	while (size < heap_bytes)
		size <<= 1;

	switch (CRYPTO_secure_malloc_init(size, SECMEM_MIN_UNIT)) {
	case 1:
		secmem_is_locked = true;
		cki_log_debug("secure heap of %zu bytes locked in memory", size);
		break;
	case 2:
		cki_log_warn("secure heap created but mlock() was refused (raise RLIMIT_MEMLOCK "
		             "or LimitMEMLOCK=); secrets may reach swap");
		break;
	default:
		cki_log_warn("cannot create the secure heap (%zu bytes); secrets live in the "
		             "ordinary heap and are still wiped on free",
		             size);
		break;
	}
	return CK_OK;
}

bool
cki_secmem_locked(void)
{
	return secmem_is_locked;
}

void *
cki_secmem_alloc(size_t n)
{
	/* Falls back to the ordinary heap when the secure heap is absent or full. */
	return OPENSSL_secure_zalloc(n == 0 ? 1 : n);
}

void
cki_secmem_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	OPENSSL_secure_clear_free(p, n == 0 ? 1 : n);
}

void
cki_harden_process(void)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		cki_log_warn("prctl(PR_SET_DUMPABLE, 0) failed: %s", strerror(errno));
	struct rlimit none = {0, 0};
	if (setrlimit(RLIMIT_CORE, &none) != 0)
		cki_log_warn("cannot disable core files: %s", strerror(errno));
}

cki_secret *
cki_secret_from(const uint8_t *bytes, size_t n)
{
	if (n > CKI_SECRET_MAX)
		return NULL;
	cki_secret *s = cki_secmem_alloc(sizeof(*s));
	if (s == NULL)
		return NULL;
	s->data = cki_secmem_alloc(n + 1);
	if (s->data == NULL) {
		cki_secmem_free(s, sizeof(*s));
		return NULL;
	}
	if (n > 0)
		memcpy(s->data, bytes, n);
	s->len = n;
	return s;
}

void
cki_secret_free(cki_secret *s)
{
	if (s == NULL)
		return;
	cki_secmem_free(s->data, s->len + 1);
	cki_secmem_free(s, sizeof(*s));
}

bool
cki_secret_equal(const cki_secret *a, const uint8_t *b, size_t n)
{
	if (a == NULL || a->len != n)
		return false;
	if (n == 0)
		return true;
	return CRYPTO_memcmp(a->data, b, n) == 0;
}

void
cki_set_why(char *why, size_t why_cap, const char *fmt, ...)
{
	if (why == NULL || why_cap == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, why_cap, fmt, ap);
	va_end(ap);
}

/* Removes one trailing "\n" or "\r\n". */
static size_t
trim_newline(const uint8_t *buf, size_t n)
{
	if (n > 0 && buf[n - 1] == '\n') {
		n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
	}
	return n;
}

/*
 * Reads a secret file. A missing file is CK_ENOTFOUND when missing_ok (the credentials
 * directory need not hold every credential), CK_ECONFIG otherwise (the operator named it).
 * refused_mode: permission bits that make the file unacceptable. Files the operator names
 * must be private (077); systemd credentials only must not be world-readable (007), because
 * newer systemd grants the service user access through an ACL, which stat shows as group
 * bits on a file that nobody else can open.
 */
static ck_err
read_secret_file(const char *path, const char *label, bool missing_ok, mode_t refused_mode,
                 cki_secret **out, char *why, size_t why_cap)
{
	ck_err rv;
	int fd = -1;
	size_t cap = CKI_SECRET_MAX + 1;
	uint8_t *buf = NULL;
	size_t len = 0;
	struct stat st;

	/* O_NONBLOCK: a FIFO must not block the start-up before fstat() refuses it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT && missing_ok) {
			rv = CK_ENOTFOUND;
			goto out;
		}
		cki_set_why(why, why_cap, "%s: cannot open %s: %s", label, path, strerror(e));
		rv = e == ENOENT ? CK_ECONFIG : CK_EIO;
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		cki_set_why(why, why_cap, "%s: cannot stat %s: %s", label, path, strerror(errno));
		rv = CK_EIO;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		cki_set_why(why, why_cap, "%s: %s is not a regular file", label, path);
		rv = CK_ECONFIG;
		goto out;
	}
	if ((st.st_mode & refused_mode) != 0) {
		cki_set_why(why, why_cap,
		            "%s: %s is accessible by group or others (mode %04o); refusing it, "
		            "run chmod 600 on it",
		            label, path, (unsigned)(st.st_mode & 07777));
		rv = CK_ECONFIG;
		goto out;
	}
	if (st.st_size > CKI_SECRET_MAX) {
		cki_set_why(why, why_cap, "%s: %s is larger than %d bytes", label, path,
		            CKI_SECRET_MAX);
		rv = CK_ECONFIG;
		goto out;
	}
	buf = cki_secmem_alloc(cap);
	if (buf == NULL) {
		rv = CK_ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cki_set_why(why, why_cap, "%s: cannot read %s: %s", label, path,
			            strerror(errno));
			rv = CK_EIO;
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == cap)
			break;
	}
	if (len > CKI_SECRET_MAX) {
		cki_set_why(why, why_cap, "%s: %s is larger than %d bytes", label, path,
		            CKI_SECRET_MAX);
		rv = CK_ECONFIG;
		goto out;
	}
	*out = cki_secret_from(buf, trim_newline(buf, len));
	rv = *out == NULL ? CK_ENOMEM : CK_OK;
	if (rv == CK_OK)
		cki_log_debug("%s: loaded from %s", label, path);
out:
	cki_secmem_free(buf, cap);
	if (fd >= 0)
		close(fd);
	return rv;
}

/* Overwrites the variable's value in place (the memory /proc/<pid>/environ and later getenv
 * calls would show) and removes it from the environment. */
static void
scrub_env(const char *name)
{
	char *value = getenv(name);
	if (value == NULL)
		return;
	OPENSSL_cleanse(value, strlen(value));
	unsetenv(name);
}

ck_err
cki_secret_load(const char *env_name, const char *credential_name, cki_secret **out, char *why,
                size_t why_cap)
{
	ck_err rv = CK_ENOTFOUND;
	cki_secret *s = NULL;
	char path[PATH_MAX];
	char file_var[ENV_NAME_MAX + sizeof("_FILE")];

	if (env_name == NULL || out == NULL || strlen(env_name) > ENV_NAME_MAX)
		return CK_EINVAL;
	snprintf(file_var, sizeof(file_var), "%s_FILE", env_name);

	const char *cred_dir = getenv("CREDENTIALS_DIRECTORY");
	if (credential_name != NULL && cred_dir != NULL && cred_dir[0] != '\0') {
		if (credential_name[0] == '\0' || strchr(credential_name, '/') != NULL) {
			cki_set_why(why, why_cap, "invalid credential name");
			rv = CK_EINVAL;
			goto out;
		}
		int n = snprintf(path, sizeof(path), "%s/%s", cred_dir, credential_name);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			cki_set_why(why, why_cap, "CREDENTIALS_DIRECTORY path is too long");
			rv = CK_ECONFIG;
			goto out;
		}
		rv = read_secret_file(path, "systemd credential", true, 007, &s, why, why_cap);
		if (rv != CK_ENOTFOUND)
			goto out;
	}

	const char *file = getenv(file_var);
	if (file != NULL && file[0] != '\0') {
		rv = read_secret_file(file, file_var, false, 077, &s, why, why_cap);
		goto out;
	}

	const char *value = getenv(env_name);
	if (value != NULL && value[0] != '\0') {
		/* Taken exactly as set: a newline in a variable is a mistake the consumer
		 * refuses with a clear message (cachekit-py does), not something to mend. */
		size_t n = strlen(value);
		if (n > CKI_SECRET_MAX) {
			cki_set_why(why, why_cap, "%s is longer than %d bytes", env_name,
			            CKI_SECRET_MAX);
			rv = CK_ECONFIG;
			goto out;
		}
		s = cki_secret_from((const uint8_t *)value, n);
		rv = s == NULL ? CK_ENOMEM : CK_OK;
		if (rv == CK_OK)
			cki_log_debug("%s: loaded from the environment", env_name);
		goto out;
	}
	rv = CK_ENOTFOUND;

out:
	scrub_env(env_name);
	if (rv == CK_ENOTFOUND)
		cki_set_why(why, why_cap, "%s is not set (nor %s%s%s)", env_name, file_var,
		            credential_name ? ", nor credential " : "",
		            credential_name ? credential_name : "");
	if (rv == CK_OK) {
		cki_set_why(why, why_cap, "%s", "");
		*out = s;
		s = NULL;
	}
	cki_secret_free(s);
	return rv;
}
