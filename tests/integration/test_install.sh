#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `cmake --install` produces a usable tree: the daemon and the CLI run, and a program builds
# against libcachekit-stub both through pkg-config and through find_package(cachekit-stub).
# Usage: test_install.sh BUILD_DIR   (CK_CONSUMER_FLAGS: extra compiler flags, e.g. sanitizers)
set -eu
BUILD=$1
FLAGS=${CK_CONSUMER_FLAGS:-}
T=$(mktemp -d "${TMPDIR:-/tmp}/ck-install.XXXXXX")
trap 'rm -rf "$T"' EXIT
P=$T/prefix

cmake --install "$BUILD" --prefix "$P" >/dev/null
"$P/bin/cachekit-agent" --version | grep -q '^cachekit-agent '
"$P/bin/cachekit-ctl" --version >/dev/null
test -f "$P/include/cachekit/stub.h" && test -f "$P/include/cachekit/version.h"
test -f "$P/share/cachekit/proto/cachekit/agent/v1/agent.proto"
if nm -D --defined-only "$(find "$P" -name 'libcachekit-stub.so.*' | head -n 1)" |
   awk '{print $3}' | grep -v '^ck_' | grep -q .; then
  echo "libcachekit-stub.so exports symbols outside ck_*" >&2
  exit 1
fi

cat >"$T/use.c" <<'C'
#include <cachekit/stub.h>
#include <stdio.h>
#include <string.h>
int main(void) {
	ck_client *c = NULL;
	ck_client_opts o = CK_CLIENT_OPTS_INIT;
	o.endpoint = "ipc:///nonexistent/agent.sock";
	o.timeout_ms = 50;
	if (ck_client_open(&c, &o) != CK_OK) return 1;
	ck_value *v = NULL;
	ck_err rv = ck_get(c, "k", NULL, &v);
	ck_client_close(c);
	printf("%s %s\n", CK_VERSION_STRING, ck_strerror(rv));
	return rv == CK_ETIMEDOUT ? 0 : 2;
}
C

PCDIR=$(dirname "$(find "$P" -name cachekit-stub.pc | head -n 1)")
LIBDIR=$(dirname "$(find "$P" -name 'libcachekit-stub.so' | head -n 1)")
# shellcheck disable=SC2046
cc $FLAGS "$T/use.c" -o "$T/use-pc" $(PKG_CONFIG_PATH=$PCDIR pkg-config --cflags --libs cachekit-stub)
LD_LIBRARY_PATH=$LIBDIR "$T/use-pc" | grep -q "operation timed out"

mkdir -p "$T/cm"
cp "$T/use.c" "$T/cm/use.c"
cat >"$T/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(use C)
find_package(cachekit-stub REQUIRED)
add_executable(use-shared use.c)
target_link_libraries(use-shared PRIVATE cachekit::cachekit-stub)
add_executable(use-static use.c)
target_link_libraries(use-static PRIVATE cachekit::cachekit-stub-static)
CM
cmake -S "$T/cm" -B "$T/cm/build" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_FLAGS="$FLAGS" \
  -DCMAKE_EXE_LINKER_FLAGS="$FLAGS" >/dev/null
cmake --build "$T/cm/build" >/dev/null
LD_LIBRARY_PATH=$LIBDIR "$T/cm/build/use-shared" | grep -q "operation timed out"
"$T/cm/build/use-static" | grep -q "operation timed out"
echo "install tree ok: pkg-config, find_package (shared and static)"
