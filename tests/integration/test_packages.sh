#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `cpack -G DEB` makes the four packages with the right dependencies; they are installed with
# `dpkg -i` into a throwaway Debian 12 root (debootstrap --variant=minbase bookworm, cached as a
# tarball per day) whose missing dependencies `apt-get -f install` resolves from the mirror, so
# the Depends: lines are proven. Inside the chroot: the agent on the embedded store, a round
# trip with cachekit-ctl, the Python stub and a C program compiled there against
# libcachekit-stub-dev; then `dpkg --purge` leaves none of the packages' files; then the
# runtime stage of deploy/container/Containerfile is replayed on that root (its RUN steps, its
# USER, ENV, ENTRYPOINT, CMD) and its HEALTHCHECK command answers. Needs root, debootstrap and the Debian mirror: without them it exits 77
# (CTest SKIP) saying why.
# Usage: test_packages.sh BUILD_DIR
#   CK_CONSUMER_FLAGS     extra flags for the C program built in the chroot (e.g. sanitizers)
#   CK_DEBOOTSTRAP_CACHE  where the base tarball is kept (default: BUILD_DIR/../.debootstrap-cache)
#   CK_DEBIAN_MIRROR      the mirror (default http://deb.debian.org/debian)
set -eu
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
FLAGS=${CK_CONSUMER_FLAGS:-}
MIRROR=${CK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${CK_DEBOOTSTRAP_CACHE:-$(dirname "$BUILD")/.debootstrap-cache}
skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || skip "needs root (chroot, mounts)"

T=$(mktemp -d "${TMPDIR:-/tmp}/ck-packages.XXXXXX")
R=$T/root
AGENT_PID=
MOUNTS=
cleanup() {
  rc=$?
  if [ -n "$AGENT_PID" ]; then kill "$AGENT_PID" 2>/dev/null || true; wait "$AGENT_PID" 2>/dev/null || true; fi
  for m in $MOUNTS; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  for m in $MOUNTS; do
    if mountpoint -q "$m"; then echo "cleanup: $m still mounted, leaving $T" >&2; exit 1; fi
  done
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mount_in() { mount "$@"; MOUNTS="$(eval echo \${$#}) $MOUNTS"; }
in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

# ---- the packages --------------------------------------------------------------------------
(cd "$BUILD" && cpack -G DEB -B "$T/debs") >"$T/cpack.log" 2>&1 || { cat "$T/cpack.log"; fail "cpack"; }
rm -rf "$T/debs/_CPack_Packages"
for p in cachekit-agent libcachekit-stub0 libcachekit-stub-dev python3-cachekit-stub; do
  ls "$T"/debs/${p}_*.deb >/dev/null 2>&1 || fail "no package $p"
done
deb() { ls "$T"/debs/"$1"_*.deb; }
dpkg-deb -f "$(deb cachekit-agent)" Depends | grep -q 'libzmq5' || fail "agent Depends lacks libzmq5"
dpkg-deb -f "$(deb cachekit-agent)" Depends | grep -q 'libmicrohttpd12' || fail "agent Depends lacks libmicrohttpd12"
dpkg-deb -f "$(deb libcachekit-stub-dev)" Depends | grep -q 'libcachekit-stub0 (= ' || fail "dev Depends"
dpkg-deb -f "$(deb python3-cachekit-stub)" Architecture | grep -qx all || fail "python arch"
dpkg-deb -c "$(deb libcachekit-stub0)" | grep -E >/dev/null 'usr/lib/[a-z0-9_]*-linux-gnu/libcachekit-stub.so.0( |$)' ||
  fail "library not in the multiarch directory"

# ---- the throwaway root: a cached debootstrap base -----------------------------------------
mkdir -p "$CACHE/archives/partial"
BASE=$CACHE/bookworm-minbase-$(date -u +%Y%m%d).tar
if [ ! -f "$BASE" ]; then
  command -v debootstrap >/dev/null 2>&1 || skip "debootstrap not installed (scripts/install-deps --test)"
  start=$(date +%s)
  debootstrap --variant=minbase bookworm "$R" "$MIRROR" \
    >"$T/debootstrap.log" 2>&1 || { tail -n 5 "$T/debootstrap.log" >&2; skip "debootstrap bookworm from $MIRROR failed (mirror unreachable?)"; }
  tar -C "$R" -cf "$BASE.part" . && mv "$BASE.part" "$BASE"
  find "$CACHE" -maxdepth 1 -name 'bookworm-minbase-*.tar' ! -name "$(basename "$BASE")" -delete
  echo "debootstrap: $(($(date +%s) - start)) s (cached as $BASE)"
else
  mkdir -p "$R" && tar -C "$R" -xf "$BASE"
  echo "debootstrap base from the cache: $BASE"
fi
mount_in -t proc proc "$R/proc"
mount_in --bind /dev "$R/dev"
mount_in --bind "$CACHE/archives" "$R/var/cache/apt/archives"
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
echo "deb $MIRROR bookworm main" >"$R/etc/apt/sources.list"
in_root apt-get -q update >"$T/apt.log" 2>&1 || { tail -n 5 "$T/apt.log" >&2; skip "apt-get update from $MIRROR failed"; }

# ---- dpkg -i; apt resolves what the Depends: lines name ------------------------------------
mkdir -p "$R/tmp/debs" && cp "$T"/debs/*.deb "$R/tmp/debs/"
in_root sh -c 'dpkg -i /tmp/debs/*.deb' >>"$T/apt.log" 2>&1 || true # missing deps: unconfigured
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -f --no-install-recommends \
  >>"$T/apt.log" 2>&1 || { tail -n 20 "$T/apt.log"; fail "apt-get -f install (Depends: not satisfiable?)"; }
for p in cachekit-agent libcachekit-stub0 libcachekit-stub-dev python3-cachekit-stub; do
  in_root dpkg-query -W -f='${Status}\n' "$p" | grep -qx 'install ok installed' || fail "$p not installed"
done
test -f "$R/usr/share/man/man8/cachekit-agent.8" || fail "man page missing"
test -f "$R/usr/lib/systemd/system/cachekit-agent.service" || fail "unit missing"
in_root dpkg -L cachekit-agent libcachekit-stub0 libcachekit-stub-dev python3-cachekit-stub >"$T/files"

# wait_ready LOG: until the agent logs readiness (it exits: fail).
wait_ready() {
  i=0
  until grep -q "ready: serving" "$1" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 300 ] || { cat "$1"; fail "agent not ready"; }
    kill -0 "$AGENT_PID" 2>/dev/null || { cat "$1"; fail "agent exited"; }
    sleep 0.1
  done
}
stop_agent() { kill "$AGENT_PID"; wait "$AGENT_PID" || fail "agent did not drain cleanly"; AGENT_PID=; }

# ---- the round trip inside the chroot ------------------------------------------------------
E=ipc:///tmp/ck/agent.sock
mkdir -p "$R/tmp/ck" && chmod 0700 "$R/tmp/ck"
chroot "$R" /usr/bin/env -i PATH=/usr/bin:/bin CACHEKIT_MASTER_KEY="$(openssl rand -hex 32)" \
  /usr/bin/cachekit-agent --endpoint "$E" --upstream memory: >"$T/agent.log" 2>&1 &
AGENT_PID=$!
wait_ready "$T/agent.log"
in_root cachekit-ctl --endpoint "$E" set pkg:k "from the package" >/dev/null || fail "ctl set"
test "$(in_root cachekit-ctl --endpoint "$E" get pkg:k)" = "from the package" || fail "ctl round trip"
in_root env CACHEKIT_AGENT_ENDPOINT=$E python3 -c '
import cachekit_stub
assert cachekit_stub.__file__.startswith("/usr/lib/python3/dist-packages/"), cachekit_stub.__file__
c = cachekit_stub.Client()
assert c.get("pkg:k") == b"from the package"
c.set("pkg:py", b"from python")
' || fail "Python stub from the package"
test "$(in_root cachekit-ctl --endpoint "$E" get pkg:py)" = "from python" || fail "python set, ctl get"
cp "$SRC/examples/c/hello.c" "$R/tmp/hello.c"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc libc6-dev \
  >>"$T/apt.log" 2>&1 || { tail -n 20 "$T/apt.log"; fail "apt-get install gcc"; }
in_root sh -c "cc $FLAGS /tmp/hello.c -o /tmp/hello \$(pkg-config --cflags --libs cachekit-stub)" ||
  fail "build against libcachekit-stub-dev in the chroot"
in_root env CACHEKIT_AGENT_ENDPOINT=$E /tmp/hello | grep -q 'sealed by the agent' ||
  fail "C example against the packaged library"
stop_agent

# ---- purge: none of the packages' files are left -------------------------------------------
in_root dpkg --purge cachekit-agent libcachekit-stub-dev libcachekit-stub0 python3-cachekit-stub \
  >>"$T/apt.log" 2>&1 || { tail -n 20 "$T/apt.log"; fail "dpkg --purge"; }
left=0
while IFS= read -r f; do
  [ -n "$f" ] && [ ! -d "$R$f" ] && [ -e "$R$f" -o -L "$R$f" ] && { echo "left after purge: $f" >&2; left=1; }
done <"$T/files"
[ $left -eq 0 ] || fail "files left after dpkg --purge"
if in_root dpkg-query -W cachekit-agent >/dev/null 2>&1; then fail "cachekit-agent still known to dpkg"; fi

# ---- the Containerfile's runtime stage, replayed (deploy/container/Containerfile) -----------
# On the purged root: its RUN steps (users, apt-get install of the packages where its COPY puts
# them), then the agent runs as its USER (with the supplementary groups the image gives that
# uid, as the engines do) with its ENV, ENTRYPOINT and CMD, and its HEALTHCHECK command answers.
TMPDIR=$T python3 "$SRC/tests/integration/containerfile.py" replay "$SRC/deploy/container/Containerfile" \
  >"$T/replay.sh" || fail "Containerfile runtime stage unreadable"
. "$T/replay.sh" # RUN_STEPS_FILE USER_SPEC ENV_ASSIGN ENTRY CMD_ARGS HEALTH_CMD DEBS_DIR
mkdir -p "$R$DEBS_DIR" && cp "$T"/debs/*.deb "$R$DEBS_DIR/"
mv "$RUN_STEPS_FILE" "$R/tmp/run-steps.sh"
in_root env DEBIAN_FRONTEND=noninteractive sh -eux /tmp/run-steps.sh >"$T/replay.log" 2>&1 ||
  { tail -n 20 "$T/replay.log"; fail "Containerfile RUN steps in the chroot"; }
GROUPS_OF=$(in_root id -G "${USER_SPEC%%:*}" | tr ' ' ,)
# shellcheck disable=SC2086
chroot --userspec="$USER_SPEC" --groups="$GROUPS_OF" "$R" /usr/bin/env -i PATH=/usr/bin:/bin \
  $ENV_ASSIGN CACHEKIT_MASTER_KEY="$(openssl rand -hex 32)" $ENTRY $CMD_ARGS --upstream memory: \
  >"$T/agent2.log" 2>&1 &
AGENT_PID=$!
wait_ready "$T/agent2.log"
# shellcheck disable=SC2086
chroot --userspec="$USER_SPEC" --groups="$GROUPS_OF" "$R" /usr/bin/env -i PATH=/usr/bin:/bin \
  $ENV_ASSIGN $HEALTH_CMD ||
  fail "HEALTHCHECK command of the Containerfile, as its USER"
sock=$(echo "$ENV_ASSIGN" | sed -n 's|.*CACHEKIT_AGENT_ENDPOINT=ipc://\([^ ]*\).*|\1|p')
test "$(stat -c %u "$R$sock")" = "${USER_SPEC%%:*}" || fail "socket not owned by the image's user"
stop_agent
test -d "$R$DEBS_DIR" && fail "the RUN steps leave $DEBS_DIR behind"

echo "packages ok"
