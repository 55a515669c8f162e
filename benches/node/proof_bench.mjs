// DPoP proofs per second with oauth4webapi, the DPoP client of openid-client: its DPoP handle's
// addProof(), which builds and signs the proof that the library's requests send. Inputs as in
// benches/proof.rs (ES256, GET, the same URL and access token, so `ath` is computed too).
//
//   node proof_bench.mjs [SECONDS]        prints "oauth4webapi proofs_per_sec RATE"
//
// Proofs are made one at a time, each awaited (WebCrypto signs off the main thread).
import * as oauth from 'oauth4webapi';

const METHOD = 'GET';
const URL_ = new URL('https://api.example.com/resource');
const ACCESS_TOKEN = 'an-access-token-of-typical-length-0123456789abcdef';

const seconds = Number(process.argv[2] ?? 3);
const keyPair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
  'sign',
  'verify',
]);
const dpop = oauth.DPoP({ client_id: 'bench' }, keyPair);

async function proof() {
  const headers = new Headers();
  await dpop.addProof(URL_, headers, METHOD, ACCESS_TOKEN);
  return headers.get('dpop');
}

async function measure(budgetSeconds) {
  const start = performance.now();
  const budget = budgetSeconds * 1000;
  let count = 0;
  while (performance.now() - start < budget) {
    for (let i = 0; i < 16; i++) {
      await proof();
    }
    count += 16;
  }
  return (count * 1000) / (performance.now() - start);
}

const sample = await proof();
if (typeof sample !== 'string' || sample.split('.').length !== 3) {
  throw new Error(`addProof made no compact JWS: ${sample}`);
}
await measure(seconds / 10);
const rate = await measure(seconds);
console.log(`oauth4webapi proofs_per_sec ${rate.toFixed(0)}`);
