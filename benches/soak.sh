#!/usr/bin/env bash
# The soak: THREADS threads × REQUESTS requests on one dpop_http handle against the local test
# server, with a TTL-second token lifetime (default 2) and a nonce that rotates every ROTATE
# token and API requests (default 50 × THREADS) (benches/c/soak.c says what it checks: no failed
# request, one token per lifetime window, flat RSS).
#
#   benches/soak.sh [--tls] [THREADS REQUESTS [TTL [ROTATE]]]
#                               default 8 × 10000, TTL 2, ROTATE 400 (make bench); make test runs 8 × 1500
#
# ROTATE must be well above THREADS: a request refused for a stale nonce is retried once (by
# design), and the nonce it is given stays good for two rotations. With THREADS requests in
# flight, a thread that the scheduler holds between the refusal and its retry while the others
# send 2 × ROTATE requests retries with a stale nonce and fails. At ROTATE 50 and 8 threads,
# that is a pause of about 30 ms, which a make test on a loaded 2-core machine caused (3 of
# 12,000 requests); 50 × THREADS makes it eight times as long.
#
# --tls: the server speaks HTTPS with a certificate from a private CA made for the run
# (benches/make_ca.sh), and the handle trusts that CA (dpop_http_set_ca_file).
# Prints soak.c's "soak KEY VALUE" lines; exits non-zero when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
tls=0
[ "${1:-}" = "--tls" ] && { tls=1; shift; }
threads=${1:-8} requests=${2:-10000} ttl=${3:-2}
rotate=${4:-$((threads * 50))}
out=build/bench
mkdir -p "$out"
target=${CARGO_TARGET_DIR:-target}
cargo build --release -q --lib
cargo build --release -q -p dpop-testserver --bin dpop-test-server
libdir=$(cd "$target/release" && pwd)
ln -sf libdpop.so "$libdir/libdpop.so.0"  # the soname (see the Makefile's lib target)
${CC:-cc} -O2 -std=c11 -Wall -Wextra -Werror -Iinclude -pthread -o "$out/soak" benches/c/soak.c \
    -L"$libdir" -ldpop -Wl,-rpath,"$libdir"
secret=soak-secret-Vb81Qz
tls_flags=() tls_env=()
if [ "$tls" = 1 ]; then
    ca=$out/tls
    benches/make_ca.sh "$ca"
    tls_flags=(--tls-cert "$ca/server.pem" --tls-key "$ca/server.key")
    tls_env=(DPOP_CA_FILE="$ca/ca.pem")
fi
BUILD_DIR=$out tests/with_server.sh --quiet --require-nonce --rotate-nonce-every "$rotate" --ttl "$ttl" --no-record \
    "${tls_flags[@]}" --client "m2m.dpop:$secret" -- \
    env DPOP_CLIENT_SECRET=$secret "${tls_env[@]}" "$out/soak" "$threads" "$requests" "$ttl"
