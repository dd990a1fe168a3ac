/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ck-fakeapi TLS and raw I/O: the server SSL_CTX (certificate, key, TLS >= 1.2, ALPN choosing
 * "h2" over "http/1.1"), the non-blocking handshake step, and read/write wrappers that hide
 * whether a connection is TLS (API listener) or plain TCP (control listener).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "fakeapi.h"

static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
            unsigned int inlen, void *arg)
{
	static const unsigned char h2[] = "h2";
	static const unsigned char h1[] = "http/1.1";
	int have_h1 = 0;
	for (unsigned int i = 0; i < inlen;) {
		unsigned int n = in[i];
		if (i + 1 + n > inlen) {
			break;
		}
		if (n == 2 && memcmp(in + i + 1, h2, 2) == 0) {
			*out = in + i + 1;
			*outlen = 2;
			return SSL_TLSEXT_ERR_OK;
		}
		if (n == 8 && memcmp(in + i + 1, h1, 8) == 0) {
			have_h1 = 1;
			*out = in + i + 1;
			*outlen = 8;
		}
		i += 1 + n;
	}
	return have_h1 ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_NOACK;
}

SSL_CTX *
cki_tls_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		char msg[256];
		ERR_error_string_n(ERR_get_error(), msg, sizeof(msg));
		cki_log("cannot load certificate/key: %s", msg);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	return ctx;
}

int
cki_tls_handshake(struct fa_conn *c)
{
	ERR_clear_error();
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		return 1;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		c->hs_want_write = e == SSL_ERROR_WANT_WRITE;
		return 0;
	}
	return -1;
}

long
cki_io_read(struct fa_conn *c, void *buf, size_t n)
{
	if (c->ssl == NULL) {
		ssize_t r = recv(c->fd, buf, n, 0);
		if (r > 0) {
			return (long)r;
		}
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			return 0;
		}
		return -1;
	}
	ERR_clear_error();
	int r = SSL_read(c->ssl, buf, n > 1 << 30 ? 1 << 30 : (int)n);
	if (r > 0) {
		return r;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		return 0;
	}
	return -1;
}

long
cki_io_write(struct fa_conn *c, const void *buf, size_t n)
{
	if (c->ssl == NULL) {
		ssize_t r = send(c->fd, buf, n, MSG_NOSIGNAL);
		if (r >= 0) {
			return (long)r;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			return 0;
		}
		return -1;
	}
	/* After WANT_WRITE OpenSSL wants the same length again; `out` only grows at its end,
	 * so the first write_len bytes are unchanged. */
	if (c->write_len != 0 && c->write_len <= n) {
		n = c->write_len;
	} else if (n > 16384) {
		n = 16384;
	}
	ERR_clear_error();
	int r = SSL_write(c->ssl, buf, (int)n);
	if (r > 0) {
		c->write_len = 0;
		return r;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
		c->write_len = n;
		return 0;
	}
	return -1;
}
