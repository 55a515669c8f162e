#!/usr/bin/env bash
# The COM server of dpop.dll under Wine (x86_64), in a fresh WINEPREFIX:
#   1. regsvr32 registers it machine-wide;
#   2. the reference sample in VBScript and in JScript, against a test server that demands
#      nonces: status 200, a second call reusing the token (one token request), the session
#      log masked;
#   3. bad input (missing key file, wrong password, invalid AuthToken, unreachable server,
#      invalid URL, wrong argument types, a key at a non-ASCII path): False and a readable
#      LastErrorText each time, and the script goes on; then the AuthToken settings
#      (tests/com/auth_settings.vbs): private_key_jwt with an RSA assertion key file and
#      discovery through issuer (status 200), and a rejected proof explained in LastErrorText;
#      then asynchronous calls (tests/com/tasks.vbs): Dpop.Task run, waited for, cancelled
#      while the server holds the request;
#      then signing a user in and the saved state (tests/com/sign_in.vbs, with DPOP_BROWSER =
#      tests/com/browser.c: SignIn, SaveState with DPAPI, a new object's LoadState and a call
#      without signing in), and the sign-in sample (tests/com/sign_in_sample.vbs) twice, the
#      second run from the saved state with no authorization request;
#   4. C clients late-bound through IDispatch and early-bound through the type library's
#      interfaces, and the type library checked against dpop.idl (tests/com/clients.sh);
#   5. regsvr32 /u leaves no key of ours; regsvr32 /n /i:user registers under HKCU only, and
#      regsvr32 /u /n /i:user removes that.
#
#   tests/com/run.sh DIST_DIR     (DIST_DIR holds the x86_64 dpop.dll; windows/build.sh calls this)
set -euo pipefail
cd "$(dirname "$0")/../.."
dist=$1
run=$dist/com
rm -rf "$run"
mkdir -p "$run"
cp "$dist/dpop.dll" "$run/"
export WINEDEBUG=-all WINEPREFIX=$PWD/$run/prefix
echo "== COM: a fresh Wine prefix"
wineboot -i >/dev/null 2>&1

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*" >&2; }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}

# Our keys: the CLSIDs, the ProgIDs (and .1), the type library and the interfaces.
clsids=(84BDFADB-4199-4DF5-B1AE-67CFFE9C343E F8FB660C-1C63-4747-BF8F-417D60BC0488
        AB4ADB90-BEE2-42FB-88A1-25347C21265B C623A53C-81FF-4BEE-8993-59A30AF7E04A
        19AEF669-55E4-4547-8FA9-2D5C97588B8B)
progids=(Dpop.PrivateKey Dpop.Http Dpop.HttpResponse Dpop.JsonObject Dpop.Task)
iids=(4703C0EA-4C38-43B4-A530-F0B92ED6D7D5 31B919DB-1D89-4E3D-9B4E-6D6603124D21
      DCA06EAF-403C-47B8-9069-C63328DC8336 091446AA-EAFA-4ECA-8F9F-28A50C4F02BB
      DBA15797-5A39-4158-995A-77D5511541DC)
libid=5A1915DF-39A9-4941-B731-774D81604796
our_keys() { # our_keys HIVE: every top key registration writes, under HIVE\Software\Classes
    local hive=$1 k
    for k in "${clsids[@]}"; do echo "$hive\\Software\\Classes\\CLSID\\{$k}"; done
    for k in "${progids[@]}"; do echo "$hive\\Software\\Classes\\$k"; echo "$hive\\Software\\Classes\\$k.1"; done
    echo "$hive\\Software\\Classes\\TypeLib\\{$libid}"
    for k in "${iids[@]}"; do echo "$hive\\Software\\Classes\\Interface\\{$k}"; done
}
present() { wine reg query "$1" >/dev/null 2>&1; }
count_present() { # count_present HIVE -> how many of our keys exist there
    local n=0 key
    while read -r key; do present "$key" && n=$((n + 1)); done < <(our_keys "$1")
    echo $n
}
total=$(our_keys HKLM | wc -l)

echo "== COM: regsvr32 (machine-wide)"
check "regsvr32 dpop.dll" wine regsvr32 /s "$run/dpop.dll"
check "all $total keys written under HKLM" test "$(count_present HKLM)" -eq "$total"
check "the server is registered ThreadingModel=Both" \
    bash -c "wine reg query 'HKLM\\Software\\Classes\\CLSID\\{${clsids[1]}}\\InprocServer32' /v ThreadingModel | grep -q Both"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$run/ec.pem" 2>/dev/null
secret=com-secret-Wq4nZ8
sample() { # sample SCRIPT LOG: the reference sample against a server that demands nonces
    local script=$1 log=$2
    BUILD_DIR=$run tests/with_server.sh --require-nonce --client "m2m.dpop:$secret" -- \
        bash -c 'wine cscript //nologo "$0" "$1" "$DPOP_TOKEN_ENDPOINT" "$DPOP_API_URL" m2m.dpop "$2" "$3"' \
        "$script" "$run/ec.pem" "$secret" "$log" > "$log.out"
}
for script in tests/com/client_credentials.vbs tests/com/client_credentials.js; do
    name=$(basename "$script")
    log=$run/$name.session.log
    echo "== COM: the reference sample, $name (nonces required)"
    if sample "$script" "$log"; then ok "$name ran"; else fail "$name ran"; cat "$log.out" >&2; fi
    check "$name: status 200" grep -q '^status: 200' "$log.out"
    check "$name: the token's claims are printed" grep -q '"client_id":"m2m.dpop"' "$log.out"
    check "$name: the second call reused the token (200, one token issued)" \
        bash -c "grep -q '^second status: 200' '$log.out' && test \$(grep -c 'POST /token 200' '$run/test-server.log') -eq 1"
    check "$name: the token endpoint demanded a nonce" grep -q 'use_dpop_nonce' "$log"
    check "$name: the session log masks the token" grep -q 'authorization: DPoP \*\*\*\*' "$log"
    check "$name: the session log holds no secret" bash -c "! grep -q '$secret' '$log'"
done

echo "== COM: bad input"
openssl pkcs8 -topk8 -v2 aes-256-cbc -in "$run/ec.pem" -out "$run/encrypted.pem" -passout pass:right-password
unicode_key="$run/clé-ключ.pem"
cp "$run/ec.pem" "$unicode_key"
if BUILD_DIR=$run tests/with_server.sh --client "m2m.dpop:$secret" -- \
    bash -c 'wine cscript //nologo tests/com/bad_input.vbs "$0" "$DPOP_API_URL" "$1"' \
    "$run/encrypted.pem" "$unicode_key" > "$run/bad_input.out"; then
    ok "bad_input.vbs: $(tail -1 "$run/bad_input.out")"
else
    fail "bad_input.vbs"
    grep FAIL "$run/bad_input.out" >&2 || cat "$run/bad_input.out" >&2
fi

echo "== COM: AuthToken settings (private_key_jwt with issuer discovery; a rejected proof explained)"
# The assertion key: an RSA key made by openssl, its public JWK (from the dpop command) given
# to the server as a private_key_jwt client.
[ -x target/release/dpop ] || cargo build -q --release -p dpop-cli --bin dpop
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$run/rsa-assertion.pem" 2>/dev/null
target/release/dpop jwk "$run/rsa-assertion.pem" > "$run/rsa-assertion.jwk"
if BUILD_DIR=$run tests/with_server.sh --client "m2m.dpop:$secret" --client-key "pkjwt.com:$run/rsa-assertion.jwk" -- \
    bash -c 'wine cscript //nologo tests/com/auth_settings.vbs "$0" "$1" "${DPOP_TOKEN_ENDPOINT%/token}" \
        "$DPOP_API_URL" pkjwt.com "$DPOP_TOKEN_ENDPOINT" "$2"' \
    "$run/ec.pem" "$run/rsa-assertion.pem" "$secret" > "$run/auth_settings.out"; then
    ok "auth_settings.vbs: $(tail -1 "$run/auth_settings.out")"
else
    fail "auth_settings.vbs"
    grep FAIL "$run/auth_settings.out" >&2 || cat "$run/auth_settings.out" >&2
fi
grep '^info ' "$run/auth_settings.out" || true

echo "== COM: asynchronous calls (Dpop.Task: run, wait, a cancel while the server holds the request)"
if BUILD_DIR=$run tests/with_server.sh --client "m2m.dpop:$secret" -- \
    bash -c 'wine cscript //nologo tests/com/tasks.vbs "$0" "$DPOP_TOKEN_ENDPOINT" "$DPOP_API_URL" "$1"' \
    "$run/ec.pem" "$secret" > "$run/tasks.out"; then
    ok "tasks.vbs: $(tail -1 "$run/tasks.out")"
else
    fail "tasks.vbs"
    grep FAIL "$run/tasks.out" >&2 || cat "$run/tasks.out" >&2
fi

echo "== COM: signing a user in, the saved state with DPAPI (tests/com/sign_in.vbs)"
# The headless browser DPOP_BROWSER names: GETs the authorization URL, follows the redirect.
x86_64-w64-mingw32-gcc -std=c11 -Wall -Wextra -Werror -O2 -o "$run/browser.exe" tests/com/browser.c -lws2_32
browser=$(winepath -w "$run/browser.exe")
state_dir=$(winepath -w "$run")
if BUILD_DIR=$run DPOP_BROWSER=$browser tests/with_server.sh --public-client desktop.com -- \
    bash -c 'wine cscript //nologo tests/com/sign_in.vbs "${DPOP_TOKEN_ENDPOINT%/token}" desktop.com "$0"' \
    "$state_dir" > "$run/sign_in.out"; then
    ok "$(tail -1 "$run/sign_in.out" | tr -d '\r')"
else
    fail "sign_in.vbs"
    grep FAIL "$run/sign_in.out" >&2 || cat "$run/sign_in.out" >&2
fi

echo "== COM: the sign-in sample twice (tests/com/sign_in_sample.vbs): the second run from the saved state"
sample=$run/sign_in_sample
if BUILD_DIR=$run DPOP_BROWSER=$browser tests/with_server.sh --public-client desktop-app -- \
    bash -c 'for n in 1 2; do wine cscript //nologo tests/com/sign_in_sample.vbs "${DPOP_TOKEN_ENDPOINT%/token}" \
        "$DPOP_API_URL" desktop-app "$0" > "$1.$n.out" || exit 1; done' "$state_dir\\sample.state" "$sample"; then
    ok "sign_in_sample.vbs ran twice"
else
    fail "sign_in_sample.vbs ran twice"
    cat "$sample".*.out >&2 || true
fi
check "sign_in_sample.vbs: the first run signed in through the browser (200)" \
    bash -c "grep -q 'signed in through the browser' '$sample.1.out' && grep -q '^status: 200' '$sample.1.out'"
check "sign_in_sample.vbs: the second run signed in from the saved state (200)" \
    bash -c "grep -q 'signed in from the saved state' '$sample.2.out' && grep -q '^status: 200' '$sample.2.out'"
check "sign_in_sample.vbs: the second run made no authorization request" \
    test "$(grep -c 'GET /authorize' "$run/test-server.log")" -eq 1

echo "== COM: C clients (IDispatch and vtables) and the type library"
if [ -x tests/com/clients.sh ]; then
    check "tests/com/clients.sh" tests/com/clients.sh "$run"
else
    fail "tests/com/clients.sh is missing"
fi

echo "== COM: unregistering and per-user registration"
check "regsvr32 /u dpop.dll" wine regsvr32 /s /u "$run/dpop.dll"
check "regsvr32 /u leaves none of our $total keys under HKLM" test "$(count_present HKLM)" -eq 0
check "regsvr32 /n /i:user dpop.dll" wine regsvr32 /s /n /i:user "$run/dpop.dll"
check "per-user registration writes all $total keys under HKCU" test "$(count_present HKCU)" -eq "$total"
check "per-user registration writes nothing under HKLM" test "$(count_present HKLM)" -eq 0
# Windows merges HKCU\Software\Classes into HKEY_CLASSES_ROOT, where COM looks objects up;
# Wine 8 does not, so there the per-user keys are checked but cannot be used.
if present "HKCR\\Dpop.PrivateKey"; then
    check "a per-user registration serves CreateObject" \
        bash -c "printf 'Set k = CreateObject(\"Dpop.PrivateKey\")\nIf k.GenerateKey(\"EdDSA\") Then WScript.Echo k.Alg\n' > '$run/per_user.vbs' && wine cscript //nologo '$run/per_user.vbs' | grep -q EdDSA"
else
    echo "skip a per-user registration serves CreateObject: $(wine --version) does not merge HKCU\\Software\\Classes into HKEY_CLASSES_ROOT (Windows does)"
fi
check "regsvr32 /u /n /i:user dpop.dll" wine regsvr32 /s /u /n /i:user "$run/dpop.dll"
check "per-user unregistration leaves none of our keys under HKCU" test "$(count_present HKCU)" -eq 0

echo "COM under Wine: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
