#!/usr/bin/env bash
# Runs a command against a fresh local DPoP test server on 127.0.0.1.
#
#   tests/with_server.sh [SERVER FLAGS...] -- COMMAND [ARGS...]
#
# Starts target/release/dpop-test-server with the flags on a free port, exports
# DPOP_TOKEN_ENDPOINT and DPOP_API_URL for it, runs COMMAND, stops the server and exits with
# COMMAND's status. The server's request log goes to $BUILD_DIR/test-server.log.
set -euo pipefail
cd "$(dirname "$0")/.."
server=target/release/dpop-test-server
build=${BUILD_DIR:-build}
mkdir -p "$build"

flags=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do flags+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "usage: $0 [SERVER FLAGS...] -- COMMAND [ARGS...]" >&2; exit 2; }

port_file=$(mktemp "$build/port.XXXXXX")
rm -f "$port_file"
"$server" --port 0 --port-file "$port_file" "${flags[@]}" >/dev/null 2>"$build/test-server.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -f "$port_file"' EXIT
for _ in $(seq 1 100); do
    [ -s "$port_file" ] && break
    kill -0 $pid 2>/dev/null || { echo "the test server did not start:" >&2; cat "$build/test-server.log" >&2; exit 1; }
    sleep 0.05
done
[ -s "$port_file" ] || { echo "the test server did not report its port" >&2; exit 1; }
port=$(cat "$port_file")
scheme=http
for f in "${flags[@]}"; do [ "$f" = "--tls-cert" ] && scheme=https; done
export DPOP_TOKEN_ENDPOINT="$scheme://127.0.0.1:$port/token"
export DPOP_API_URL="$scheme://127.0.0.1:$port/dpop/test"
set +e
"$@"
status=$?
set -e
exit $status
