#!/usr/bin/env bash
# make test: sets up what the tests need, runs every suite, and ends with a summary.
#
#   tests/run-all.sh              (make test)
#   DPOP_STRICT=1 tests/run-all.sh   a skipped suite counts as failed (CI: .ci/run)
#
# Set-up, each step said as it runs:
#   - rustfmt and clippy (rustup component add) when missing;
#   - cbindgen 0.29.4 into build/tools (cargo install --root), unless that version is there;
#   - the Python test packages (tests/python/requirements.txt) into a virtualenv, build/venv;
#   - system packages (valgrind, g++, cmake, pkg-config, openssl, node 20 + npm, and libcurl's
#     headers, libcurl4-openssl-dev, for the benchmarks' libcurl rows) with apt-get when running as root
#     on Debian; otherwise the suites that need a missing one are skipped, with the package and
#     the command that installs it.
# Every suite runs, whatever happened to the ones before; the exit status is 0 only when none
# failed (and, with DPOP_STRICT=1, none was skipped).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=build
tools=$root/$build/tools
venv=$root/$build/venv
strict=${DPOP_STRICT:-0}
mkdir -p "$build"

say() { echo "== make test: $*"; }
have() { command -v "$1" >/dev/null 2>&1; }

# --- set-up ---------------------------------------------------------------------------------
apt_updated=0
apt_install() { # apt_install PACKAGE...: as root on Debian only; says what it does
    if [ "$(id -u)" != 0 ] || ! have apt-get; then
        return 1
    fi
    if [ "$apt_updated" = 0 ]; then
        say "apt-get update"
        apt-get update -qq || say "apt-get update reported errors; trying the install anyway"
        apt_updated=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# Missing tools: name -> what is missing and how to install it.
declare -A missing=()
need() { # need COMMAND PACKAGE
    have "$1" && return 0
    apt_install "$2" && have "$1" && return 0
    missing[$1]="$2 (install: apt-get install $2)"
    return 1
}
need openssl openssl
need g++ g++
need cmake cmake
need pkg-config pkg-config
# Without valgrind the C programs still run (the Makefile then runs them bare); the summary
# says that their valgrind run was skipped.
need valgrind valgrind
# libcurl's headers: without them the benchmark smoke skips its libcurl rows and says so.
if ! printf '#include <curl/curl.h>\n' | cc -E -x c - >/dev/null 2>&1; then
    apt_install libcurl4-openssl-dev >/dev/null || say "libcurl4-openssl-dev is not installed: the benchmarks' libcurl rows are skipped"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ] || ! have npm; then
    apt_install nodejs npm >/dev/null || true
    node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
    if [ "$node_major" -lt 20 ] || ! have npm; then
        missing[node]="nodejs (version 20 or later) and npm (install: apt-get install nodejs npm)"
    fi
fi

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    say "rustup component add rustfmt clippy"
    rustup component add rustfmt clippy
fi

# The fuzz smoke runs on the nightly toolchain (cargo-fuzz; fuzz/run.sh installs cargo-fuzz).
if ! cargo +nightly --version >/dev/null 2>&1; then
    say "rustup toolchain install nightly --profile minimal (for the fuzz smoke)"
    rustup toolchain install nightly --profile minimal || true
    if ! cargo +nightly --version >/dev/null 2>&1; then
        missing[nightly]="the Rust nightly toolchain (install: rustup toolchain install nightly)"
    fi
fi

cbindgen=$tools/bin/cbindgen
if ! "$cbindgen" --version 2>/dev/null | grep -q '^cbindgen 0\.29\.4$'; then
    say "cargo install cbindgen 0.29.4 into $build/tools (once)"
    cargo install cbindgen --version 0.29.4 --locked --root "$tools"
fi

python=$venv/bin/python
if [ ! -x "$python" ]; then
    say "python3 -m venv $build/venv"
    python3 -m venv "$venv"
fi
if ! "$python" -c 'import pytest, jwcrypto, cryptography' 2>/dev/null ||
   [ tests/python/requirements.txt -nt "$venv/.installed" ]; then
    say "pip install -r tests/python/requirements.txt into $build/venv"
    "$python" -m pip install -q --disable-pip-version-check -r tests/python/requirements.txt && touch "$venv/.installed"
fi

# --- suites ---------------------------------------------------------------------------------
names=()
outcomes=()
passed=0
failed=0
skipped=0
record() { # record NAME OUTCOME
    names+=("$1")
    outcomes+=("$2")
}
suite() { # suite NAME MAKE_TARGET [REQUIRED_COMMAND...]
    local name=$1 target=$2 cmd
    shift 2
    for cmd in "$@"; do
        if [ -n "${missing[$cmd]:-}" ]; then
            local why="needs ${missing[$cmd]}"
            say "$name: SKIPPED: $why"
            record "$name" "skipped: $why"
            skipped=$((skipped + 1))
            return
        fi
    done
    say "$name (make $target)"
    if make --no-print-directory "$target" CBINDGEN_BIN="$cbindgen" PYTHON="$python"; then
        record "$name" "passed"
        passed=$((passed + 1))
    else
        record "$name" "FAILED"
        failed=$((failed + 1))
    fi
}

suite "header matches the sources" check-header
suite "rustfmt and clippy" lint
suite "Rust tests (core, C ABI, test server, CLI)" rust-test
suite "benchmarks (smoke)" bench-smoke openssl
suite "fuzz targets: seed corpora replayed, 3 s of fuzzing each" fuzz-smoke nightly
suite "C programs, misuse sweep, reference sample" c-test
if [ -n "${missing[valgrind]:-}" ]; then
    why="valgrind is not installed (install: apt-get install valgrind): the C programs ran without it"
    say "valgrind: SKIPPED: $why"
    record "the C programs under valgrind" "skipped: $why"
    skipped=$((skipped + 1))
fi
suite "C programs under ASan, LSan and UBSan" sanitize
suite "interop: oidc-provider, jose, oauth4webapi" interop node
suite "bindings: C++, Python, DataFlex checkers" bindings-test g++
suite "Python tests against OpenSSL, jwcrypto, cryptography" py-test openssl
suite "install: pkg-config, pkg-config --static, CMake" install-test cmake pkg-config

echo
echo "make test summary:"
for i in "${!names[@]}"; do
    printf '  %-58s %s\n' "${names[$i]}" "${outcomes[$i]}"
done
if [ "$strict" = 1 ] && [ "$skipped" -gt 0 ]; then
    echo "  (DPOP_STRICT=1: $skipped skipped suite(s) count as failed)"
    failed=$((failed + skipped))
fi
echo "$passed passed, $failed failed$([ "$skipped" -gt 0 ] && echo ", $skipped skipped")"
[ "$failed" -eq 0 ]
