#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# scripts/install-deps installs only what a step needs: the build set has neither test tools
# nor redis-server nor clang; --test adds pytest, the Prometheus parser and redis-server;
# --bench adds h2load; --fuzz adds clang; unknown flags are usage errors. (--print lists the
# packages without touching apt.)
# Usage: test_install_deps.sh SOURCE_DIR
set -eu
D=$1/scripts/install-deps
fail() { echo "FAIL: $*" >&2; exit 1; }
has() { echo " $1 " | grep -q " $2 "; }
base=$("$D" --print)
has "$base" cmake || fail "build set lacks cmake"
has "$base" libmicrohttpd-dev || fail "build set lacks libmicrohttpd-dev"
has "$base" libsystemd-dev || fail "build set lacks libsystemd-dev"
for p in redis-server python3-pytest clang nghttp2-client; do
  has "$base" "$p" && fail "build set has $p"
done
t=$("$D" --test --print)
for p in redis-server python3-pytest python3-prometheus-client cmake; do
  has "$t" "$p" || fail "--test lacks $p"
done
has "$t" clang && fail "--test has clang"
has "$("$D" --bench --print)" nghttp2-client || fail "--bench lacks nghttp2-client"
has "$("$D" --fuzz --print)" clang || fail "--fuzz lacks clang"
if "$D" --frobnicate >/dev/null 2>&1; then fail "unknown flag accepted"; fi
echo "install-deps sets ok"
