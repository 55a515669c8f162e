#!/usr/bin/env bash
# Single-thread ES256 proof signing next to `openssl speed ecdsap256` signing, in one run.
# Usage: benches/proof_vs_openssl.sh [SECONDS]   (default 3, as `openssl speed -seconds 3`)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3}

cargo bench --bench proof --no-run -q 2>/dev/null
ours=$(cargo bench --bench proof -q -- "$seconds" 2>/dev/null)
ossl=$(openssl speed -elapsed -seconds "$seconds" ecdsap256 2>/dev/null | awk '/256 bits ecdsa \(nistp256\)/ {print $(NF-1)}')
es256=$(awk '$1 == "ES256" {print $3}' <<<"$ours")
es384=$(awk '$1 == "ES384" {print $3}' <<<"$ours")
eddsa=$(awk '$1 == "EdDSA" {print $3}' <<<"$ours")
[ -n "$ossl" ] && [ -n "$es256" ] || { echo "could not read the measurements:"; echo "$ours"; exit 1; }

printf '%-44s %12s\n' "measurement (single thread, ${seconds}s each)" "per second"
printf '%-44s %12.0f\n' "openssl speed ecdsap256: sign" "$ossl"
printf '%-44s %12.0f\n' "libdpop ES256 proof (header+claims+sign)" "$es256"
printf '%-44s %12.0f\n' "libdpop ES384 proof" "$es384"
printf '%-44s %12.0f\n' "libdpop EdDSA proof" "$eddsa"
awk -v a="$es256" -v b="$ossl" 'BEGIN { printf "%-44s %11.2fx\n", "ratio ES256 proof / openssl sign", a / b }'
