/* SPDX-License-Identifier: Apache-2.0 */
/* ck_strerror() and ck_errname(), generated from CK_ERRNO_MAP; shared by agent and stub. */
#include "cachekit/errors.h"

const char *
ck_strerror(int err)
{
	switch (err) {
#define CK_ERR_STR_(name, num, msg) \
	case num:                   \
		return msg;
		CK_ERRNO_MAP(CK_ERR_STR_)
#undef CK_ERR_STR_
	}
	return "unknown error";
}

const char *
ck_errname(int err)
{
	switch (err) {
#define CK_ERR_NAME_(name, num, msg) \
	case num:                    \
		return "CK_" #name;
		CK_ERRNO_MAP(CK_ERR_NAME_)
#undef CK_ERR_NAME_
	}
	return 0;
}
