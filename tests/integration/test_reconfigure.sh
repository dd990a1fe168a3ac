#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# A second configure of a fresh build tree changes nothing a compile depends on: no target's
# flags.make, no generated header (so the next build recompiles nothing). This failed when
# FindPkgConfig turned "-isystem" directories into include directories on the first run and
# into compile options on later ones (see ck_pkg_isystem_to_includes in CMakeLists.txt).
# Usage: test_reconfigure.sh SOURCE_DIR
set -eu
SRC=$1
T=$(mktemp -d "${TMPDIR:-/tmp}/ck-reconfigure.XXXXXX")
trap 'rm -rf "$T"' EXIT
cmake -S "$SRC" -B "$T/b" -DCMAKE_BUILD_TYPE=Release >"$T/1.log" 2>&1
(cd "$T/b" && find . \( -name flags.make -o -name '*.h' \) -exec sha256sum {} + | sort) >"$T/before"
(cd "$T/b" && find . -name '*.h' -exec stat -c '%Y %n' {} + | sort) >"$T/mtimes-before"
sleep 1 # so a rewritten header would get a different mtime
cmake -S "$SRC" -B "$T/b" >"$T/2.log" 2>&1
(cd "$T/b" && find . \( -name flags.make -o -name '*.h' \) -exec sha256sum {} + | sort) >"$T/after"
(cd "$T/b" && find . -name '*.h' -exec stat -c '%Y %n' {} + | sort) >"$T/mtimes-after"
test "$(wc -l <"$T/before")" -ge 20 || { echo "too few flags.make files: configure failed?"; cat "$T/1.log"; exit 1; }
if ! diff -u "$T/before" "$T/after" || ! diff -u "$T/mtimes-before" "$T/mtimes-after"; then
  echo "the second configure changed files that compiles depend on" >&2
  exit 1
fi
