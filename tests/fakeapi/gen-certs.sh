#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# gen-certs.sh OUTDIR: make a throw-away test CA (ca.pem, ca.key) and a server certificate
# (server.pem, server.key) signed by it, for ck-fakeapi. SANs cover the allowlisted API hosts,
# the test hostname, localhost and 127.0.0.1. Idempotent: does nothing if all files exist.
set -eu
out=${1:?usage: gen-certs.sh OUTDIR}
mkdir -p "$out"
cd "$out"
if [ -s ca.pem ] && [ -s ca.key ] && [ -s server.pem ] && [ -s server.key ]; then
	exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ck-certs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$tmp/ca.key" -out "$tmp/ca.pem" -days 3650 -subj "/CN=cachekit test CA" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$tmp/server.key" -out "$tmp/server.csr" -subj "/CN=fake.cachekit.test" 2>/dev/null
cat > "$tmp/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:api.cachekit.io,DNS:api.staging.cachekit.io,DNS:fake.cachekit.test,DNS:localhost,IP:127.0.0.1
EXT
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
	-CAcreateserial -out "$tmp/server.pem" -days 3650 -extfile "$tmp/ext.cnf" 2>/dev/null
chmod 600 "$tmp/ca.key" "$tmp/server.key"
# Move into place last (server files before the CA), so a reader never sees a half set.
for f in server.key server.pem ca.key ca.pem; do
	mv -f "$tmp/$f" "$f"
done
