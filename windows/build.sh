#!/usr/bin/env bash
# make windows: builds dpop.dll for x86_64 and i686 (32-bit) Windows from the same sources,
# checks both export tables against include/dpop.h (and stdcall on i686) and both import tables
# against the system DLLs allowed below, makes the import libraries, compiles the C programs
# with mingw-w64 and runs them under Wine against the local DPoP test server (which runs
# natively on 127.0.0.1), and the trust-store test (tests/windows/system_roots.sh: a private
# CA put into the Wine prefix's certificate store with crypt32), and the saved state protected
# with DPAPI (tests/windows/state_dpapi.c). The DLL is also an in-process
# COM server (src/com, type library compiled by widl and embedded); tests/com/run.sh registers
# it in a fresh Wine prefix and runs the COM tests (scripts, C clients, type library,
# registration).
#
# Needs Debian's rustc-web, cargo-web and rust-web-src (they build std for Windows; rustup has
# no Windows targets here), gcc-mingw-w64-{x86-64,i686}, mingw-w64-tools (widl), libwine-dev
# (oaidl.idl for widl) and wine64: .ci/run installs them.
# Targets: x86_64-win7-windows-gnu and i686-win7-windows-gnu, which run on Windows 7 and later
# and import no bcryptprimitives.dll (Wine 8 lacks it).
#
# Output in build/windows/<arch>/: dpop.dll (stripped; on x86_64 also as dpop64.dll, the name
# 64-bit DataFlex programs load), libdpop.dll.a (import library; on i686 made from dpop.def so
# callers that declare the functions WINAPI/__stdcall link), dpop.def, dpop.h, and the test
# programs.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/windows
mkdir -p "$out"

missing=()
for tool in /usr/bin/cargo /usr/bin/rustc x86_64-w64-mingw32-gcc i686-w64-mingw32-gcc i686-w64-mingw32-dlltool \
            x86_64-w64-mingw32-widl i686-w64-mingw32-widl x86_64-w64-mingw32-windres i686-w64-mingw32-windres wine; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
[ -d /usr/lib/rustlib/src/rust/library ] || missing+=("rust-web-src")
[ -f /usr/include/wine/wine/windows/oaidl.idl ] || missing+=("oaidl.idl (libwine-dev)")
if [ ${#missing[@]} -gt 0 ]; then
    echo "make windows: missing ${missing[*]}; install rustc-web cargo-web rust-web-src" \
         "gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 g++-mingw-w64-x86-64 g++-mingw-w64-i686 mingw-w64-tools" \
         "libwine-dev wine64 (see .ci/run)" >&2
    exit 1
fi

# The DLLs dpop.dll may import, lower-case without ".dll": Windows system DLLs that Windows 7
# has. The C library's: kernel32 advapi32 bcrypt ws2_32 userenv ntdll msvcrt; the operating
# system's trust store (rustls-native-certs, through the schannel crate): crypt32 (the
# certificate store), ncrypt (NCryptFreeObject), secur32 (SSPI); the COM server's (through the
# windows crate): oleaut32 (BSTR, VARIANT, IDispatch, the type library), propsys (VariantTo*),
# rpcrt4 (UuidCreate), ole32 (CoCreateFreeThreadedMarshaler). Any other import fails the build.
allowed_imports="kernel32 advapi32 bcrypt ws2_32 userenv ntdll msvcrt crypt32 ncrypt secur32 oleaut32 propsys rpcrt4 ole32"
# Two DLLs the windows crate would link and Windows 7 lacks are kept out at build time:
# combase.dll (CoCreateFreeThreadedMarshaler, for #[implement]'s agile objects: ole32 exports
# it on every Windows, and windows/retarget_imports.py moves the import there after the link)
# and api-ms-win-core-winrt-error-l1-1-0 (RoOriginateErrorW, windows-result's error info: the
# COM server reports errors through LastErrorText, so RUSTFLAGS has --cfg windows_slim_errors).

# Prints the DLLs $2 imports and fails on one that is not allowed.
check_imports() {
    local arch=$1 dll=$2 cc=${mingw[$1]}
    local imports name unexpected=()
    imports=$("$cc-objdump" -p "$dll" | awk '/DLL Name:/ {print tolower($3)}' | sed 's/\.dll$//' | sort -u)
    [ -n "$imports" ] || { echo "$arch: no import table found in $dll" >&2; exit 1; }
    for name in $imports; do
        [[ " $allowed_imports " == *" $name "* ]] || unexpected+=("$name")
    done
    echo "$arch: dpop.dll imports" $imports
    if [ ${#unexpected[@]} -gt 0 ]; then
        echo "$arch: dpop.dll imports ${unexpected[*]}, not in the allowed system DLLs ($allowed_imports)" \
             "(windows/build.sh, README 'Windows: dpop.dll')" >&2
        exit 1
    fi
}

programs="examples-c/key_and_proof.c examples-c/client_credentials.c examples-c/sign_in.c tests/c/abi_contract.c
    tests/c/http_contract.c tests/c/tasks.c"
declare -A triple=([x86_64]=x86_64-win7-windows-gnu [i686]=i686-win7-windows-gnu)
declare -A mingw=([x86_64]=x86_64-w64-mingw32 [i686]=i686-w64-mingw32)

build_arch() {
    local arch=$1 target=${triple[$1]} cc=${mingw[$1]}
    local upper=${target^^}
    upper=${upper//-/_}
    echo "== $arch: building dpop.dll ($target)"
    env RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc RUSTFLAGS="--cfg windows_slim_errors" \
        "CARGO_TARGET_${upper}_LINKER=$cc-gcc" "CC_${target//-/_}=$cc-gcc" "AR_${target//-/_}=$cc-ar" \
        /usr/bin/cargo build -q -Z build-std=std,panic_unwind --target "$target" --release --lib \
        --target-dir target-windows
    local built=target-windows/$target/release dist=$out/$arch
    mkdir -p "$dist"
    "$cc-strip" -o "$dist/dpop.dll" "$built/dpop.dll"
    python3 windows/retarget_imports.py "$dist/dpop.dll"
    [ "$arch" = x86_64 ] && cp "$dist/dpop.dll" "$dist/dpop64.dll"
    cp include/dpop.h "$dist/"
    python3 windows/check_exports.py include/dpop.h "$dist/dpop.dll" "$arch" "$dist/dpop.def"
    if [ "$arch" = i686 ]; then
        # rustc's import library names the stdcall exports cdecl-style (_name); C callers that
        # see __stdcall prototypes look for _name@N, which dlltool -k maps to the plain export.
        "$cc-dlltool" -k -d "$dist/dpop.def" -l "$dist/libdpop.dll.a" -D dpop.dll
    else
        cp "$built/libdpop.dll.a" "$dist/"
    fi
    for p in $programs; do
        "$cc-gcc" -std=c11 -Wall -Wextra -Werror -O2 -Iinclude -o "$dist/$(basename "$p" .c).exe" "$p" \
            -L"$dist" -ldpop
    done
    # The C++ binding's test program, with the POSIX-thread flavour of mingw-w64's g++.
    "$cc-g++-posix" -std=c++17 -Wall -Wextra -Werror -O2 -Iinclude -Ibindings/cpp \
        bindings/cpp/test_dpop.cpp bindings/cpp/test_dpop_odr.cpp -o "$dist/cpp_test_dpop.exe" \
        -L"$dist" -ldpop -static-libgcc -static-libstdc++
    cp "/usr/$cc/lib/libwinpthread-1.dll" "$dist/"
    # The trust-store test (tests/windows/system_roots.sh) also calls crypt32 itself, to put a
    # private CA into the certificate store.
    "$cc-gcc" -std=c11 -Wall -Wextra -Werror -O2 -Iinclude -o "$dist/system_roots.exe" \
        tests/windows/system_roots.c -L"$dist" -ldpop -lcrypt32
    # The headless browser of the sign-in example and the COM sign-in tests (DPOP_BROWSER).
    "$cc-gcc" -std=c11 -Wall -Wextra -Werror -O2 -o "$dist/browser.exe" tests/com/browser.c -lws2_32
    # The saved state with DPAPI (tests/windows/state_dpapi.c) recomputes a checksum with bcrypt.
    "$cc-gcc" -std=c11 -Wall -Wextra -Werror -O2 -Iinclude -o "$dist/state_dpapi.exe" \
        tests/windows/state_dpapi.c -L"$dist" -ldpop -lbcrypt
    echo "$arch: C programs and the C++ binding's test compiled with mingw-w64"
    ls -l "$dist/dpop.dll" | awk -v a="$arch" '{print a ": dpop.dll " $5 " bytes"}'
    check_imports "$arch" "$dist/dpop.dll"
}

# Runs the C programs of one architecture under Wine, against fresh test servers.
run_arch() {
    local arch=$1 dist=$out/$1
    export WINEDEBUG=-all WINEPREFIX=$PWD/$out/wineprefix-$arch
    [ -d "$WINEPREFIX" ] || wineboot -i >/dev/null 2>&1
    cp "$dist/dpop.dll" "$dist/run/" 2>/dev/null || { mkdir -p "$dist/run" && cp "$dist/dpop.dll" "$dist/run/"; }
    for exe in "$dist"/*.exe "$dist/libwinpthread-1.dll"; do cp "$exe" "$dist/run/"; done
    local run=$dist/run
    echo "== $arch under Wine: key load and proof"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$run/ec.pem" 2>/dev/null
    wine "$run/key_and_proof.exe" "$run/ec.pem" > "$run/key_and_proof.txt"
    grep -q '^proof: ey' "$run/key_and_proof.txt"
    python3 - "$run/ec.pem" "$run/key_and_proof.txt" <<'PY'
import subprocess, sys, json, base64
out = open(sys.argv[2]).read()
thumb = [l.split(": ", 1)[1] for l in out.splitlines() if l.startswith("thumbprint: ")][0]
jwk = json.loads([l.split(": ", 1)[1] for l in out.splitlines() if l.startswith("public jwk: ")][0])
der = subprocess.run(["openssl", "pkey", "-in", sys.argv[1], "-pubout", "-outform", "DER"], capture_output=True, check=True).stdout
point = der[-65:]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
assert jwk["x"] == b64(point[1:33]) and jwk["y"] == b64(point[33:]), "the JWK is not the key OpenSSL made"
print(f"key_and_proof: the key loaded under Wine is the one OpenSSL made (thumbprint {thumb})")
PY
    echo "== $arch under Wine: ABI contract"
    wine "$run/abi_contract.exe"
    echo "== $arch under Wine: HTTP object against the test server"
    BUILD_DIR=$out tests/with_server.sh --client m2m.dpop:c-test-secret-8JqL2vX -- \
        env BUILD_DIR="$run" wine "$run/http_contract.exe"
    echo "== $arch under Wine: tasks (the worker pool, a cancel while the server holds the request)"
    BUILD_DIR=$out tests/with_server.sh --client m2m.dpop:c-test-secret-8JqL2vX -- wine "$run/tasks.exe"
    echo "== $arch under Wine: client_credentials with nonces required, session log"
    rm -f "$run/session.log"
    BUILD_DIR=$out tests/with_server.sh --require-nonce --client m2m.dpop:win-secret-5tY8uP -- \
        env DPOP_CLIENT_SECRET=win-secret-5tY8uP DPOP_KEY_FILE="$run/ec.pem" DPOP_SESSION_LOG="$run/session.log" \
        wine "$run/client_credentials.exe" > "$run/client_credentials.txt"
    grep -q '^status: 200' "$run/client_credentials.txt"
    grep -q 'use_dpop_nonce' "$run/session.log"
    grep -q 'authorization: DPoP \*\*\*\*' "$run/session.log"
    if grep -q 'win-secret-5tY8uP' "$run/session.log"; then
        echo "the session log written under Wine contains the client secret" >&2
        exit 1
    fi
    echo "$arch under Wine: client_credentials 200 through nonce demands; session log masked"
    echo "== $arch under Wine: the Windows trust store (a private CA in the certificate store)"
    tests/windows/system_roots.sh "$run"
    echo "== $arch under Wine: the saved state protected with DPAPI"
    BUILD_DIR=$out tests/with_server.sh --refresh-tokens --no-record --client m2m.dpop:win-state-secret-2Kp9 -- \
        env DPOP_CLIENT_SECRET=win-state-secret-2Kp9 wine "$run/state_dpapi.exe" "$run"
    echo "== $arch under Wine: the C++ binding's test"
    BUILD_DIR=$out tests/with_server.sh --client m2m.dpop:cpp-binding-secret-7Hs2Lq --public-client desktop.cpp -- \
        env DPOP_CLIENT_SECRET=cpp-binding-secret-7Hs2Lq DPOP_SIGN_IN_CLIENT=desktop.cpp wine "$run/cpp_test_dpop.exe"
    echo "== $arch under Wine: examples-c/sign_in.c three times (tests/c/sign_in_example.sh)"
    BUILD_DIR=$run RUN=wine SIGN_IN_EXAMPLE=$run/sign_in.exe SIGN_IN_BROWSER="$(winepath -w "$run/browser.exe")" \
        tests/c/sign_in_example.sh
    echo "== $arch under Wine: the COM server"
    tests/com/run.sh "$dist"
}

[ -x target/release/dpop-test-server ] || cargo build -q --release -p dpop-testserver --bin dpop-test-server

build_arch x86_64
build_arch i686
run_arch x86_64

# 32-bit programs need 32-bit Wine (Debian's wine32, i386 architecture), which not every
# machine can install; the i686 build and its export checks above run regardless. Wine without
# its 32-bit half exits 0 without running anything, so the output tells: first a 32-bit program
# that does not use dpop.dll, which runs wherever 32-bit Wine works; only then a program that
# loads the i686 dpop.dll, which must then run, or the DLL is broken and the build fails.
wine32_probe=$out/i686/wine32-probe
mkdir -p "$wine32_probe"
printf '#include <stdio.h>\nint main(void) { puts("wine32-probe: ok"); return 0; }\n' > "$wine32_probe/probe.c"
i686-w64-mingw32-gcc -O2 -o "$wine32_probe/probe.exe" "$wine32_probe/probe.c"

wine32_works() {
    WINEDEBUG=-all WINEPREFIX=$PWD/$out/wineprefix-i686 timeout 60 wine "$wine32_probe/probe.exe" 2>/dev/null |
        tr -d '\r' | grep -qx 'wine32-probe: ok'
}

# Why 32-bit Wine does not work here, in one line.
wine32_missing_reason() {
    local version
    version=$(wine --version 2>/dev/null || echo "no wine")
    if [ ! -x /usr/lib/wine/wine ]; then
        echo "no 32-bit Wine: $version has no 32-bit loader (/usr/lib/wine/wine, Debian's wine32:i386, is not installed)"
    else
        echo "32-bit Wine does not work: $version has /usr/lib/wine/wine, but a plain 32-bit program printed nothing"
    fi
}

if wine32_works; then
    probe_out=$out/i686/key_and_proof-probe.txt
    if ! WINEDEBUG=-all WINEPREFIX=$PWD/$out/wineprefix-i686 timeout 60 \
            wine "$out/i686/key_and_proof.exe" > "$probe_out" 2>&1 ||
       ! grep -q '^proof: ' "$probe_out"; then
        echo "make windows: the i686 dpop.dll is broken: 32-bit Wine runs a plain 32-bit program," \
             "but key_and_proof.exe with dpop.dll does not make a proof:" >&2
        cat "$probe_out" >&2
        exit 1
    fi
    run_arch i686
    i686_run="ran under 32-bit Wine"
else
    i686_run="NOT run: $(wine32_missing_reason); built, exports and imports checked only"
fi

# The release folder and zip, and a build of the sample from the zip alone.
windows/release.sh

echo
echo "make windows summary:"
echo "  x86_64 dpop.dll (and dpop64.dll): built, exports checked, C programs, the saved state with DPAPI"
echo "         (tests/windows/state_dpapi.c), the trust-store test"
echo "         (tests/windows/system_roots.sh: a private CA trusted through the current user's and the machine's"
echo "         ROOT store, refused with the built-in roots only), the C++ binding's test and the COM server's tests"
echo "         (tests/com/run.sh) passed under Wine"
echo "  i686   dpop.dll: built with the COM server, exports checked (undecorated, stdcall, COM entry points"
echo "         included), import library from dpop.def; programs $i686_run"
echo "  both   import only the allowed system DLLs ($allowed_imports)"
echo "  release: build/windows/libdpop-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)-windows.zip, checked by building and running the sample from it"
