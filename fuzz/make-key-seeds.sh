#!/usr/bin/env bash
# Writes the key_import seed corpus (fuzz/corpus/key_import/, all but its regression-* inputs)
# with the openssl command line (OpenSSL 3), ssh-keygen and Python's `cryptography` (for the
# JWKs): every format Key::load_memory reads, and the ones it must refuse with a named error.
# Keys are random, so a new run writes different files; the committed corpus is one such run.
#
# Encrypted keys are made with a low KDF cost (PBKDF2 16 iterations, scrypt N=1024) so that the
# fuzzer spends its time in the parsers, and carry their password at the end of the file as
# fuzz_targets/key_import.rs reads it: PASSWORD, then one byte holding its length.
set -euo pipefail
cd "$(dirname "$0")"
out=corpus/key_import
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The regression inputs (regression-*, FUZZING.md) stay; every seed is written again.
mkdir -p "$out"
find "$out" -type f ! -name 'regression-*' -delete
pw=fuzz-pass

# with_password FILE: appends the password and its length byte.
with_password() {
    printf '%s' "$pw" >> "$1"
    printf "\\$(printf '%03o' ${#pw})" >> "$1"
}
# openssl, quiet unless it fails.
ossl() { openssl "$@" 2>"$tmp/err" || { cat "$tmp/err" >&2; return 1; }; }

# P-256, P-384: SEC1 (with and without the EC PARAMETERS block), PKCS#8, both in DER.
for curve in P-256 P-384; do
    name=ec${curve#P-}
    ossl ecparam -name "$curve" -genkey -out "$out/$name-sec1-params.pem"
    ossl ec -in "$out/$name-sec1-params.pem" -out "$out/$name-sec1.pem"
    ossl ec -in "$out/$name-sec1.pem" -outform DER -out "$out/$name-sec1.der"
    ossl pkcs8 -topk8 -nocrypt -in "$out/$name-sec1.pem" -out "$out/$name-pkcs8.pem"
    ossl pkcs8 -topk8 -nocrypt -in "$out/$name-sec1.pem" -outform DER -out "$out/$name-pkcs8.der"
    ossl pkcs8 -topk8 -v2 aes-256-cbc -iter 16 -passout "pass:$pw" -in "$out/$name-sec1.pem" \
        -out "$out/$name-pkcs8-aes256.pem"
    with_password "$out/$name-pkcs8-aes256.pem"
done
ossl genpkey -algorithm ED25519 -out "$out/ed25519-pkcs8.pem"
ossl pkey -in "$out/ed25519-pkcs8.pem" -outform DER -out "$out/ed25519-pkcs8.der"
ossl pkcs8 -topk8 -v2 aes-256-cbc -iter 16 -passout "pass:$pw" -in "$out/ed25519-pkcs8.pem" \
    -out "$out/ed25519-pkcs8-aes256.pem"
with_password "$out/ed25519-pkcs8-aes256.pem"

# Encrypted PKCS#8 in the other schemes, and in DER.
key=$out/ec256-sec1.pem
ossl pkcs8 -topk8 -v2 aes-256-cbc -iter 16 -passout "pass:$pw" -in "$key" -outform DER \
    -out "$out/ec256-pkcs8-aes256.der"
with_password "$out/ec256-pkcs8-aes256.der"
ossl pkcs8 -topk8 -v2 aes-128-cbc -v2prf hmacWithSHA1 -iter 16 -passout "pass:$pw" -in "$key" \
    -out "$out/ec256-pkcs8-aes128-sha1.pem"
with_password "$out/ec256-pkcs8-aes128-sha1.pem"
ossl pkcs8 -topk8 -v2 des3 -v2prf hmacWithSHA1 -iter 16 -passout "pass:$pw" -in "$key" \
    -out "$out/ec256-pkcs8-3des-sha1.pem"
with_password "$out/ec256-pkcs8-3des-sha1.pem"
ossl pkcs8 -topk8 -v2 aes-256-cbc -scrypt -scrypt_N 1024 -scrypt_r 8 -scrypt_p 1 \
    -passout "pass:$pw" -in "$key" -out "$out/ec256-pkcs8-scrypt.pem"
with_password "$out/ec256-pkcs8-scrypt.pem"
# The same key with a wrong password, and with none.
head -c -$((${#pw} + 1)) "$out/ec256-pkcs8-aes256.pem" > "$out/ec256-pkcs8-aes256-nopass.pem"
cp "$out/ec256-pkcs8-aes256-nopass.pem" "$out/ec256-pkcs8-aes256-wrongpass.pem"
head -c -$((${#pw} + 1)) "$out/ec256-pkcs8-aes256.der" > "$out/ec256-pkcs8-aes256-nopass.der"
printf 'wrong\005' >> "$out/ec256-pkcs8-aes256-wrongpass.pem"
# Refused schemes: PKCS#12 PBE, PBES1, legacy PEM encryption (Proc-Type headers).
ossl pkcs8 -topk8 -v1 PBE-SHA1-3DES -iter 16 -passout "pass:$pw" -in "$key" -out "$out/ec256-pkcs12-pbe.pem"
with_password "$out/ec256-pkcs12-pbe.pem"
ossl pkcs8 -topk8 -v1 PBE-MD5-DES -iter 16 -passout "pass:$pw" -in "$key" -out "$out/ec256-pbes1.pem" \
    -provider legacy -provider default
with_password "$out/ec256-pbes1.pem"
ossl ec -in "$key" -aes256 -passout "pass:$pw" -out "$out/ec256-legacy-encrypted.pem"

# Variants of the text: CRLF line ends, a UTF-8 BOM, a cut-off file, a cut-off DER.
sed 's/$/\r/' "$out/ec256-pkcs8.pem" > "$out/ec256-pkcs8-crlf.pem"
{ printf '\357\273\277'; cat "$out/ec256-pkcs8.pem"; } > "$out/ec256-pkcs8-bom.pem"
head -c 150 "$out/ec256-pkcs8.pem" > "$out/ec256-pkcs8-truncated.pem"
head -c 60 "$out/ec256-sec1.der" > "$out/ec256-sec1-truncated.der"

# Public material only: SPKI in PEM and DER, a certificate.
ossl ec -in "$key" -pubout -out "$out/ec256-public.pem"
ossl ec -in "$key" -pubout -outform DER -out "$out/ec256-public.der"
ossl req -new -x509 -key "$key" -subj /CN=fuzz -days 1 -out "$out/ec256-cert.pem"

# Keys of other types and curves.
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$out/rsa1024-pkcs8.pem"
ossl rsa -in "$out/rsa1024-pkcs8.pem" -traditional -out "$out/rsa1024-pkcs1.pem"
ossl rsa -in "$out/rsa1024-pkcs8.pem" -traditional -outform DER -out "$out/rsa1024-pkcs1.der"
ossl ecparam -name secp256k1 -genkey -noout -out "$out/secp256k1-sec1.pem"
ossl ecparam -name secp521r1 -genkey -noout -out "$out/p521-sec1.pem"
ossl ecparam -name brainpoolP256r1 -genkey -noout -out "$tmp/bp.pem"
ossl pkcs8 -topk8 -nocrypt -in "$tmp/bp.pem" -out "$out/brainpool256-pkcs8.pem"
ossl genpkey -algorithm ED448 -out "$out/ed448-pkcs8.pem"
ossl genpkey -algorithm X25519 -out "$out/x25519-pkcs8.pem"
ossl dsaparam -genkey -out "$tmp/dsa.pem" 1024
ossl dsa -in "$tmp/dsa.pem" -out "$out/dsa.pem"
ssh-keygen -q -t ecdsa -b 256 -N '' -C fuzz -f "$tmp/id" && cp "$tmp/id" "$out/openssh-ecdsa"

# JWKs (private, a JWK Set with one key, a public one), from the PEM keys above.
python3 - "$out" <<'EOF'
import base64, json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

out = sys.argv[1]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def load(name):
    with open(f"{out}/{name}", "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)

def ec_jwk(key, crv, n):
    pub = key.public_key().public_numbers()
    return {"kty": "EC", "crv": crv, "x": b64(pub.x.to_bytes(n, "big")),
            "y": b64(pub.y.to_bytes(n, "big")),
            "d": b64(key.private_numbers().private_value.to_bytes(n, "big"))}

ed = load("ed25519-pkcs8.pem")
raw = lambda k, pub: (k.public_key() if pub else k).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) \
    if pub else k.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
jwks = {
    "ec256.jwk": ec_jwk(load("ec256-sec1.pem"), "P-256", 32),
    "ec384.jwk": ec_jwk(load("ec384-sec1.pem"), "P-384", 48),
    "ed25519.jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64(raw(ed, True)), "d": b64(raw(ed, False))},
}
jwks["ec256-set.jwks"] = {"keys": [dict(jwks["ec256.jwk"], kid="k1", use="sig", alg="ES256")]}
jwks["ec256-public.jwk"] = {k: v for k, v in jwks["ec256.jwk"].items() if k != "d"}
for name, value in jwks.items():
    with open(f"{out}/{name}", "w") as f:
        json.dump(value, f, indent=1 if name == "ec384.jwk" else None)
EOF
chmod 644 "$out"/*
ls "$out" | wc -l | xargs echo "key_import seeds:"
