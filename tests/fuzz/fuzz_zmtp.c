/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the C stub's own ZMTP connection (stubs/c/zmtp.c): the bytes an agent
 * (or whatever listens on its path) sends to a blocking call. Each input is that whole byte
 * stream. It goes to the connection through a real socketpair whose far end is then closed, so
 * the handshake, the frame reader, its buffer growth and the PING answer all run as in use;
 * every message the connection hands out must lie inside its buffer, and the stream must end
 * in an error (never a hang, since the closed end reads as EOF). The three pure decoders are
 * also run on the input directly, with their own invariants.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "os.h"
#include "zmtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_BODY (1u << 20) /* keeps the fuzzer's allocations small; the stub's is 65 MiB */

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_zmtp: %s\n", what);
	abort();
}

static void
check_decoders(const uint8_t *data, size_t size)
{
	cki_zmtp_frame f;
	char reason[64];
	cki_zmtp_parse p = cki_zmtp_parse_frame(data, size, MAX_BODY, &f);
	if (p == CKI_ZMTP_OK) {
		if (f.header_len != 2 && f.header_len != 9)
			fail("frame header length");
		if (f.header_len > size)
			fail("frame header past the input");
		if (f.body_len > MAX_BODY || (f.command && f.body_len > CKI_ZMTP_MAX_COMMAND))
			fail("frame body over its bound");
		if (f.command && f.more)
			fail("multi-frame command accepted");
	}
	memset(reason, 'z', sizeof(reason));
	if (cki_zmtp_parse_command(data, size, reason, sizeof(reason)) == CKI_ZMTP_CMD_ERROR &&
	    memchr(reason, '\0', sizeof(reason)) == NULL)
		fail("ERROR reason not terminated");
	(void)cki_zmtp_check_greeting(data, size);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];

	check_decoders(data, size);
	if (size > 200000 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
		return 0;
	int sndbuf = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	size_t sent = 0;
	while (sent < size) {
		ssize_t n = write(sv[1], data + sent, size - sent);
		if (n <= 0)
			break; /* the rest does not fit in the kernel's buffer: fuzz what did */
		sent += (size_t)n;
	}
	close(sv[1]);

	cki_zmtp z;
	char msg[256];
	cki_zmtp_init(&z);
	z.fd = sv[0];
	bool untouched;
	uint8_t *frame = cki_zmtp_stage(&z, 3);
	if (frame == NULL)
		fail("stage");
	memcpy(frame, "req", 3);
	z.hello_pending = true;
	/* The handshake reads the greeting and READY; the send itself then meets the closed end. */
	ck_err rv = cki_zmtp_send(&z, cki_stub_now_ms() + 10000, &untouched, msg, sizeof(msg));
	for (int i = 0; rv == CK_OK || (rv == CK_ECONNECT && z.ready && i == 0); i++) {
		const uint8_t *body;
		size_t len;
		bool multipart;
		rv = cki_zmtp_recv(&z, cki_stub_now_ms() + 10000, MAX_BODY, &body, &len, &multipart,
		                   msg, sizeof(msg));
		if (rv != CK_OK)
			break;
		if (multipart != (body == NULL))
			fail("multipart flag and body disagree");
		if (body != NULL && (body < z.in || body + len > z.in + z.in_len))
			fail("message outside the receive buffer");
		if (len > MAX_BODY)
			fail("message over the bound");
	}
	if (rv == CK_OK || rv == CK_ETIMEDOUT)
		fail("a closed stream did not end in an error");
	if (memchr(msg, '\0', sizeof(msg)) == NULL)
		fail("message not terminated");
	cki_zmtp_close(&z);
	return 0;
}
