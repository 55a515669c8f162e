#!/usr/bin/env bash
# The Windows trust store under Wine: dpop.dll's default (system) roots are the certificate
# store, dpop_http_set_system_roots(http, 0) leaves only the built-in Mozilla roots, and
# dpop_http_set_ca_file adds a private CA to either.
#
#   tests/windows/system_roots.sh RUN_DIR
#
# RUN_DIR holds system_roots.exe (tests/windows/system_roots.c) and dpop.dll; WINEPREFIX names
# the prefix (windows/build.sh passes its scratch prefix). A private CA and a leaf for the IP
# 127.0.0.1 are made with openssl for this run; the local test server serves HTTPS with the
# leaf. libdpop reads the store once per process, so each step is its own Wine process:
#   1. the CA is not in the store: (a) system roots fail with DPOP_ERR_HTTP_TLS, (c) the
#      built-in roots fail too, (d) the built-in roots with the CA file succeed;
#   2. system_roots.exe adds the CA to the current user's ROOT store with crypt32, the store
#      rustls-native-certs reads (CertOpenStore(CERT_STORE_PROV_SYSTEM_W,
#      CERT_SYSTEM_STORE_CURRENT_USER, "ROOT")), and checks that this store shows it;
#   3. (b) system roots, no CA file: 200 from /plain; (c) and (d) as before;
#   4. the CA is removed again (from the registry store: under Wine 8 a delete through the
#      system store does not last), and a new process is refused again;
#   5. the same through the local machine's ROOT store, which the current user's shows (on
#      Windows, adding there takes an administrator; Wine does not check).
# The CA is removed on exit whatever happened, and CAs an interrupted run left behind at the
# start. Exits non-zero on any failed check.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "${1:-}" = --steps ]; then
    run=$2 s=$3
    # Wine hands the Unix environment to Windows programs, and rustls-native-certs reads the
    # files these name instead of the store when either is set (on Windows too).
    unset SSL_CERT_FILE SSL_CERT_DIR
    exe=$run/system_roots.exe
    url=${DPOP_API_URL%/dpop/test}/plain
    case $url in https://127.0.0.1:*/plain) ;; *) echo "system_roots: unexpected URL $url" >&2; exit 1 ;; esac
    echo "system_roots: test server at $url, leaf for IP 127.0.0.1 from a CA made for this run"
    # Fails with $1 when the store rustls-native-certs reads shows the CA.
    not_listed() {
        if wine "$exe" listed "$s/ca.der"; then
            echo "system_roots: $1" >&2
            exit 1
        fi
    }
    trap 'wine "$exe" purge user >/dev/null 2>&1 || true; wine "$exe" purge machine >/dev/null 2>&1 || true' EXIT

    echo "-- 1. CA not in the Windows store"
    wine "$exe" purge user
    wine "$exe" purge machine
    not_listed "the CA made for this run is already in the store"
    wine "$exe" untrusted "$url" "$s/ca.pem"

    echo "-- 2. CA added to the current user's ROOT store with crypt32"
    wine "$exe" add user "$s/ca.der"
    wine "$exe" listed "$s/ca.der"

    echo "-- 3. a new process trusts it through the store, without a CA file"
    wine "$exe" trusted "$url" "$s/ca.pem"

    echo "-- 4. CA removed from the store: a new process refuses it again"
    wine "$exe" remove user "$s/ca.der"
    not_listed "the CA is still in the store after its removal"
    wine "$exe" untrusted "$url" "$s/ca.pem"

    echo "-- 5. CA added to the local machine's ROOT store: the current user's store shows it, a new process trusts it"
    wine "$exe" add machine "$s/ca.der"
    wine "$exe" listed "$s/ca.der"
    wine "$exe" trusted "$url" "$s/ca.pem"
    wine "$exe" remove machine "$s/ca.der"
    not_listed "the CA is still in the store after its removal"
    trap - EXIT
    echo "system_roots: (a) refused before the CA is in the store, (b) trusted without a CA file once in the current" \
         "user's or the local machine's ROOT store, (c) refused with the built-in roots only, (d) trusted with the" \
         "built-in roots and the CA file"
    exit 0
fi

run=${1:?usage: tests/windows/system_roots.sh RUN_DIR}
[ -f "$run/system_roots.exe" ] || { echo "system_roots: no $run/system_roots.exe" >&2; exit 1; }
s=$run/system-roots
rm -rf "$s"
mkdir -p "$s"

# The private CA (no extended key usage: valid for every purpose, as crypt32 reports it) and the
# leaf, which names 127.0.0.1 as an IP SAN.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=libdpop Wine system-roots test CA $$ $(date +%s)" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$s/ca.key" -out "$s/ca.pem" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout "$s/leaf.key" -out "$s/leaf.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
    > "$s/leaf.ext"
openssl x509 -req -in "$s/leaf.csr" -CA "$s/ca.pem" -CAkey "$s/ca.key" -CAcreateserial -days 2 \
    -extfile "$s/leaf.ext" -out "$s/leaf.pem" 2>/dev/null
openssl x509 -in "$s/ca.pem" -outform DER -out "$s/ca.der"

BUILD_DIR=$s tests/with_server.sh --tls-cert "$s/leaf.pem" --tls-key "$s/leaf.key" -- \
    "$0" --steps "$run" "$s"
