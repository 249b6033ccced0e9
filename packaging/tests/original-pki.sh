#!/bin/sh
# Makes, in DIR, the certificates the original LogHog's openssl scripts made:
# an RSA CA key, a self-signed CA certificate from `openssl x509 -req
# -signkey`, and server and client certificates from `openssl x509 -req -CA`.
# Without extensions, `openssl x509 -req` writes X.509 v1, even with current
# OpenSSL. Keys are PKCS#1 ("BEGIN RSA PRIVATE KEY"), as old OpenSSL wrote.
#
# usage: original-pki.sh DIR [BITS]   (BITS defaults to 2048)
# writes: loghog-ca.key loghog-ca.cert loghog-server.pem client.pem
set -eu
dir=$1
bits=${2:-2048}
mkdir -p "$dir"
cd "$dir"
quiet() { "$@" >/dev/null 2>&1 || { echo "original-pki.sh: failed: $*" >&2; exit 1; }; }

quiet openssl genrsa -traditional -out loghog-ca.key "$bits"
quiet openssl req -new -key loghog-ca.key -subj "/C=US/O=LogHog/CN=loghog CA" -out ca.csr
quiet openssl x509 -req -sha256 -days 3650 -in ca.csr -signkey loghog-ca.key -out loghog-ca.cert
for name in server client; do
    quiet openssl genrsa -traditional -out "$name.key" "$bits"
    quiet openssl req -new -key "$name.key" -subj "/CN=$name" -out "$name.csr"
    quiet openssl x509 -req -sha256 -days 3650 -in "$name.csr" -CA loghog-ca.cert \
        -CAkey loghog-ca.key -CAcreateserial -out "$name.crt"
done
cat server.key server.crt > loghog-server.pem
cat client.key client.crt > client.pem
rm -f ./*.csr server.key server.crt client.key client.crt loghog-ca.srl
chmod 600 loghog-ca.key loghog-server.pem client.pem
