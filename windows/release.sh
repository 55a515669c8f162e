#!/usr/bin/env bash
# The Windows release folder, after windows/build.sh built both DLLs: what a 4GL or C developer
# downloads, as build/windows/libdpop-VERSION-windows/ and a zip of it:
#
#   x64/  dpop.dll (also as dpop64.dll, the name 64-bit DataFlex programs load), libdpop.dll.a
#         (mingw-w64), dpop.lib (MSVC), dpop.def, dpop.h
#   x86/  dpop.dll, libdpop.dll.a, dpop.lib, dpop.def, dpop.h (stdcall exports, undecorated)
#   dataflex/  dpop.pkg (External_Function), DpopAx.pkg (COM), their READMEs and samples
#   com/  dpop.idl, and how to register the COM server
#   README.md
#
# Then it checks the zip: unpacked into an empty folder, examples-c/client_credentials.c is
# built with mingw-w64 from the unpacked files alone, for both architectures, and the x64
# program runs under Wine against the local test server.
#
#   windows/release.sh            (windows/build.sh runs it at its end)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=build/windows
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
name=libdpop-$version-windows
folder=$out/$name
rm -rf "$folder" "$out/$name.zip"
mkdir -p "$folder/x64" "$folder/x86" "$folder/dataflex" "$folder/com"

# An MSVC-compatible import library (short import format) from a .def: llvm-dlltool when
# present, else mingw-w64's dlltool (whose long-format libraries MSVC's linker also reads).
msvc_lib() { # msvc_lib ARCH DEF OUT
    local arch=$1 def=$2 lib=$3
    if command -v llvm-dlltool >/dev/null; then
        if [ "$arch" = x86 ]; then
            llvm-dlltool -m i386 -k -d "$def" -l "$lib" -D dpop.dll
        else
            llvm-dlltool -m i386:x86-64 -d "$def" -l "$lib" -D dpop.dll
        fi
    elif [ "$arch" = x86 ]; then
        i686-w64-mingw32-dlltool -k -d "$def" -l "$lib" -D dpop.dll
    else
        x86_64-w64-mingw32-dlltool -d "$def" -l "$lib" -D dpop.dll
    fi
}

declare -A dist=([x64]=$out/x86_64 [x86]=$out/i686)
for arch in x64 x86; do
    from=${dist[$arch]}
    for f in dpop.dll libdpop.dll.a dpop.def dpop.h; do
        [ -f "$from/$f" ] || { echo "release: $from/$f is missing: run windows/build.sh first" >&2; exit 1; }
        cp "$from/$f" "$folder/$arch/"
    done
    msvc_lib "$arch" "$from/dpop.def" "$folder/$arch/dpop.lib"
done
cp "$folder/x64/dpop.dll" "$folder/x64/dpop64.dll"
cp bindings/dataflex/dpop.pkg bindings/dataflex/DpopAx.pkg bindings/dataflex/README.md bindings/dataflex/COM.md \
   bindings/dataflex/ClientCredentials.src bindings/dataflex/ClientCredentialsCom.src "$folder/dataflex/"
cp bindings/dataflex/SignIn.src bindings/dataflex/SignInCom.src "$folder/dataflex/"
cp src/com/dpop.idl "$folder/com/"
cp tests/com/client_credentials.vbs "$folder/com/"
cp tests/com/sign_in_sample.vbs "$folder/com/"
cat > "$folder/README.md" <<EOF
# libdpop $version for Windows

OAuth 2.0 DPoP (RFC 9449) for C, C++, DataFlex, VB6, VBA, VBScript and other COM hosts.
Windows 7 and later; the DLLs import system DLLs only.

- \`x64/\` and \`x86/\`: \`dpop.dll\` (the C library and the COM server in one file), \`dpop.h\`,
  the import libraries \`libdpop.dll.a\` (mingw-w64: \`-ldpop\`) and \`dpop.lib\` (MSVC), and
  \`dpop.def\`. On x86 every function is stdcall with an undecorated name; \`DPOP_CALL\` in the
  header says so to C callers. \`x64/dpop64.dll\` is the same DLL under the name 64-bit
  DataFlex programs load with \`dpop.pkg\`.
- C: \`cc app.c -Ix64 -Lx64 -ldpop\` (mingw-w64) or \`cl app.c /I x64 x64\\dpop.lib\` (MSVC).
- COM: \`regsvr32 dpop.dll\` (all users) or \`regsvr32 /n /i:user dpop.dll\` (this user only),
  from the folder of the host's bitness (most DataFlex, VB6 and Office programs are 32-bit:
  \`x86\`). Objects: Dpop.PrivateKey, Dpop.Http, Dpop.HttpResponse, Dpop.JsonObject;
  \`com/client_credentials.vbs\` is the reference sample in VBScript,
  \`com/sign_in_sample.vbs\` a desktop program that signs its user in through the browser and
  keeps the sign-in with DPAPI, \`com/dpop.idl\` the type library's source (the library itself
  is inside the DLL).
- DataFlex: \`dataflex/DpopAx.pkg\` (the COM classes, as the Studio's COM import makes them)
  or \`dataflex/dpop.pkg\` (External_Function); see the READMEs there.
EOF

(cd "$out" && rm -f "$name.zip" && zip -q -r "$name.zip" "$name")
echo "release: $out/$name.zip"

# --- the zip on its own -------------------------------------------------------------------------
check=$out/release-check
rm -rf "$check"
mkdir -p "$check"
(cd "$check" && unzip -q "$root/$out/$name.zip")
unpacked=$check/$name
for arch in x64 x86; do
    cc=$([ "$arch" = x64 ] && echo x86_64-w64-mingw32-gcc || echo i686-w64-mingw32-gcc)
    "$cc" -std=c11 -Wall -Wextra -Werror -O2 -I"$unpacked/$arch" -o "$check/client_credentials-$arch.exe" \
        examples-c/client_credentials.c -L"$unpacked/$arch" -ldpop
    echo "release: examples-c/client_credentials.c builds for $arch from the zip alone"
done
cp "$unpacked/x64/dpop.dll" "$check/"
cp "$check/client_credentials-x64.exe" "$check/client_credentials.exe"
export WINEDEBUG=-all WINEPREFIX=$root/$out/wineprefix-x86_64
[ -d "$WINEPREFIX" ] || wineboot -i >/dev/null 2>&1
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$check/ec.pem" 2>/dev/null
BUILD_DIR=$check tests/with_server.sh --require-nonce --client m2m.dpop:release-secret-Jw2 -- \
    env DPOP_CLIENT_SECRET=release-secret-Jw2 DPOP_KEY_FILE="$check/ec.pem" wine "$check/client_credentials.exe" \
    > "$check/client_credentials.txt"
grep -q '^status: 200' "$check/client_credentials.txt"
echo "release: the x64 program built from the zip gets status 200 under Wine"
