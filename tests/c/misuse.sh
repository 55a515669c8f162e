#!/bin/sh
# The FFI misuse sweep: generates build/misuse.c from include/dpop.h (tests/c/gen_misuse.py),
# compiles it as the Makefile compiles the C tests, and runs it, under valgrind when installed.
# Prints "misuse: N calls checked, M failed"; exits non-zero when a call failed, the program
# crashed, valgrind found an error, or the generator met an export it cannot sweep.
#
#   tests/c/misuse.sh            (after `make lib` or `cargo build --release --lib`)
#   BUILD_DIR=... CC=... PYTHON=... VALGRIND=no tests/c/misuse.sh
set -eu

cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BUILD=${BUILD_DIR:-build}
CC=${CC:-cc}
PYTHON=${PYTHON:-python3}
CFLAGS=${CFLAGS:--O2 -g}
LIBDIR=target/release

if [ ! -f "$LIBDIR/libdpop.so" ]; then
    echo "misuse: $LIBDIR/libdpop.so is missing: run 'make lib' (cargo build --release --lib) first" >&2
    exit 1
fi

mkdir -p "$BUILD/misuse.d"
"$PYTHON" tests/c/gen_misuse.py --header include/dpop.h "$BUILD/misuse.c"
# shellcheck disable=SC2086 # CFLAGS holds several flags
"$CC" $CFLAGS -std=c11 -Wall -Wextra -Werror -Iinclude -Itests/c -o "$BUILD/misuse" "$BUILD/misuse.c" \
    -L"$LIBDIR" -ldpop -pthread -Wl,-rpath,"$ROOT/$LIBDIR"

# The same valgrind options as the Makefile's VALGRIND_RUN.
RUN=
if [ "${VALGRIND:-}" != no ] && command -v valgrind >/dev/null 2>&1; then
    RUN="valgrind --quiet --error-exitcode=99 --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite"
fi
exec $RUN "$BUILD/misuse" "$BUILD/misuse.d"
