#!/usr/bin/env bash
# libdpop fuzzing: builds the cargo-fuzz targets in fuzz/ and runs each one with libFuzzer.
#
#   fuzz/run.sh --smoke     `make test`: replays every target's seed corpus (fuzz/corpus/<target>/),
#                           then fuzzes each target for 3 seconds in a scratch corpus (well under a
#                           minute after the build)
#   fuzz/run.sh SECONDS     `make fuzz`: fuzzes each target for SECONDS
#   fuzz/run.sh --runs N    fuzzes each target for N executions (how FUZZING.md's figures were made)
#
# Every mode first replays each target's seed corpus; a target with a failing seed (a regression
# input whose defect is not fixed yet) is reported and not fuzzed. Targets run one after another,
# each on one core. A table follows: target, executions, time, coverage (libFuzzer's cov: edges
# and ft: features at the end of the run), crashes. Any crash, timeout (an input running longer
# than 10 s), out-of-memory or failing seed makes the script exit non-zero; new crash inputs are
# in fuzz/artifacts/<target>/ and each run's log in fuzz/target/logs/ (the smoke's in
# fuzz/target/logs/smoke/, so that the smoke of a `make test` leaves a longer run's logs alone).
# Longer runs keep what they find in fuzz/target/work-corpus/<target>/ (not committed) and start
# from it the next time; the smoke run starts from the seed corpus alone.
#
# Needs the nightly toolchain (`cargo +nightly`) and cargo-fuzz, which is installed with
# `cargo install cargo-fuzz --locked` when missing. TARGETS="htu auth_token" runs only those;
# FUZZ_FEATURES=uncovered-forms builds the targets with that feature (FUZZING.md);
# FUZZ_MAX_LEN=N caps generated inputs at N bytes (libFuzzer's -max_len; by default libFuzzer
# picks the cap from the corpus).
set -euo pipefail
cd "$(dirname "$0")"

usage() { echo "usage: $0 --smoke | SECONDS | --runs N" >&2; exit 2; }
mode=time runs=0
case "${1:-}" in
    --smoke) mode=smoke secs=3 ;;
    --runs) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || usage; mode=runs runs=$2 secs=0 ;;
    *) [[ "${1:-}" =~ ^[1-9][0-9]*$ ]] || usage; secs=$1 ;;
esac

all_targets="key_import token_response www_authenticate auth_token htu log_scrubber state_file"
targets=${TARGETS:-$all_targets}
say() { echo "== $*" >&2; }

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "the nightly toolchain is needed: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    say "cargo-fuzz is not installed: installing it with 'cargo install cargo-fuzz --locked'"
    cargo install cargo-fuzz --locked
fi

features=()
[ -n "${FUZZ_FEATURES:-}" ] && features=(--features "$FUZZ_FEATURES")
say "building the fuzz targets: cargo +nightly fuzz build ${features[*]} (release, debug assertions, AddressSanitizer)"
(cd .. && cargo +nightly fuzz build "${features[@]}")
bin=target/x86_64-unknown-linux-gnu/release
logs=target/logs
[ "$mode" = smoke ] && logs=target/logs/smoke
mkdir -p "$logs"

# libFuzzer's options for every run: inputs longer than 10 s or above 2 GiB are failures.
common=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
[ -n "${FUZZ_MAX_LEN:-}" ] && common+=(-max_len="$FUZZ_MAX_LEN")
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
rows=()

# replay TARGET DIR: runs every input of DIR once; prints the number that fail, and names each
# one with libFuzzer's or the sanitizer's verdict on stderr.
replay() {
    local t=$1 dir=$2 f verdict n=0
    if run_logged "$logs/$t-replay.log" "$bin/$t" "${common[@]}" -runs=0 \
        -artifact_prefix="$scratch/" "$dir"; then
        echo 0
        return
    fi
    # libFuzzer stops at the first failure: each input again on its own, to name them all.
    for f in "$dir"/*; do
        if ! "$bin/$t" "${common[@]}" -artifact_prefix="$scratch/" "$f" >"$scratch/one.log" 2>&1; then
            verdict=$(grep -m1 -E "^SUMMARY: " "$scratch/one.log" | awk '{print $2, $3}')
            if grep -q "panicked at" "$scratch/one.log"; then
                verdict="panic: $(grep -m1 -A1 "panicked at" "$scratch/one.log" | tail -1 | cut -c1-80)"
            fi
            echo "   fails: fuzz/$f: ${verdict:-exit status not 0}" >&2
            n=$((n + 1))
        fi
    done
    echo "$n"
}

# Prints a command, then runs it with its output in LOG; returns its status.
run_logged() {
    local log=$1
    shift
    echo "   $*" >&2
    "$@" >"$log" 2>&1
}

for t in $targets; do
    [ -x "$bin/$t" ] || { echo "no fuzz target '$t' (known: $all_targets)" >&2; exit 2; }
    seeds=corpus/$t
    artifacts=artifacts/$t
    mkdir -p "$artifacts"
    dict=()
    [ -f "dict/$t.dict" ] && dict=(-dict="dict/$t.dict")
    say "$t: replaying the $(ls "$seeds" | wc -l) inputs of fuzz/$seeds"
    failing=$(replay "$t" "$seeds")
    if [ "$failing" -gt 0 ]; then
        echo "   FAILED: $failing input(s) of fuzz/$seeds fail (above); $t is not fuzzed" >&2
        failed+=("$t")
        rows+=("$(printf '%-17s %12s %11s %7s %8s %8s' "$t" - - - - "$failing")")
        continue
    fi
    work=target/work-corpus/$t
    [ "$mode" = smoke ] && work=$scratch/$t
    mkdir -p "$work"
    limit=(-max_total_time="$secs")
    [ "$mode" = runs ] && limit=(-runs="$runs")
    say "$t: fuzzing ($([ "$mode" = runs ] && echo "$runs executions" || echo "$secs s")), new inputs to $work"
    log=$logs/$t.log
    before=$(ls "$artifacts" | wc -l)
    crashed=0
    start=$(date +%s.%N)
    if ! run_logged "$log" "$bin/$t" "${common[@]}" "${limit[@]}" "${dict[@]}" \
        -artifact_prefix="$artifacts/" "$work" "$seeds"; then
        crashed=1
        echo "   FAILED: see fuzz/$log" >&2
        grep -m1 -E "^SUMMARY" "$log" >&2 || true
        grep -E "^(artifact_prefix|Test unit written to)" "$log" >&2 || true
    fi
    elapsed=$(echo "$(date +%s.%N) - $start" | bc)
    # A run that stops early may print no figures: they show as '?'.
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$({ grep -oE '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" || true; } | tail -1 |
        sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+)/\1 \2/')
    cov=${cov:-? ?}
    crashes=$(( $(ls "$artifacts" | wc -l) - before ))
    [ "$crashed" = 1 ] && [ "$crashes" = 0 ] && crashes=1
    [ "$crashes" -gt 0 ] && failed+=("$t")
    rows+=("$(printf '%-17s %12s %9.1f s %7s %8s %8s' "$t" "${execs:-?}" "$elapsed" \
        "${cov% *}" "${cov#* }" "$crashes")")
done

echo
printf '%-17s %12s %11s %7s %8s %8s\n' target executions time cov ft crashes
for row in "${rows[@]}"; do echo "$row"; done
echo "(cov: code edges reached, ft: libFuzzer's coverage features; crashes: new crash inputs, or"
echo " for a target not fuzzed the seeds that fail; logs in fuzz/$logs/)"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}: failing seeds are named above, new crash inputs are in" \
        "fuzz/artifacts/<target>/ (run one: fuzz/$bin/<target> FILE)" >&2
    exit 1
fi
echo "no crashes"
