#!/usr/bin/env bash
# Runs the tests of every binding, after `make all` (libdpop.so and dpop-test-server):
#   1. C++: builds bindings/cpp/test_dpop (two translation units, -Wall -Wextra -Werror and
#      more) and runs it against a fresh local test server, which also registers a
#      private_key_jwt client with an RSA key made here by openssl (its public JWK from
#      `dpop jwk`) and a public client for the sign-in (desktop.cpp); then again built with AddressSanitizer and UndefinedBehaviorSanitizer
#      (CPP_SANITIZE=0 skips that run);
#   2. pytest: the Python binding against libdpop and test servers, and the DataFlex checker;
#   3. bindings/python/check_install.sh: pip install into a fresh virtualenv.
# Runs them all, then exits non-zero if any failed.
#
# Environment: CXX (g++), PYTHON (python3), BUILD_DIR (build), CPP_SANITIZE (1).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD_DIR:-build}
cxx=${CXX:-g++}
python=${PYTHON:-python3}
lib=$root/target/release/libdpop.so
server=$root/target/release/dpop-test-server
cli=$root/target/release/dpop
for f in "$lib" "$server" "$cli"; do
    [ -f "$f" ] || { echo "run-tests: $f is missing: run 'make all' first" >&2; exit 1; }
done
mkdir -p "$build"

passed=0
failed=0
failures=()
step() {
    local name=$1
    shift
    echo "== bindings: $name"
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "== bindings: $name FAILED" >&2
    fi
}

cxxflags=(-std=c++17 -Wall -Wextra -Werror -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast)
cpp_sources=(bindings/cpp/test_dpop.cpp bindings/cpp/test_dpop_odr.cpp)
cpp_link=(-L"$root/target/release" -ldpop -Wl,-rpath,"$root/target/release" -pthread)
cpp_secret=cpp-binding-secret-7Hs2Lq
# The private_key_jwt client's assertion key (PKCS#8 PEM) and its public JWK for the server.
cpp_assertion_key=$build/cpp-assertion.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$cpp_assertion_key" 2>/dev/null &&
    "$cli" jwk "$cpp_assertion_key" > "$build/cpp-assertion.jwk" ||
    { echo "run-tests: cannot make the C++ test's RSA assertion key (openssl, dpop jwk)" >&2; exit 1; }

cpp_test() {  # cpp_test OUTPUT EXTRA_FLAGS...
    local out=$1
    shift
    "$cxx" "${cxxflags[@]}" "$@" -Iinclude -Ibindings/cpp "${cpp_sources[@]}" -o "$out" "${cpp_link[@]}" &&
        BUILD_DIR=$build DPOP_CLIENT_SECRET=$cpp_secret \
            DPOP_ASSERTION_KEY=$cpp_assertion_key DPOP_ASSERTION_CLIENT=pkjwt.cpp DPOP_SIGN_IN_CLIENT=desktop.cpp \
            tests/with_server.sh --client "m2m.dpop:$cpp_secret" \
            --client-key "pkjwt.cpp:$build/cpp-assertion.jwk" --public-client desktop.cpp -- "$out"
}

step "C++ (g++ -std=c++17 -Werror)" cpp_test "$build/cpp_test_dpop" -O2 -g
if [ "${CPP_SANITIZE:-1}" != 0 ]; then
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
    step "C++ under ASan and UBSan" cpp_test "$build/cpp_test_dpop_sanitized" -O1 -g -fno-omit-frame-pointer \
        -fsanitize=address,undefined -fno-sanitize-recover=undefined
fi
step "Python binding and DataFlex checker (pytest)" \
    env DPOP_LIBRARY="$lib" "$python" -m pytest -q -p no:cacheprovider bindings/python/tests bindings/dataflex
step "pip install into a fresh virtualenv" env DPOP_LIBRARY="$lib" PYTHON="$python" bindings/python/check_install.sh

if [ "$failed" -ne 0 ]; then
    echo "bindings: failed: ${failures[*]}" >&2
fi
echo "bindings: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
