/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder: being written. */
#include "cunit_main.h"
static CU_TestInfo tests[] = {CU_TEST_INFO_NULL};
CK_UNIT_SUITE("secmem", tests)
