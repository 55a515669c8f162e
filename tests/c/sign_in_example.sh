#!/usr/bin/env bash
# examples-c/sign_in.c, run three times against one test server, which keeps its refresh tokens
# between the runs (make c-test):
#   1. no state file: the example signs in through the "browser" (build/sign_in, which GETs the
#      authorization URL and follows the test server's redirect to the loopback listener),
#      calls the API (200) and saves the state;
#   2. the state loaded: the API answers 200 and the server saw no second authorization
#      request (its log has one GET /authorize); the rotated refresh token was saved over
#      the file;
#   3. the state file of before run 2, whose refresh token run 2 spent: the server refuses it,
#      the example signs in again (a second GET /authorize) and the API answers 200.
# The state file holds neither the passphrase nor a token in the clear.
#
#   BUILD_DIR=build RUN="valgrind ..." tests/c/sign_in_example.sh
# RUN (optional) prefixes each run of the example, e.g. with valgrind or wine.
# SIGN_IN_EXAMPLE and SIGN_IN_BROWSER (optional) name the example and the browser DPOP_BROWSER
# names, when they are not $BUILD_DIR/sign_in_example and $BUILD_DIR/sign_in (windows/build.sh:
# the example's .exe under Wine and tests/com/browser.c's, by its Windows path).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD_DIR:-build}
example=${SIGN_IN_EXAMPLE:-$build/sign_in_example}
browser=${SIGN_IN_BROWSER:-$PWD/$build/sign_in}
[ -x "$example" ] || { echo "sign_in_example: $example is missing: run 'make' first" >&2; exit 1; }
[ -n "${SIGN_IN_BROWSER:-}" ] || [ -x "$browser" ] ||
    { echo "sign_in_example: $browser is missing: run 'make' first" >&2; exit 1; }

if [ "${1:-}" != --runs ]; then
    exec env BUILD_DIR="$build" tests/with_server.sh --public-client desktop-app -- "$0" --runs
fi

log=$build/test-server.log
state=$build/sign_in_example.state
passphrase=example-passphrase-Vb3x
rm -f "$state" "$state.before"
export DPOP_ISSUER=${DPOP_TOKEN_ENDPOINT%/token} DPOP_STATE_FILE=$state DPOP_STATE_PASSPHRASE=$passphrase
export DPOP_BROWSER=$browser
failed=0
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then echo "ok   $what"; else echo "FAIL $what" >&2; failed=1; fi
}
authorizations() { grep -c 'GET /authorize' "$log" || true; }
run() { # run N: the example's output in $build/sign_in_example.N.out (CRs of Windows dropped)
    # shellcheck disable=SC2086  # RUN is a command prefix, split on purpose
    ${RUN:-} "$example" 2>&1 | tr -d '\r' > "$build/sign_in_example.$1.out" ||
        { echo "FAIL run $1 of examples-c/sign_in.c:" >&2; cat "$build/sign_in_example.$1.out" >&2; exit 1; }
}

run 1
out=$build/sign_in_example.1.out
check "run 1 signed in through the browser" grep -q '^signed in through the browser$' "$out"
check "run 1: the API answered 200" grep -q '^status: 200$' "$out"
check "run 1: one authorization request" test "$(authorizations)" -eq 1
check "run 1 saved the state" test -s "$state"
check "the state file holds no passphrase" bash -c "! grep -q '$passphrase' '$state'"
cp "$state" "$state.before"

run 2
out=$build/sign_in_example.2.out
check "run 2 signed in from the saved state" grep -q '^signed in from the saved state' "$out"
check "run 2 did not open the browser" bash -c "! grep -q 'signing in' '$out'"
check "run 2: the API answered 200" grep -q '^status: 200$' "$out"
check "run 2 made no authorization request" test "$(authorizations)" -eq 1
check "run 2 saved the rotated refresh token over the file" bash -c "! cmp -s '$state' '$state.before'"

mv "$state.before" "$state"
run 3
out=$build/sign_in_example.3.out
check "run 3: the spent refresh token is refused, and the example signs in again" \
    grep -q '^the saved sign-in is no longer accepted; signing in again$' "$out"
check "run 3: the API answered 200" grep -q '^status: 200$' "$out"
check "run 3: a second authorization request" test "$(authorizations)" -eq 2

[ "$failed" -eq 0 ] && echo "sign_in example: signed in once, then from the saved state with no authorization request"
exit "$failed"
