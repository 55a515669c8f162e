#!/usr/bin/env bash
# The interop suite: libdpop against oidc-provider, jose and oauth4webapi (see run.mjs).
#
#   tests/interop/run.sh
#   INTEROP_ONLY='server check' tests/interop/run.sh     # only the tests whose names match
#
# Needs `make all` first (target/release/libdpop.so, target/release/dpop-test-server,
# build/client_credentials, build/dpoptool), node >= 20 and npm. Installs the locked node
# packages (npm ci) when node_modules is missing or older than package-lock.json, compiles
# interop_client.c against the library, and runs run.mjs, which closes with
# "interop: N passed, M failed" and exits non-zero on any failure. Never passes by skipping.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build}
cd "$root"

fail() {
    echo "interop: $*" >&2
    echo "interop: 0 passed, 1 failed"
    exit 1
}

command -v node >/dev/null || fail "node is not installed (node >= 20 and npm are needed: apt-get install nodejs npm)"
command -v npm >/dev/null || fail "npm is not installed (apt-get install npm)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || fail "node $(node --version) is too old: node >= 20 is needed"
for f in target/release/libdpop.so target/release/dpop-test-server "$build/client_credentials" "$build/dpoptool"; do
    [ -e "$f" ] || fail "$f is missing: run 'make all' first"
done

# npm ci when node_modules is missing or stale (npm writes node_modules/.package-lock.json).
stamp="$here/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$here/package-lock.json" -nt "$stamp" ] || [ "$here/package.json" -nt "$stamp" ]; then
    echo "interop: npm ci in tests/interop"
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci failed"
fi

mkdir -p "$build/interop"
${CC:-cc} -std=c11 -Wall -Wextra -Werror -O2 -g -Iinclude -o "$build/interop/interop_client" \
    "$here/interop_client.c" -Ltarget/release -ldpop -Wl,-rpath,"$root/target/release" \
    || fail "interop_client.c does not compile"

# run.mjs prints the closing line itself; if node dies before it (a crash, a failed import),
# say so in the same form.
output="$build/interop/output.txt"
set +e
BUILD_DIR="$build" node "$here/run.mjs" 2>&1 | tee "$output"
status=${PIPESTATUS[0]}
set -e
if ! grep -Eq '^interop: [0-9]+ passed, [0-9]+ failed$' "$output"; then
    fail "run.mjs ended (status $status) before reporting its tests"
fi
exit "$status"
