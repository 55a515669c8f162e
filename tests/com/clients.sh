#!/usr/bin/env bash
# The COM server of dpop.dll from C, under Wine: late binding, early binding, the type library.
#
#   tests/com/clients.sh DIST_DIR
#
# DIST_DIR holds the x86_64 dpop.dll, registered by the caller (wine regsvr32) in $WINEPREFIX.
# This script compiles into DIST_DIR, with mingw-w64 (-Wall -Wextra -Werror):
#   late_binding.exe   (tests/com/late_binding.c)   IDispatch only: ProgIDs, GetIDsOfNames, Invoke
#   early_binding.exe  (tests/com/early_binding.c)  the interfaces' vtables, through dpop_com.h and
#                      dpop_com_i.c, which widl makes here from src/com/dpop.idl
#   typelib_dump.exe   (tests/com/typelib_dump.c)   prints the type library embedded in the DLL
# then runs the two clients, each against a fresh test server that demands DPoP nonces
# (tests/with_server.sh --require-nonce), checks their session logs (a nonce was demanded, no
# secret written), and runs tests/com/check_typelib.py (its self-test, then the DLL's type
# library against the IDL). Every step runs; the exit status is 1 when any failed.
#
# Tools, overridable like build.rs's: DPOP_WIDL (x86_64-w64-mingw32-widl), DPOP_IDL_INCLUDE
# (the directory of oaidl.idl, /usr/include/wine/wine/windows).
set -euo pipefail
cd "$(dirname "$0")/../.."

[ $# -eq 1 ] || { echo "usage: $0 DIST_DIR (with dpop.dll registered in \$WINEPREFIX)" >&2; exit 2; }
dist=$(cd "$1" && pwd)
cc=x86_64-w64-mingw32-gcc
widl=${DPOP_WIDL:-x86_64-w64-mingw32-widl}
include=${DPOP_IDL_INCLUDE:-/usr/include/wine/wine/windows}
export WINEDEBUG=${WINEDEBUG:--all}

missing=()
for tool in "$cc" "$widl" wine python3 openssl; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] || { echo "com clients: missing ${missing[*]}" >&2; exit 1; }
[ -f "$dist/dpop.dll" ] || { echo "com clients: $dist/dpop.dll does not exist" >&2; exit 1; }
[ -n "${WINEPREFIX:-}" ] || { echo "com clients: set WINEPREFIX to the prefix dpop.dll is registered in" >&2; exit 1; }
[ -x target/release/dpop-test-server ] || cargo build -q --release -p dpop-testserver --bin dpop-test-server

failures=()
# Runs one step, named by its first argument; a failure is recorded and the next step runs.
step() {
    local what=$1
    shift
    echo "== com clients: $what"
    echo "   \$ $*"
    if "$@"; then
        echo "   ok: $what"
    else
        echo "   FAILED: $what (exit $?)"
        failures+=("$what")
    fi
}

echo "== com clients: compiling into $dist (dpop.dll from $dist, Wine prefix $WINEPREFIX)"
"$widl" -I"$include" -h -o "$dist/dpop_com.h" src/com/dpop.idl
"$widl" -I"$include" -u -o "$dist/dpop_com_i.c" src/com/dpop.idl
flags=(-std=c11 -municode -Wall -Wextra -Werror -O2 -Itests/c)
"$cc" "${flags[@]}" -o "$dist/late_binding.exe" tests/com/late_binding.c -lole32 -loleaut32 -luuid
"$cc" "${flags[@]}" -I"$dist" -o "$dist/early_binding.exe" tests/com/early_binding.c "$dist/dpop_com_i.c" \
    -lole32 -loleaut32 -luuid
"$cc" "${flags[@]}" -o "$dist/typelib_dump.exe" tests/com/typelib_dump.c -lole32 -loleaut32 -luuid
echo "   late_binding.exe, early_binding.exe (with widl's dpop_com.h), typelib_dump.exe"

key=$dist/com-clients-ec.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" 2>/dev/null

# The session log of a run: the token endpoint or the API demanded a nonce, and no secret is in it.
log_is_clean() {
    local log=$1 secret=$2
    grep -q 'use_dpop_nonce' "$log" || { echo "   $log: no nonce was demanded" >&2; return 1; }
    if grep -q -- "$secret" "$log"; then
        echo "   $log contains the client secret" >&2
        return 1
    fi
}

for client in late_binding early_binding; do
    secret=com-$client-secret-$RANDOM$RANDOM
    log=$dist/$client.session.log
    rm -f "$log"
    step "$client.exe against the test server (nonces required)" \
        env BUILD_DIR="$dist" tests/with_server.sh --require-nonce --client "m2m.dpop:$secret" -- \
        env DPOP_CLIENT_SECRET="$secret" DPOP_SESSION_LOG="$log" timeout 300 wine "$dist/$client.exe" "$key"
    step "$client.exe: its session log shows the nonce demand and no secret" log_is_clean "$log" "$secret"
done

step "check_typelib.py --self-test (each fault put into a good dump is reported)" \
    python3 tests/com/check_typelib.py --self-test
step "check_typelib.py: the type library in dpop.dll against src/com/dpop.idl" \
    python3 tests/com/check_typelib.py "$dist/dpop.dll" --exe "$dist/typelib_dump.exe" --out "$dist/typelib.txt"

echo
if [ ${#failures[@]} -gt 0 ]; then
    echo "com clients: ${#failures[@]} failed:"
    printf '  %s\n' "${failures[@]}"
    exit 1
fi
echo "com clients: late binding, early binding and the type library all passed under Wine"
