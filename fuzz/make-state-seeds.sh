#!/usr/bin/env bash
# Writes the state_file seed corpus (fuzz/corpus/state_file/, all but its regression-* inputs).
# The saved states come from the library: core/tests/state_fuzz_seeds.rs saves them with
# Client::save_state (protector states, and one passphrase state at libdpop's own cost) and
# seals passphrase states at the fuzz target's cost with dpop_core::fuzzing::StateSealer, for the
# target's settings, key and passphrase. This script then writes each one in the target's input
# format (FLAGS, then the file or the contents: fuzz_targets/state_file.rs), opened the right way
# and the wrong ways, and damaged ones: cut off, bytes flipped, another magic, version, scheme or
# key derivation, data after the end, contents that are not what a state holds. Keys and salts
# are random, so a new run writes different files; the committed corpus is one such run.
set -euo pipefail
cd "$(dirname "$0")"
out=corpus/state_file
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
find "$out" -type f ! -name 'regression-*' -delete
(cd .. && STATE_SEEDS_DIR="$tmp" cargo test -q -p dpop-core --features fuzzing --test state_fuzz_seeds >/dev/null)

# FLAGS (fuzz_targets/state_file.rs): what follows, and how the target opens it.
AS_IS=0 SUMMED=1 PASSPHRASE_CONTENTS=2 PROTECTOR_CONTENTS=3 BY_PROTECTOR=4 WRONG=8 ISSUER=16

# seed NAME FLAGS [FILE]: the seed NAME, FLAGS then FILE (or stdin).
seed() {
    { printf "\\$(printf '%03o' "$2")"; cat "${3:--}"; } > "$out/$1"
}
# set_byte FILE OFFSET VALUE: a copy of FILE on stdout with the byte at OFFSET replaced.
set_byte() {
    head -c "$2" "$1"
    printf "\\$(printf '%03o' "$3")"
    tail -c +"$(($2 + 2))" "$1"
}
# flip FILE OFFSET: a copy of FILE on stdout with the lowest bit of the byte at OFFSET flipped.
flip() {
    set_byte "$1" "$2" $(($(od -An -tu1 -j "$2" -N1 "$1") ^ 1))
}
size() { wc -c < "$1"; }

# The states as saved, opened the right way, the wrong way and for the other settings. The
# issuer's states are opened for the issuer's settings.
for f in "$tmp"/*.state; do
    name=$(basename "$f" .state)
    by=0 other=$BY_PROTECTOR settings=0
    case $name in protector-*) by=$BY_PROTECTOR other=0 ;; esac
    case $name in *-issuer*) settings=$ISSUER ;; esac
    seed "$name" $((AS_IS | by | settings)) "$f"
    seed "$name-summed" $((SUMMED | by | settings)) "$f"
    seed "$name-wrong-$([ "$by" = 0 ] && echo passphrase || echo protector)" $((by | WRONG | settings)) "$f"
    seed "$name-other-protection" $((other | settings)) "$f"
    seed "$name-other-settings" $((by | (settings ^ ISSUER))) "$f"
done

# Damaged states. The flips and fields are of summed inputs (the target puts the checksum
# right), so that they reach what follows the checksum's check; the cuts are of both kinds.
# Offsets: magic 0-15, version 16, scheme 17; passphrase: kdf 18, salt 19-34, check 35-50,
# nonce 51-62, key_len 63-64, key; protector: name_len 18, name, blob_len, blob (the context,
# then key_len, the key DER and the contents JSON).
for name in passphrase-eddsa protector-eddsa; do
    f=$tmp/$name.state
    by=0
    [ "$name" = protector-eddsa ] && by=$BY_PROTECTOR
    n=$(size "$f")
    head -c $((n / 2)) "$f" | seed "$name-cut-half" $((AS_IS | by))
    head -c $((n - 1)) "$f" | seed "$name-cut-last-byte" $((AS_IS | by))
    head -c $((n / 2)) "$f" | seed "$name-cut-half-summed" $((SUMMED | by))
    head -c 18 "$f" | seed "$name-cut-after-scheme" $((AS_IS | by))
    flip "$f" 100 | seed "$name-flipped-100" $((AS_IS | by))
    flip "$f" 100 | seed "$name-flipped-100-summed" $((SUMMED | by))
    flip "$f" $((n - 40)) | seed "$name-flipped-contents-summed" $((SUMMED | by))
    set_byte "$f" 0 $((0x88)) | seed "$name-other-magic" $((SUMMED | by))
    set_byte "$f" 16 2 | seed "$name-version-2" $((SUMMED | by))
    set_byte "$f" 16 0 | seed "$name-version-0" $((SUMMED | by))
    set_byte "$f" 17 9 | seed "$name-scheme-9" $((SUMMED | by))
    { head -c $((n - 32)) "$f"; printf 'x'; tail -c 32 "$f"; } | seed "$name-data-after-end" $((SUMMED | by))
done
f=$tmp/passphrase-eddsa.state
set_byte "$f" 18 9 | seed passphrase-eddsa-kdf-9 $SUMMED
flip "$f" 20 | seed passphrase-eddsa-flipped-salt $SUMMED
flip "$f" 40 | seed passphrase-eddsa-flipped-check $SUMMED
flip "$f" 64 | seed passphrase-eddsa-key-len $SUMMED
flip "$f" 90 | seed passphrase-eddsa-flipped-key $SUMMED
f=$tmp/protector-eddsa.state
set_byte "$f" 18 0 | seed protector-eddsa-empty-name $((SUMMED | BY_PROTECTOR))
set_byte "$f" 19 $((0x20)) | seed protector-eddsa-name-space $((SUMMED | BY_PROTECTOR))
set_byte "$f" 19 $((0x47)) | seed protector-eddsa-name-guzz $((SUMMED | BY_PROTECTOR))
# blob_len (23-26) one less and one more; a flip in the context copy (27-49) and in key_len.
len=$(od -An -tu1 -j 26 -N1 "$f")
set_byte "$f" 26 $(((len + 255) % 256)) | seed protector-eddsa-blob-len-short $((SUMMED | BY_PROTECTOR))
set_byte "$f" 26 $(((len + 1) % 256)) | seed protector-eddsa-blob-len-long $((SUMMED | BY_PROTECTOR))
flip "$f" 30 | seed protector-eddsa-flipped-context $((SUMMED | BY_PROTECTOR))
flip "$f" 51 | seed protector-eddsa-key-len $((SUMMED | BY_PROTECTOR))
flip "$f" 60 | seed protector-eddsa-flipped-key $((SUMMED | BY_PROTECTOR))
f=$tmp/protector-rs256.state
flip "$f" 1000 | seed protector-rs256-flipped-key $((SUMMED | BY_PROTECTOR))

# Other files: none, the magic alone, a PNG, a key, JSON.
: | seed empty $AS_IS
printf '\211libdpop state\r\n' | seed magic-only $AS_IS
printf '\211libdpop state\r\n\001\001' | seed magic-version-scheme $SUMMED
printf '\211PNG\r\n\032\n\0\0\0\rIHDR' | seed png $AS_IS
printf '%s' '{"refresh_token":"x","client_id":"fuzz-client","version":1}' | seed json $AS_IS

# Contents (JSON) for the target to seal, as saved and changed.
for f in "$tmp"/contents-*.json; do
    name=$(basename "$f" .json)
    settings=0
    case $name in *-issuer*) settings=$ISSUER ;; esac
    case $name in
        contents-eddsa | contents-eddsa-issuer)
            seed "$name" $((PASSPHRASE_CONTENTS | settings)) "$f"
            seed "$name-protector" $((PROTECTOR_CONTENTS | BY_PROTECTOR | settings)) "$f"
            ;;
        *) seed "$name-other-key" $((PASSPHRASE_CONTENTS | settings)) "$f" ;;
    esac
done
python3 - "$tmp/contents-eddsa.json" "$out" "$PASSPHRASE_CONTENTS" <<'EOF'
import json, sys
src, out, flags = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = json.load(open(src))
def write(name, text, f=flags):
    with open(f"{out}/contents-{name}", "wb") as o:
        o.write(bytes([f]) + (text if isinstance(text, bytes) else text.encode()))
def changed(**members):
    c = dict(base)
    for k, v in members.items():
        if v is KeyError:
            del c[k]
        else:
            c[k] = v
    return json.dumps(c)
write("alg-lower-case", changed(alg="eddsa"))
write("alg-rs256", changed(alg="RS256"))
write("alg-unknown", changed(alg="HS256"))
write("alg-number", changed(alg=256))
write("no-alg", changed(alg=KeyError))
write("no-jkt", changed(jkt=KeyError))
write("other-jkt", changed(jkt="0" * 43))
write("no-client-id", changed(client_id=KeyError))
write("other-client", changed(client_id="another-client"))
write("issuer", changed(issuer="https://as.example"))
write("no-refresh-token", changed(refresh_token=None))
write("refresh-token-number", changed(refresh_token=7))
write("refresh-token-unicode", changed(refresh_token="rt-\u00e9\u2603-\ud83d\ude00"))
write("extra-member", changed(version=2))
write("duplicate-client-id", json.dumps(base)[:-1] + ', "client_id": "another-client"}')
write("escapes", json.dumps(base).replace("fuzz-client", "fuzz\\u002dclient"))
write("whitespace", json.dumps(base, indent=2))
write("array", "[" + json.dumps(base) + "]")
write("null", "null")
write("empty-object", "{}")
write("cut", json.dumps(base)[:40])
write("bom", b"\xef\xbb\xbf" + json.dumps(base).encode())
write("invalid-utf8", json.dumps(base).replace("fuzz-client", "fuzz-\udcff").encode("utf-8", "surrogateescape"))
EOF
chmod 644 "$out"/*
ls "$out" | wc -l | xargs echo "state_file seeds:"
