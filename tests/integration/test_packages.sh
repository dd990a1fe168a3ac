#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `cpack -G DEB` makes the four packages with the right dependencies; `dpkg --root` installs
# them into a throwaway root (its own dpkg database; maintainer scripts run chrootless and do
# nothing there: DPKG_ROOT is set), and the installed files give a round trip: the installed
# agent and cachekit-ctl, a C program built with the installed pkg-config file and library, and
# the installed Python package.
# Usage: test_packages.sh BUILD_DIR   (CK_CONSUMER_FLAGS: extra compiler flags, e.g. sanitizers)
set -eu
BUILD=$1
FLAGS=${CK_CONSUMER_FLAGS:-}
T=$(mktemp -d /tmp/ck-packages.XXXXXX)
AGENT_PID=
cleanup() {
  [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$BUILD" && cpack -G DEB -B "$T/debs") >"$T/cpack.log" 2>&1 || { cat "$T/cpack.log"; fail "cpack"; }
for p in cachekit-agent libcachekit-stub0 libcachekit-stub-dev python3-cachekit-stub; do
  ls "$T"/debs/${p}_*.deb >/dev/null 2>&1 || fail "no package $p"
done
deb() { ls "$T"/debs/"$1"_*.deb; }
dpkg-deb -f "$(deb cachekit-agent)" Depends | grep -q 'libzmq5' || fail "agent Depends lacks libzmq5"
dpkg-deb -f "$(deb cachekit-agent)" Depends | grep -q 'libmicrohttpd12' || fail "agent Depends lacks libmicrohttpd12"
dpkg-deb -f "$(deb libcachekit-stub-dev)" Depends | grep -q 'libcachekit-stub0 (= ' || fail "dev Depends"
dpkg-deb -f "$(deb python3-cachekit-stub)" Architecture | grep -qx all || fail "python arch"
dpkg-deb -c "$(deb libcachekit-stub0)" | grep -q 'usr/lib/[a-z0-9_]*-linux-gnu/libcachekit-stub.so.0 ' ||
  dpkg-deb -c "$(deb libcachekit-stub0)" | grep -q 'usr/lib/[a-z0-9_]*-linux-gnu/libcachekit-stub.so.0$' ||
  fail "library not in the multiarch directory"

R=$T/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates"
: >"$R/var/lib/dpkg/status"
dpkg --root="$R" --force-depends --force-script-chrootless --log=/dev/null \
  -i "$T"/debs/*.deb >"$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log"; fail "dpkg -i"; }
dpkg --root="$R" -l | grep -q '^ii  libcachekit-stub0 ' || fail "libcachekit-stub0 not installed"
test -f "$R/usr/share/man/man8/cachekit-agent.8" || fail "man page missing"
test -f "$R/usr/lib/systemd/system/cachekit-agent.service" || fail "unit missing"

E="ipc://$T/agent.sock"
env -u CACHEKIT_AGENT_ENDPOINT CACHEKIT_MASTER_KEY="$(openssl rand -hex 32)" \
  "$R/usr/bin/cachekit-agent" --endpoint "$E" --upstream memory: >"$T/agent.log" 2>&1 &
AGENT_PID=$!
i=0
until grep -q "ready: serving" "$T/agent.log" 2>/dev/null; do
  i=$((i + 1)); [ $i -lt 300 ] || { cat "$T/agent.log"; fail "agent not ready"; }
  kill -0 "$AGENT_PID" 2>/dev/null || { cat "$T/agent.log"; fail "agent exited"; }
  sleep 0.1
done
"$R/usr/bin/cachekit-ctl" --endpoint "$E" set pkg:k "from the package" >/dev/null
test "$("$R/usr/bin/cachekit-ctl" --endpoint "$E" get pkg:k)" = "from the package" || fail "ctl round trip"

LIBDIR=$(dirname "$(find "$R/usr/lib" -name libcachekit-stub.so.0 | head -n 1)")
# shellcheck disable=SC2046
cc $FLAGS "$(dirname "$0")/../../examples/c/hello.c" -o "$T/hello" \
  $(PKG_CONFIG_PATH="$LIBDIR/pkgconfig" pkg-config --cflags --libs cachekit-stub) ||
  fail "build against the packaged library"
CACHEKIT_AGENT_ENDPOINT=$E LD_LIBRARY_PATH=$LIBDIR "$T/hello" | grep -q 'sealed by the agent' ||
  fail "C example against the packaged library"
CACHEKIT_AGENT_ENDPOINT=$E PYTHONPATH="$R/usr/lib/python3/dist-packages" /usr/bin/python3 -c '
import cachekit_stub, sys
c = cachekit_stub.Client()
assert cachekit_stub.__file__.startswith(sys.argv[1]), cachekit_stub.__file__
assert c.get("pkg:k") == b"from the package"
' "$R" || fail "Python stub from the package"
echo "packages ok"
