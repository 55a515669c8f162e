#!/usr/bin/env bash
# libdpop benchmarks: one table, every figure next to a reference measured in the same run.
#
#   benches/run.sh            the full run (`make bench`, about five minutes), table on stdout
#   benches/run.sh --smoke    a few iterations of everything (`make test`, well under a minute
#                             after the builds): checks that each part builds and runs, that
#                             64 concurrent first calls make one token request, and runs short
#                             soaks (8 x 1500 requests over HTTP, 1 x 2000 and 64 x 10 over HTTPS)
#                             and the libcurl comparison (every request must answer 200 "hello")
#                             with their checks; no speed figure is judged
#
# Needs cargo, cc, strip, openssl (3.x); node 20+ and npm for the oauth4webapi row (skipped, and
# said so, without them); libcurl's headers (Debian: libcurl4-openssl-dev, installed with apt-get
# when this runs as root on Debian; the libcurl rows are skipped, and said so, without them);
# taskset (util-linux) to pin the request-cost parts to one CPU.
# Builds into ${CARGO_TARGET_DIR:-target} and build/bench/. BENCHMARKS.md explains each row.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
case "${1:-}" in
    --smoke) smoke=1 ;;
    "") ;;
    *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
esac

if [ "$smoke" = 1 ]; then
    secs=0.05 ossl_secs=1 rounds=1 http_secs=0.5 cold_runs=3 soak_requests=1500
    https_secs=1 https_rounds=2 handles_n=10 long_requests=2000 many_requests=10
else
    secs=3 ossl_secs=3 rounds=3 http_secs=10 cold_runs=200 soak_requests=10000
    https_secs=30 https_rounds=6 handles_n=200 long_requests=100000 many_requests=2000
fi
long_ttl=5 many_threads=64
soak_threads=8

target=${CARGO_TARGET_DIR:-target}
out=build/bench
mkdir -p "$out"
say() { echo "== $*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(load)

# --- builds -------------------------------------------------------------------------------
say "building the release library, the Rust benchmarks and the C benchmark programs"
cargo build --release --lib -q
cargo bench --no-run --bench proof --bench http -q
bench_exe() {
    cargo bench --no-run --bench "$1" --message-format=json -q 2>/dev/null |
        sed -n "s/.*\"name\":\"$1\".*\"executable\":\"\([^\"]*\)\".*/\1/p" | tail -1
}
proof_exe=$(bench_exe proof)
http_exe=$(bench_exe http)
[ -x "$proof_exe" ] && [ -x "$http_exe" ] || { echo "benchmark executables not found" >&2; exit 1; }
libdir=$(cd "$target/release" && pwd)
ln -sf libdpop.so "$libdir/libdpop.so.0"  # the soname (see the Makefile's lib target)
for prog in proof_bench cold_start; do
    ${CC:-cc} -O2 -std=c11 -Wall -Wextra -Werror -Iinclude -pthread -o "$out/$prog" "benches/c/$prog.c" \
        -L"$libdir" -ldpop -Wl,-rpath,"$libdir"
done

# libcurl's headers for the libcurl rows: installed the way `make test` installs system packages
# (apt-get, as root on Debian), otherwise those rows are skipped.
curl_pkg=libcurl4-openssl-dev
have_curl_dev() { printf '#include <curl/curl.h>\n' | ${CC:-cc} -E -x c - >/dev/null 2>&1; }
if ! have_curl_dev && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "apt-get install $curl_pkg (the libcurl rows)"
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$curl_pkg" >/dev/null 2>&1 || true
fi
curl_ok=0
if have_curl_dev; then
    ${CC:-cc} -O2 -std=c11 -Wall -Wextra -Werror -Iinclude -o "$out/https_bench" benches/c/https_bench.c \
        -L"$libdir" -ldpop -lcurl -Wl,-rpath,"$libdir"
    curl_ok=1
else
    say "$curl_pkg is not installed (install: apt-get install $curl_pkg): the libcurl rows are skipped"
fi

node_ok=0
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -ge 20 ] && command -v npm >/dev/null; then
    say "npm ci in benches/node (oauth4webapi)"
    (cd benches/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    node_ok=1
else
    say "node 20 or later with npm is not installed: the oauth4webapi row is skipped"
fi

# --- helpers ------------------------------------------------------------------------------
last() { awk '{print $NF}'; }
max() { printf '%s\n' "$@" | sort -g | tail -1; }
ossl_sign() { # openssl speed ALG -> sign/s
    openssl speed -elapsed -seconds "$ossl_secs" "$1" 2>/dev/null |
        awk -v pat="$2" 'index($0, pat) {print $(NF-1)}'
}
value() { awk -v k="$1" '$1 == k {print $2}' <<<"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
num() { awk -v a="$1" 'BEGIN { printf "%.0f", a }'; }
check() { # check VALUE OP LIMIT -> met / NOT met
    awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
        ok = (op == ">=") ? v >= l : (op == "<=") ? v <= l : (op == "<") ? v < l : (op == "==") ? v == l : 0
        print ok ? "met" : "NOT met" }'
}

# --- proof signing: Rust API, C ABI, openssl speed, interleaved rounds, best of each ---------
say "ES256 proofs: Rust API, C ABI and openssl speed ecdsap256, $rounds round(s)"
rust=() c=() ossl=()
for _ in $(seq "$rounds"); do
    rust+=("$("$proof_exe" "$secs" --alg ES256 | last)")
    c+=("$("$out/proof_bench" "$secs" | last)")
    ossl+=("$(ossl_sign ecdsap256 'ecdsa (nistp256)')")
done
es256=$(max "${rust[@]}") c_abi=$(max "${c[@]}") ossl256=$(max "${ossl[@]}")

say "ES256 proofs next to ring's bare P-256 signature of an input as long (per CPU second)"
read -r _ _ bare_proof _ bare_ring < <("$proof_exe" "$secs" --ring-bare | tail -1)

say "ES384 and EdDSA proofs next to openssl speed ecdsap384 and ed25519"
es384=$("$proof_exe" "$secs" --alg ES384 | last)
ossl384=$(ossl_sign ecdsap384 'ecdsa (nistp384)')
eddsa=$("$proof_exe" "$secs" --alg EdDSA | last)
ossl_ed=$(ossl_sign ed25519 'EdDSA (Ed25519)')

say "one shared dpop_key from 1 and 2 threads (C ABI)"
one=() two=()
for _ in $(seq "$rounds"); do
    one+=("$("$out/proof_bench" "$secs" 1 | last)")
    two+=("$("$out/proof_bench" "$secs" 2 | last)")
done
shared1=$(max "${one[@]}") shared2=$(max "${two[@]}")

node_rate=""
if [ "$node_ok" = 1 ]; then
    say "oauth4webapi proofs (node $(node --version))"
    runs=()
    for _ in $(seq "$rounds"); do
        runs+=("$(cd benches/node && node proof_bench.mjs "$secs" | last)")
    done
    node_rate=$(max "${runs[@]}")
fi

# --- requests against the local test server ------------------------------------------------
# The request-cost part runs on one CPU: client and server threads then take turns on it, and
# the figures are the CPU work of a request rather than the cross-CPU wake-up latency of a
# virtual machine, which makes unpinned runs bimodal.
pin=()
if command -v taskset >/dev/null; then
    pin=(taskset -c "$(taskset -pc $$ | sed 's/.*: //' | grep -o '[0-9]*$')")
fi
say "request cost: plain ureq vs libdpop Client on /plain ${pin[*]:+(pinned: ${pin[*]})}"
cost=$("${pin[@]}" "$http_exe" "$http_secs" --part cost)
say "one shared Client from 1 and 2 threads"
scaling=$("$http_exe" "$http_secs" --part scaling)
say "64 concurrent first calls on one new Client"
first=$("$http_exe" "$http_secs" --part first --first-calls 64)

plain_us=$(value plain_us "$cost") client_us=$(value client_us "$cost") dpop_us=$(value dpop_us "$cost")
added_us=$(value added_us "$cost") api_us=$(value api_us "$cost") proof_us=$(value proof_us "$cost")
dpop_only=$(awk -v d="$dpop_us" -v c="$client_us" 'BEGIN { printf "%.1f", d - c }')
rps1=$(value shared1_rps "$scaling") rps2=$(value shared2_rps "$scaling") rps_own=$(value separate2_rps "$scaling")
tokens=$(value first_token_requests "$first") first_ms=$(value first_ms "$first") warm_ms=$(value warm_ms "$first")

# --- the soak: 8 threads on one handle, 2 s tokens, a nonce rotating every 400 requests --------
say "soak: $soak_threads threads x $soak_requests requests on one dpop_http handle (benches/soak.sh)"
if ! soak=$(benches/soak.sh "$soak_threads" "$soak_requests"); then
    echo "$soak" >&2
    echo "FAILED: the soak (benches/c/soak.c lists its checks)" >&2
    exit 1
fi
soak_value() { value "$1" "$(sed -n 's/^soak //p' <<<"$soak")"; }
soak_total=$(soak_value requests) soak_rps=$(soak_value requests_per_sec) soak_secs=$(soak_value seconds)
soak_windows=$(soak_value token_windows) soak_issued=$(soak_value tokens_issued)
soak_nonce=$(soak_value nonce_retries_api) soak_nonce_token=$(soak_value nonce_retries_token)
soak_q2=$(soak_value rss_second_quarter_kib) soak_q4=$(soak_value rss_last_quarter_kib)
soak_peak=$(soak_value rss_peak_kib) soak_growth=$(soak_value rss_growth_kib)

# --- HTTPS: dpop_http next to libcurl, one server, one run --------------------------------------
tls=$out/tls
benches/make_ca.sh "$tls"
# The test server over HTTPS with the run's certificate, its default client m2m.dpop:secret.
tls_server=(env BUILD_DIR="$out" tests/with_server.sh --quiet --no-record --tls-cert "$tls/server.pem"
    --tls-key "$tls/server.key" --)
cargo build --release -q -p dpop-testserver --bin dpop-test-server
if [ "$curl_ok" = 1 ]; then
    say "HTTPS GET /plain, keep-alive and a new connection per request: libcurl vs dpop_http ${pin[*]:+(pinned: ${pin[*]})}"
    https=$("${pin[@]}" "${tls_server[@]}" env DPOP_CA_FILE="$tls/ca.pem" "$out/https_bench" cost "$https_secs" "$https_rounds") ||
        { echo "$https" >&2; echo "FAILED: benches/c/https_bench.c cost" >&2; exit 1; }
    say "memory of $handles_n more handles with one open connection each: libcurl, dpop_http"
    handles_curl=$("${tls_server[@]}" env DPOP_CA_FILE="$tls/ca.pem" "$out/https_bench" handles curl "$handles_n")
    handles_dpop=$("${tls_server[@]}" env DPOP_CA_FILE="$tls/ca.pem" "$out/https_bench" handles dpop "$handles_n")
fi
say "HTTPS soak: 1 thread x $long_requests keep-alive requests on one handle, ${long_ttl} s tokens"
if ! long=$(benches/soak.sh --tls 1 "$long_requests" "$long_ttl"); then
    echo "$long" >&2; echo "FAILED: the HTTPS soak, 1 thread" >&2; exit 1
fi
say "HTTPS soak: $many_threads threads x $many_requests requests on one handle, nonce rotating every $((many_threads * 10))"
# The smoke's 64 x 10 requests end while the 64 connections are still opening: its RSS is
# reported, not judged (benches/c/soak.c); the full run's 64 x 2000 judges it.
if ! many=$(SOAK_RSS_UNJUDGED=$smoke benches/soak.sh --tls "$many_threads" "$many_requests" 2 $((many_threads * 10))); then
    echo "$many" >&2; echo "FAILED: the HTTPS soak, $many_threads threads" >&2; exit 1
fi
of() { value "$1" "$(sed -n 's/^soak //p' <<<"$2")"; }
long_warm=$(of rss_at_warm_kib "$long") long_final=$(of rss_final_kib "$long")
long_growth=$(of rss_growth_after_warm_kib "$long") long_max=$(of rss_maxrss_kib "$long")

# --- size and cold start -------------------------------------------------------------------
say "stripped size of libdpop.so next to OpenSSL's libssl + libcrypto"
strip -o "$out/libdpop.stripped.so" "$libdir/libdpop.so"
size_dpop=$(stat -c %s "$out/libdpop.stripped.so")
size_ossl=0
for lib in $(ldd "$(command -v openssl)" | awk '/libssl|libcrypto/ {print $3}'); do
    strip -o "$out/ref.stripped.so" "$lib"
    size_ossl=$((size_ossl + $(stat -c %s "$out/ref.stripped.so")))
done
rm -f "$out/ref.stripped.so"
# The DLLs of the last `make windows` (windows/build.sh strips them), when there are any.
dll_rows=()
for arch in x86_64 i686; do
    dll=build/windows/$arch/dpop.dll
    if [ -f "$dll" ]; then
        dll_rows+=("| dpop.dll $arch (stripped, from the last make windows, $(date -r "$dll" -u +%Y-%m-%d)) vs libdpop.so stripped | $(($(stat -c %s "$dll") / 1024)) KiB | $((size_dpop / 1024)) KiB | $(ratio "$(stat -c %s "$dll")" "$size_dpop") | | |")
    else
        dll_rows+=("| dpop.dll $arch: not built (run make windows first) | | | | | |")
    fi
done
dll_table=$(printf '%s\n' "${dll_rows[@]}")

say "cold start: $cold_runs processes that load a PEM key and sign, libdpop and openssl"
key="$out/cold-start-key.pem"
[ -s "$key" ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" 2>/dev/null
printf '{"htm":"GET","htu":"https://api.example.com/resource"}' > "$out/cold-start-input"
case $("$out/cold_start" "$key") in
    ey*.*.*) ;;
    *) echo "cold_start made no proof" >&2; exit 1 ;;
esac
openssl dgst -sha256 -sign "$key" -out /dev/null "$out/cold-start-input"
ms_per_run() { # COMMAND... -> milliseconds per run, over cold_runs runs
    local start end
    start=$(date +%s%N)
    for _ in $(seq "$cold_runs"); do "$@" >/dev/null; done
    end=$(date +%s%N)
    awk -v ns=$((end - start)) -v n="$cold_runs" 'BEGIN { printf "%.2f", ns / n / 1e6 }'
}
ms_per_run "$out/cold_start" "$key" >/dev/null # page cache, dynamic loader cache
cold_dpop=$(ms_per_run "$out/cold_start" "$key")
cold_ossl=$(ms_per_run openssl dgst -sha256 -sign "$key" -out /dev/null "$out/cold-start-input")

# --- the table ----------------------------------------------------------------------------
load_end=$(load)
if [ "$curl_ok" = 1 ]; then
    h() { value "$1" "$https"; }
    https_rows="| HTTPS keep-alive GET /plain (pinned): dpop_http with DPoP (cached token) vs libcurl $(curl-config --version | cut -d' ' -f2) without DPoP | $(h dpop_ip_us) us | $(h curl_ip_us) us | $(ratio "$(h dpop_ip_us)" "$(h curl_ip_us)") | | |
| what DPoP adds to an HTTPS request (dpop_http with DPoP minus libcurl) vs one ES256 proof signature, same rounds | +$(h added_us) us | $(h proof_us) us | $(ratio "$(h added_us)" "$(h proof_us)") | <= 1.25x | $(check "$(ratio "$(h added_us)" "$(h proof_us)" | tr -d x)" "<=" 1.25) |
| of which DPoP itself: dpop_http with DPoP minus without key or token, vs one proof signature | $(awk -v a="$(h dpop_ip_us)" -v b="$(h bare_ip_us)" 'BEGIN { printf "%+.1f", a - b }') us | $(h proof_us) us | $(ratio "$(awk -v a="$(h dpop_ip_us)" -v b="$(h bare_ip_us)" 'BEGIN { print a - b }')" "$(h proof_us)") | | |
| HTTPS keep-alive: dpop_http without key or token vs libcurl (the transport alone) | $(h bare_ip_us) us | $(h curl_ip_us) us | $(ratio "$(h bare_ip_us)" "$(h curl_ip_us)") | | |
| the same in the client's CPU time (this process, every thread, per request; the server's work and the waits left out): what DPoP adds (dpop_http with DPoP minus libcurl) vs one proof's CPU time | +$(h added_cpu_us) us | $(h proof_cpu_us) us | $(ratio "$(h added_cpu_us)" "$(h proof_cpu_us)") | <= 1.25x | $(check "$(ratio "$(h added_cpu_us)" "$(h proof_cpu_us)" | tr -d x)" "<=" 1.25) |
| of which DPoP itself, client CPU: dpop_http with DPoP minus without key or token, vs one proof's CPU time | +$(h dpop_self_cpu_us) us | $(h proof_cpu_us) us | $(ratio "$(h dpop_self_cpu_us)" "$(h proof_cpu_us)") | | |
| HTTPS keep-alive, the transport alone, client CPU per request: dpop_http without key or token vs libcurl | $(h bare_ip_cpu_us) us | $(h curl_ip_cpu_us) us | $(ratio "$(h bare_ip_cpu_us)" "$(h curl_ip_cpu_us)") | | |
| HTTPS, a new TLS connection per request (handshake included): dpop_http with DPoP vs libcurl | $(h dpop_fresh_us) us | $(h curl_fresh_us) us | $(ratio "$(h dpop_fresh_us)" "$(h curl_fresh_us)") | <= 1.10x | $(check "$(ratio "$(h dpop_fresh_us)" "$(h curl_fresh_us)" | tr -d x)" "<=" 1.10) |
| HTTPS, a new TLS connection per request: dpop_http without key or token vs libcurl | $(h bare_fresh_us) us | $(h curl_fresh_us) us | $(ratio "$(h bare_fresh_us)" "$(h curl_fresh_us)") | | |
| HTTPS keep-alive, dpop_http with DPoP: to localhost vs to 127.0.0.1 (libcurl: $(h curl_name_us) vs $(h curl_ip_us) us) | $(h dpop_name_us) us | $(h dpop_ip_us) us | $(awk -v d="$(h name_extra_us)" 'BEGIN { printf "%+.1f us", d }') = $(ratio "$(h name_extra_us)" "$(h proof_us)") of a proof | < 0.1x of a proof | $(check "$(ratio "$(h name_extra_us)" "$(h proof_us)" | tr -d x)" "<" 0.1) |
| the same in the client's CPU time: localhost vs 127.0.0.1, dpop_http with DPoP | $(h dpop_name_cpu_us) us | $(h dpop_ip_cpu_us) us | $(awk -v d="$(h name_extra_cpu_us)" 'BEGIN { printf "%+.2f us", d }') = $(ratio "$(h name_extra_cpu_us)" "$(h proof_cpu_us)") of a proof | < 0.1x of a proof | $(check "$(ratio "$(h name_extra_cpu_us)" "$(h proof_cpu_us)" | tr -d x)" "<" 0.1) |
| memory of one more handle with one open HTTPS connection: dpop_http (cached token) vs libcurl easy handle, over $handles_n | $(value handles_kib_per_handle "$handles_dpop") KiB | $(value handles_kib_per_handle "$handles_curl") KiB | $(ratio "$(value handles_kib_per_handle "$handles_dpop")" "$(value handles_kib_per_handle "$handles_curl")") | <= 2x | $(check "$(ratio "$(value handles_kib_per_handle "$handles_dpop")" "$(value handles_kib_per_handle "$handles_curl")" | tr -d x)" "<=" 2) |"
else
    https_rows="| HTTPS rows against libcurl | not run: $curl_pkg is not installed (install: apt-get install $curl_pkg) | | | | not measured |"
fi
if [ "$node_ok" = 1 ]; then
    node_row="| ES256 proof vs oauth4webapi 3.8 DPoP addProof (node $(node --version)) | $(num "$es256")/s | $(num "$node_rate")/s | $(ratio "$es256" "$node_rate") | > 1x | $(check "$es256" ">=" "$node_rate") |"
else
    node_row="| ES256 proof vs oauth4webapi | $(num "$es256")/s | not run: no node 20 + npm | | > 1x | not measured |"
fi
cat <<EOF

libdpop $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1), $(date -u +%Y-%m-%d), $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(openssl version | cut -d' ' -f1-2)
load average at start $load_start, at end $load_end$( [ "$smoke" = 1 ] && echo " -- SMOKE RUN: figures are not meaningful")

| measurement | libdpop | reference (same run) | ratio | goal | |
| --- | ---: | ---: | ---: | --- | --- |
| ES256 proof, 1 thread (Rust API) vs openssl speed ecdsap256 sign | $(num "$es256")/s | $(num "$ossl256")/s | $(ratio "$es256" "$ossl256") | >= 1.0x | $(check "$es256" ">=" "$ossl256") |
| ES256 proof vs ring's bare P-256 signature of an input as long, per CPU second of the thread | $(num "$bare_proof")/s | $(num "$bare_ring")/s | $(ratio "$bare_proof" "$bare_ring") | >= 0.95x | $(check "$bare_proof" ">=" "$(awk -v r="$bare_ring" 'BEGIN{print 0.95*r}')") |
| ES384 proof vs openssl speed ecdsap384 sign | $(num "$es384")/s | $(num "$ossl384")/s | $(ratio "$es384" "$ossl384") | | |
| EdDSA proof vs openssl speed ed25519 sign | $(num "$eddsa")/s | $(num "$ossl_ed")/s | $(ratio "$eddsa" "$ossl_ed") | | |
| ES256 proof through the C ABI (dpop_proof_create) vs the Rust API | $(num "$c_abi")/s | $(num "$es256")/s | $(ratio "$c_abi" "$es256") | >= 0.95x | $(check "$c_abi" ">=" "$(awk -v r="$es256" 'BEGIN{print 0.95*r}')") |
$node_row
| one shared dpop_key, 2 threads vs 1 thread (C ABI) | $(num "$shared2")/s | $(num "$shared1")/s | $(ratio "$shared2" "$shared1") | >= 1.8x | $(check "$shared2" ">=" "$(awk -v r="$shared1" 'BEGIN{print 1.8*r}')") |
| GET /plain with DPoP (Client, host token) vs plain ureq keep-alive: us/request | $dpop_us us | $plain_us us | +$added_us us | | |
| what DPoP adds to a plain-HTTP request (the row above) vs one ES256 proof signature, same rounds | +$added_us us | $proof_us us | $(ratio "$added_us" "$proof_us") | <= 1.25x | $(check "$(ratio "$added_us" "$proof_us" | tr -d x)" "<=" 1.25) |
| of which DPoP itself: Client with DPoP vs the same Client without key or token | $dpop_us us | $client_us us | +$dpop_only us | | |
| of which transport: Client without key or token vs plain ureq keep-alive | $client_us us | $plain_us us | $(ratio "$client_us" "$plain_us") | | |
| GET /dpop/test, server verifies token and proof, vs plain ureq on /plain | $api_us us | $plain_us us | $(ratio "$api_us" "$plain_us") | | |
| one shared Client on /plain, 2 threads vs 1 thread (the server shares the 2 CPUs) | $(num "$rps2") req/s | $(num "$rps1") req/s | $(ratio "$rps2" "$rps1") | | |
| one shared Client, 2 threads vs 2 threads with a Client each (cost of sharing) | $(num "$rps2") req/s | $(num "$rps_own") req/s | $(ratio "$rps2" "$rps_own") | | |
| 64 concurrent first calls on a new Client: token requests | $tokens | | | 1 | $(check "$tokens" "==" 1) |
| 64 concurrent first calls: ms until all have their response, vs 64 with the token cached | $first_ms ms | $warm_ms ms | $(ratio "$first_ms" "$warm_ms") | | |
| soak, $soak_threads threads x $soak_requests requests on one handle ($soak_total in ${soak_secs} s, $(num "$soak_rps") req/s): failed requests | $(soak_value failed) | | | 0 | $(check "$(soak_value failed)" "==" 0) |
| soak: tokens issued vs 2 s lifetime windows spanned (nonce retries: API $soak_nonce, token endpoint $soak_nonce_token) | $soak_issued | $soak_windows | $(ratio "$soak_issued" "$soak_windows") | within 1 | $(awk -v a="$soak_issued" -v b="$soak_windows" 'BEGIN { print (a - b <= 1 && b - a <= 1) ? "met" : "NOT met" }') |
| soak: median RSS in the last quarter of the requests vs in the second (peak $soak_peak KiB) | $soak_q4 KiB | $soak_q2 KiB | $( [ "$soak_growth" -ge 0 ] && echo +)$soak_growth KiB | < +4096 KiB | $(check "$soak_growth" "<" 4096) |
$https_rows
| HTTPS soak, 1 thread x $(of requests "$long") keep-alive requests on one handle, ${long_ttl} s tokens ($(of tokens_issued "$long") issued, $(num "$(of requests_per_sec "$long")") req/s): VmRSS after the last request vs after request 1000 (peak $long_max KiB) | $long_final KiB | $long_warm KiB | $( [ "$long_growth" -ge 0 ] && echo +)$long_growth KiB | < +1024 KiB | $(check "$long_growth" "<" 1024) |
| HTTPS soak, $many_threads threads x $many_requests requests on one handle ($(of requests "$many") in $(of seconds "$many") s): failed requests (peak RSS $(of rss_maxrss_kib "$many") KiB) | $(of failed "$many") | | | 0 | $(check "$(of failed "$many")" "==" 0) |
| libdpop.so stripped (crypto, TLS, HTTP) vs libssl.so.3 + libcrypto.so.3 stripped | $((size_dpop / 1024)) KiB | $((size_ossl / 1024)) KiB | $(ratio "$size_dpop" "$size_ossl") | < 3072 KiB | $(check "$size_dpop" "<" $((3 << 20))) |
$dll_table
| cold start: process loads a PEM key, signs one proof vs openssl dgst -sha256 -sign | $cold_dpop ms | $cold_ossl ms | $(ratio "$cold_dpop" "$cold_ossl") | | |

ratio = libdpop / reference: for rates higher is better, for times and sizes lower is better.
EOF

if [ "$tokens" != 1 ]; then
    echo "FAILED: 64 concurrent first calls made $tokens token requests" >&2
    exit 1
fi
if [ "$smoke" = 1 ]; then
    echo "benchmark smoke run: every part built and ran; 64 concurrent first calls made 1 token request;" \
         "the soaks ($soak_total requests over HTTP, $(of requests "$long") and $(of requests "$many") over HTTPS) passed their checks;" \
         "$( [ "$curl_ok" = 1 ] && echo "the libcurl comparison answered 200 to every request" || echo "the libcurl rows were skipped: $curl_pkg is not installed")"
fi
