#!/usr/bin/env bash
# make install-test: libdpop installed the way a C or C++ host consumes it, then used so.
#   1. make install PREFIX=<temporary prefix>, and once more with DESTDIR (a staged install);
#   2. examples-c/client_credentials.c built three ways from the installed tree alone:
#      pkg-config --cflags --libs dpop (shared, NEEDED libdpop.so.0), pkg-config --static
#      (libdpop.a and its Libs.private: no libdpop.so needed), and a CMake project using
#      find_package(dpop) (dpop::dpop and dpop::dpop_static);
#   3. each binary run against the local test server: status 200.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
build=${BUILD_DIR:-build}
work=$root/$build/install-test
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*" >&2; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }

echo "== install: make install PREFIX=$prefix"
make --no-print-directory -s install PREFIX="$prefix" >/dev/null
for f in include/dpop.h lib/libdpop.so.0.1.0 lib/libdpop.so.0 lib/libdpop.so lib/libdpop.a \
         lib/pkgconfig/dpop.pc lib/cmake/dpop/dpopConfig.cmake lib/cmake/dpop/dpopConfigVersion.cmake; do
    check "installed $f" test -e "$prefix/$f"
done
check "libdpop.so.0 links to libdpop.so.0.1.0" test "$(readlink "$prefix/lib/libdpop.so.0")" = libdpop.so.0.1.0
check "the library's soname is libdpop.so.0" \
    bash -c "readelf -d '$prefix/lib/libdpop.so.0.1.0' | grep -q 'Library soname: \[libdpop.so.0\]'"

echo "== install: make install DESTDIR=$work/stage PREFIX=/opt/dpop"
make --no-print-directory -s install DESTDIR="$work/stage" PREFIX=/opt/dpop >/dev/null
check "a staged install lands under DESTDIR" test -e "$work/stage/opt/dpop/lib/libdpop.so.0.1.0"
check "a staged install's dpop.pc names the final prefix" grep -q '^prefix=/opt/dpop$' "$work/stage/opt/dpop/lib/pkgconfig/dpop.pc"

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
example=$root/examples-c/client_credentials.c
cc=${CC:-cc}
echo "== install: building $example from the installed tree"
# shellcheck disable=SC2046
check "pkg-config --cflags --libs dpop" \
    "$cc" -std=c11 -Wall -Wextra -Werror -o "$work/cc_pkgconfig" "$example" \
    $(pkg-config --cflags --libs dpop) -Wl,-rpath,"$prefix/lib"
check "the pkg-config build needs libdpop.so.0" \
    bash -c "readelf -d '$work/cc_pkgconfig' | grep -q 'NEEDED.*\[libdpop.so.0\]'"
static_libs=$(pkg-config --static --libs dpop | sed -e 's/-L[^ ]*//g' -e 's/-ldpop\b//')
# shellcheck disable=SC2046,SC2086
check "pkg-config --static (libdpop.a and Libs.private)" \
    "$cc" -std=c11 -Wall -Wextra -Werror -o "$work/cc_static" "$example" $(pkg-config --cflags dpop) \
    "$prefix/lib/libdpop.a" $static_libs
check "the static build needs no libdpop.so" bash -c "! readelf -d '$work/cc_static' | grep -q libdpop"
if command -v cmake >/dev/null; then
    check "cmake: find_package(dpop) configures" \
        cmake -S tests/install -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DEXAMPLE="$example" \
        -DCMAKE_BUILD_RPATH="$prefix/lib" -DCMAKE_C_FLAGS="-Wall -Wextra -Werror"
    check "cmake: dpop::dpop and dpop::dpop_static build" cmake --build "$work/cmake"
else
    fail "cmake is not installed (apt-get install cmake)"
fi

run_example() { # run_example BINARY
    local bin=$1 secret=install-secret-Hq7
    [ -x "$bin" ] || return 1
    BUILD_DIR=$work tests/with_server.sh --require-nonce --client "m2m.dpop:$secret" -- \
        env DPOP_CLIENT_SECRET=$secret DPOP_KEY_FILE="$work/ec.pem" "$bin" > "$bin.out" &&
        grep -q '^status: 200$' "$bin.out"
}
for bin in "$work/cc_pkgconfig" "$work/cc_static" "$work/cmake/client_credentials_cmake" \
           "$work/cmake/client_credentials_cmake_static"; do
    check "$(basename "$bin") gets status 200 from the test server" run_example "$bin"
done

echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
