#!/usr/bin/env bash
# The soak: THREADS threads × REQUESTS requests on one dpop_http handle against the local test
# server, with a 2 s token lifetime and a nonce that rotates every 50 requests (benches/c/soak.c
# says what it checks: no failed request, one token per lifetime window, flat RSS).
#
#   benches/soak.sh [THREADS REQUESTS]     default 8 × 10000 (make bench); make test runs 8 × 1500
#
# Prints soak.c's "soak KEY VALUE" lines; exits non-zero when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-8} requests=${2:-10000}
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
BUILD_DIR=$out tests/with_server.sh --quiet --require-nonce --rotate-nonce-every 50 --ttl 2 --no-record \
    --client "m2m.dpop:$secret" -- env DPOP_CLIENT_SECRET=$secret "$out/soak" "$threads" "$requests" 2
