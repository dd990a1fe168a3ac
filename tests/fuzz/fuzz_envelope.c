/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the ByteStorage envelope decoder (agent/crypto/envelope.c) and the two
 * stored-value checks beside it: the MessagePack decode bounds (mpbounds.c) and the CK frame
 * recognition (ckframe.c). Arbitrary bytes must yield CK_OK or CK_EPROTO, never a crash, a
 * leak or an over-allocation; whatever decodes must survive an encode/decode round trip
 * unchanged; an accepted MessagePack document lies within the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "crypto/ckframe.h"
#include "crypto/envelope.h"
#include "crypto/mpbounds.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	cki_log_set_level(CKI_LOG_ERROR);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *plain = NULL, *env = NULL, *back = NULL;
	size_t plain_len = 0, env_len = 0, back_len = 0;
	char format[CKI_ENVELOPE_FORMAT_MAX + 1];
	size_t used = 0;

	if (data != NULL && cki_mp_check_bounds(data, size, &used, NULL) == CK_OK &&
	    (used == 0 || used > size))
		abort();
	(void)cki_ckframe_classify(data, size);

	ck_err rv = cki_envelope_decode_ex(data, size, &plain, &plain_len, format, sizeof(format));
	if (rv == CK_EPROTO)
		return 0;
	if (rv != CK_OK || strlen(format) > CKI_ENVELOPE_FORMAT_MAX)
		abort();
	/* A decoded envelope respects the ratio bound against its own input size. */
	if (plain_len > (size_t)CKI_ENVELOPE_MAX_RATIO * size)
		abort();
	if (cki_envelope_encode(plain, plain_len, &env, &env_len) != CK_OK)
		abort();
	if (cki_envelope_decode(env, env_len, &back, &back_len) != CK_OK || back_len != plain_len ||
	    memcmp(back, plain, plain_len) != 0)
		abort();
	free(back);
	free(env);
	free(plain);
	return 0;
}
