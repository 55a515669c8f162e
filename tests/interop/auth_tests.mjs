// The interop tests of issue 14, run by run.mjs after its own: client authentication with
// private_key_jwt (P-256 and RSA assertion keys, the DPoP key itself), PS256 DPoP proofs with
// RSA keys, discovery by issuer, the FAPI 2.0 profile, the nonce retry with a fresh client
// assertion, and the refresh_token grant of a public client across nonce rotation.
//
// Each feature has a "server check (oauth4webapi): ..." test first: oauth4webapi as the client
// (oauth.discoveryRequest, oauth.PrivateKeyJwt, oauth.DPoP, oauth.None) against the same
// oidc-provider configuration, so that a failing libdpop test points at libdpop and not at the
// server set-up. Those pass whatever the library can do; the "libdpop: ..." tests need the
// library's issue 14 settings (auth_method, client_assertion_*, issuer, profile, grant_type,
// RSA DPoP keys).
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import * as jose from 'jose';
import * as oauth from 'oauth4webapi';

import { browse } from './browser.mjs';
import { ACCOUNT, AUDIENCE, FAPI_ALGS, PUBLIC_CLIENT } from './servers.mjs';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const insecure = { [oauth.allowInsecureRequests]: true };

export default async function authTests(h) {
  const {
    test, withServers, runProgram, runClient, issuedTokens, assertDpopTokens, statuses,
    assertOneRetryPerDemand, asNonce, WORK, PROGRAMS, SHORT_TTL,
  } = h;

  // -------------------------------------------------------------------------------------------
  // Keys

  let keyCount = 0;
  /**
   * A new private key file in the run's folder, made by openssl: kind 'p256', 'rsa2048' or
   * 'rsa3072'; PKCS#8 PEM, or PKCS#1 ("RSA PRIVATE KEY") with pkcs1.
   */
  async function newKey(kind, { pkcs1 = false } = {}) {
    const file = path.join(WORK, `key-${++keyCount}-${kind}${pkcs1 ? '-pkcs1' : ''}.pem`);
    const algorithm = kind === 'p256'
      ? ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']
      : ['-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${kind.slice(3)}`];
    const pkcs8 = pkcs1 ? `${file}.pkcs8` : file;
    const made = await runProgram('openssl', ['genpkey', ...algorithm, '-out', pkcs8]);
    assert.equal(made.code, 0, `openssl genpkey: ${made.stderr}`);
    if (pkcs1) {
      const traditional = await runProgram('openssl', ['rsa', '-in', pkcs8, '-traditional', '-out', file]);
      assert.equal(traditional.code, 0, `openssl rsa -traditional: ${traditional.stderr}`);
      assert.match(readFileSync(file, 'utf8'), /^-----BEGIN RSA PRIVATE KEY-----/);
    }
    const pem = readFileSync(file, 'utf8');
    const publicJwk = createPublicKey(pem).export({ format: 'jwk' });
    return {
      file,
      pem,
      publicJwk,
      privateJwk: createPrivateKey(pem).export({ format: 'jwk' }),
      thumbprint: await jose.calculateJwkThumbprint(publicJwk),
    };
  }

  /** The key as a WebCrypto key pair for oauth4webapi, for the JWS algorithm `alg`. */
  async function webKeyPair(key, alg) {
    const algorithm = {
      PS256: { name: 'RSA-PSS', hash: 'SHA-256' },
      RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      ES256: { name: 'ECDSA', namedCurve: 'P-256' },
    }[alg];
    const privateDer = createPrivateKey(key.pem).export({ type: 'pkcs8', format: 'der' });
    const publicDer = createPublicKey(key.pem).export({ type: 'spki', format: 'der' });
    return {
      privateKey: await webcrypto.subtle.importKey('pkcs8', privateDer, algorithm, false, ['sign']),
      publicKey: await webcrypto.subtle.importKey('spki', publicDer, algorithm, true, ['verify']),
    };
  }

  const jwks = (...keys) => ({ keys: keys.map((k) => k.publicJwk) });

  // -------------------------------------------------------------------------------------------
  // What the token endpoint received

  /** The client assertion of each token request: header, claims and the other form members. */
  function assertionsOf(requests) {
    return requests.map((e) => {
      assert.ok(e.form?.client_assertion, `token request without client_assertion: ${e.body}`);
      return {
        form: e.form,
        header: jose.decodeProtectedHeader(e.form.client_assertion),
        claims: jose.decodeJwt(e.form.client_assertion),
      };
    });
  }

  /** The assertion libdpop promises: typ JWT, iss = sub = client_id, aud, fresh jti, exp = iat + 60. */
  function assertAssertion(a, { clientId, aud, alg, kid }) {
    assert.equal(a.form.client_assertion_type, ASSERTION_TYPE, 'client_assertion_type');
    assert.equal(a.form.client_id, clientId, 'client_id in the form');
    assert.ok(!('client_secret' in a.form), 'no client_secret');
    assert.equal(a.header.typ, 'JWT', 'assertion typ');
    assert.equal(a.header.alg, alg, 'assertion alg');
    if (kid !== undefined) assert.equal(a.header.kid, kid, 'assertion kid');
    assert.equal(a.claims.iss, clientId, 'iss');
    assert.equal(a.claims.sub, clientId, 'sub');
    assert.equal(a.claims.aud, aud, 'aud is one string');
    assert.equal(typeof a.claims.jti, 'string');
    assert.ok(a.claims.jti.length >= 16, 'jti is long enough to be fresh');
    assert.ok(Math.abs(a.claims.iat - Date.now() / 1000) < 10, 'iat is now');
    assert.equal(a.claims.exp - a.claims.iat, 60, 'exp = iat + 60');
  }

  /** Verifies the assertion's signature with the registered public key (as oidc-provider did). */
  async function verifyAssertion(a, key) {
    const form = a.form.client_assertion;
    await jose.compactVerify(form, await jose.importJWK(key.publicJwk, a.header.alg));
  }

  /** Settings for libdpop's private_key_jwt against `as` (token endpoint unless `extra` says). */
  const jwtSettings = (as, clientId, extra = {}) => JSON.stringify({
    client_id: clientId,
    token_endpoint: as.tokenEndpoint,
    scope: 'api:read',
    auth_method: 'private_key_jwt',
    ...extra,
  });

  /**
   * The libdpop error of a run that should fail: from a setup step (interop_client exits 2 and
   * says "... failed: DPOP_ERR_X: text") or from a request ("error DPOP_ERR_X text").
   */
  async function libdpopError(key, settingsJson, steps) {
    const r = await runProgram(PROGRAMS.client, [key, settingsJson, ...steps.map(String)]);
    const setup = /failed: (DPOP_ERR_\w+): (.*)$/s.exec(r.stderr);
    if (r.code === 2 && setup) return { where: 'setup', name: setup[1], text: setup[2].trim() };
    const line = r.stdout.split('\n').find((l) => l.startsWith('error '));
    assert.ok(line, `expected a libdpop error; got exit ${r.code}: ${r.stdout} ${r.stderr}`);
    const [, name, ...text] = line.split(' ');
    return { where: 'request', name, text: text.join(' ') };
  }

  // -------------------------------------------------------------------------------------------
  // oauth4webapi as the client

  async function discover(issuer, algorithm = 'oauth2') {
    const url = new URL(issuer);
    return oauth.processDiscoveryResponse(url, await oauth.discoveryRequest(url, { algorithm, ...insecure }));
  }

  /** Runs `call` and, on a use_dpop_nonce answer, once more (oauth.DPoP has learned the nonce). */
  const withNonceRetry = (call) => call().catch((e) => (oauth.isDPoPNonceError(e) ? call() : Promise.reject(e)));

  function o4wClientCredentials(meta, clientId, clientAuth, DPoP) {
    const client = { client_id: clientId };
    return withNonceRetry(() => oauth.clientCredentialsGrantRequest(meta, client, clientAuth, { scope: 'api:read' },
      { DPoP, ...insecure }).then((r) => oauth.processClientCredentialsResponse(meta, client, r)));
  }

  /** A token request oauth4webapi would make, with the assertion changed by `modify(header, payload)`. */
  async function o4wRawTokenRequest(meta, clientId, assertionKey, modify, DPoP) {
    const clientAuth = oauth.PrivateKeyJwt(assertionKey, { [oauth.modifyAssertion]: modify });
    const r = await oauth.clientCredentialsGrantRequest(meta, { client_id: clientId }, clientAuth, { scope: 'api:read' },
      { DPoP, ...insecure });
    return { status: r.status, json: await r.json() };
  }

  /**
   * authorization_code + PKCE for the public client, from node: the authorization request,
   * the dev interactions filled in by browser.mjs (stopping before the redirect_uri, where
   * nothing listens) and the code exchange with a DPoP proof of `DPoP`. Returns the token
   * response.
   */
  async function o4wAuthorizationCode(meta, DPoP) {
    const client = { client_id: PUBLIC_CLIENT.id, id_token_signed_response_alg: 'ES256' };
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const url = new URL(meta.authorization_endpoint);
    url.search = new URLSearchParams({
      client_id: PUBLIC_CLIENT.id,
      response_type: 'code',
      redirect_uri: PUBLIC_CLIENT.redirectUri,
      scope: 'openid api:read',
      resource: AUDIENCE,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    }).toString();
    const { url: next } = await browse(url.href, { stopAt: (u) => u.startsWith(PUBLIC_CLIENT.redirectUri) });
    const params = oauth.validateAuthResponse(meta, client, new URL(next), state);
    return withNonceRetry(() => oauth.authorizationCodeGrantRequest(meta, client, oauth.None(), params,
      PUBLIC_CLIENT.redirectUri, verifier, { DPoP, ...insecure })
      .then((r) => oauth.processAuthorizationCodeResponse(meta, client, r)));
  }

  function o4wRefresh(meta, refreshToken, DPoP) {
    const client = { client_id: PUBLIC_CLIENT.id, id_token_signed_response_alg: 'ES256' };
    return withNonceRetry(() => oauth.refreshTokenGrantRequest(meta, client, oauth.None(), refreshToken,
      { DPoP, ...insecure }).then((r) => oauth.processRefreshTokenResponse(meta, client, r)));
  }

  /** A resource server call with oauth4webapi's proofs; the parsed answer. */
  async function o4wResource(rs, accessToken, DPoP) {
    const r = await oauth.protectedResourceRequest(accessToken, 'GET', new URL(rs.url), undefined, undefined,
      { DPoP, ...insecure });
    assert.equal(r.status, 200, await r.clone().text());
    return r.json();
  }

  // -------------------------------------------------------------------------------------------
  // private_key_jwt and PS256 proofs

  await test('server check (oauth4webapi): private_key_jwt (ES256, PS256, RS256), PS256 DPoP, discovery', async () => {
    const ec = await newKey('p256');
    const rsa = await newKey('rsa3072');
    const dpopRsa = await newKey('rsa2048');
    await withServers({ nonces: 'off', jwtClients: [{ id: 'o4w-jwt', jwks: jwks(ec, rsa) }] }, async ({ as, rs }) => {
      const meta = await discover(as.issuer);
      assert.equal(meta.token_endpoint, as.tokenEndpoint);
      assert.ok(meta.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
      assert.ok(meta.dpop_signing_alg_values_supported.includes('PS256'), 'PS256 in dpop_signing_alg_values_supported');
      const DPoP = oauth.DPoP({ client_id: 'o4w-jwt' }, await webKeyPair(dpopRsa, 'PS256'));
      for (const [key, alg] of [[ec, 'ES256'], [rsa, 'PS256'], [rsa, 'RS256']]) {
        const { privateKey } = await webKeyPair(key, alg);
        const token = await o4wClientCredentials(meta, 'o4w-jwt', oauth.PrivateKeyJwt(privateKey), DPoP);
        assert.equal(token.token_type, 'dpop');
        const [a] = assertionsOf(as.tokenRequests().slice(-1));
        assert.equal(a.header.alg, alg);
        assert.equal(issuedTokens(as).at(-1).claims.cnf.jkt, dpopRsa.thumbprint, 'bound to the RSA DPoP key');
        const answer = await o4wResource(rs, token.access_token, DPoP);
        assert.equal(answer.proof.alg, 'PS256', 'the resource server took a PS256 proof');
        assert.equal(answer.jkt, dpopRsa.thumbprint);
      }
      // Verified notes for the library: an assertion with aud = the token endpoint URL is
      // accepted too (outside FAPI 2.0), and client_id may be left out of the form.
      const { privateKey } = await webKeyPair(ec, 'ES256');
      const tokenAud = await o4wRawTokenRequest(meta, 'o4w-jwt', privateKey, (_h, p) => { p.aud = as.tokenEndpoint; }, DPoP);
      assert.equal(tokenAud.status, 200, JSON.stringify(tokenAud.json));
      const wrongAud = await o4wRawTokenRequest(meta, 'o4w-jwt', privateKey, (_h, p) => { p.aud = `${as.issuer}/`; }, DPoP);
      assert.deepEqual([wrongAud.status, wrongAud.json.error], [401, 'invalid_client'], 'aud = issuer + "/" is refused');
      assertDpopTokens(as, dpopRsa.thumbprint, 300);
    });
  });

  await test('libdpop: private_key_jwt with a P-256 assertion key (file, PEM text, JWK object, JWK text)', async () => {
    const ec = await newKey('p256');
    await withServers({ nonces: 'off', jwtClients: [{ id: 'interop-jwt-ec', jwks: jwks(ec) }] }, async ({ as, rs }) => {
      const forms = [ec.file, ec.pem, ec.privateJwk, JSON.stringify(ec.privateJwk)];
      for (const [i, clientAssertionKey] of forms.entries()) {
        const c = await runClient('ES256', jwtSettings(as, 'interop-jwt-ec', { client_assertion_key: clientAssertionKey }),
          ['get', rs.url]);
        assert.equal(c.out[0].status, 200, `form #${i}: ${JSON.stringify(c.out)}`);
        assert.equal(c.out[0].json.client_id, 'interop-jwt-ec');
        const [a] = assertionsOf(as.tokenRequests().slice(-1));
        assertAssertion(a, { clientId: 'interop-jwt-ec', aud: as.tokenEndpoint, alg: 'ES256' });
        await verifyAssertion(a, ec);
        assert.equal(issuedTokens(as).at(-1).claims.cnf.jkt, c.jkt, 'bound to the DPoP key');
      }
      assert.deepEqual(statuses(as.tokenRequests()), ['200', '200', '200', '200']);
      assertDpopTokens(as, undefined, 300);
    });
  });

  await test('libdpop: private_key_jwt with an RSA 3072 assertion key (PS256 by default, RS256 and kid on request)', async () => {
    const rsa = await newKey('rsa3072');
    // The registered key carries the kid the second run names (oidc-provider picks the key by
    // the assertion's kid when it has one); the first run sends no kid.
    const registered = { keys: [{ ...rsa.publicJwk, kid: 'rsa-1' }] };
    await withServers({ nonces: 'off', jwtClients: [{ id: 'interop-jwt-rsa', jwks: registered }] }, async ({ as, rs }) => {
      const runs = [
        [{ client_assertion_key: rsa.file }, 'PS256', undefined],
        [{ client_assertion_key: rsa.file, client_assertion_alg: 'RS256', client_assertion_kid: 'rsa-1' }, 'RS256', 'rsa-1'],
      ];
      for (const [extra, alg, kid] of runs) {
        const c = await runClient('ES256', jwtSettings(as, 'interop-jwt-rsa', extra), ['get', rs.url]);
        assert.equal(c.out[0].status, 200, `${alg}: ${JSON.stringify(c.out)}`);
        const [a] = assertionsOf(as.tokenRequests().slice(-1));
        assertAssertion(a, { clientId: 'interop-jwt-rsa', aud: as.tokenEndpoint, alg, kid });
        await verifyAssertion(a, rsa);
        assert.equal(issuedTokens(as).at(-1).claims.cnf.jkt, c.jkt, 'bound to the DPoP key');
      }
      assertDpopTokens(as, undefined, 300);
    });
  });

  await test('libdpop: private_key_jwt signed with the DPoP key (client_assertion_use_dpop_key)', async () => {
    const ec = await newKey('p256');
    await withServers({ nonces: 'off', jwtClients: [{ id: 'interop-jwt-dpop', jwks: jwks(ec) }] }, async ({ as, rs }) => {
      const c = await runClient(ec.file, jwtSettings(as, 'interop-jwt-dpop', { client_assertion_use_dpop_key: true }),
        ['get', rs.url]);
      assert.equal(c.out[0].status, 200, JSON.stringify(c.out));
      assert.equal(c.jkt, ec.thumbprint);
      const [a] = assertionsOf(as.tokenRequests());
      assertAssertion(a, { clientId: 'interop-jwt-dpop', aud: as.tokenEndpoint, alg: 'ES256' });
      await verifyAssertion(a, ec);
      assertDpopTokens(as, ec.thumbprint, 300);
    });
  });

  await test('libdpop: PS256 DPoP proofs with RSA keys (PKCS#8 2048, PKCS#1 3072)', async () => {
    const keys = [await newKey('rsa2048'), await newKey('rsa3072', { pkcs1: true })];
    await withServers({ nonces: 'required', rsNonce: true }, async ({ as, rs }) => {
      for (const key of keys) {
        const before = { as: as.tokenRequests().length, rs: rs.log.length };
        const c = await runClient(key.file, h.settings(as), ['get', rs.url, 'get', rs.url]);
        assert.equal(c.jkt, key.thumbprint, 'libdpop reports the RSA key thumbprint (RFC 7638: e, kty, n)');
        assert.deepEqual(c.out.map((o) => o.status), [200, 200], JSON.stringify(c.out));
        const tokenRequests = as.tokenRequests().slice(before.as);
        assert.deepEqual(statuses(tokenRequests), ['400 use_dpop_nonce', '200']);
        assertOneRetryPerDemand(tokenRequests, asNonce);
        for (const e of tokenRequests) {
          const proof = jose.decodeProtectedHeader(e.dpop[0]);
          assert.equal(proof.alg, 'PS256', 'the token request proof is PS256');
          assert.equal(proof.jwk.kty, 'RSA');
          assert.ok(['d', 'p', 'q', 'dp', 'dq', 'qi'].every((m) => !(m in proof.jwk)), 'the proof jwk holds no private member');
        }
        const seen = rs.log.slice(before.rs).filter((e) => e.status === 200);
        assert.ok(seen.length === 2 && seen.every((e) => e.alg === 'PS256' && e.jkt === key.thumbprint), 'PS256 at the RS');
        assert.equal(issuedTokens(as).at(-1).claims.cnf.jkt, key.thumbprint, 'bound to the RSA key');
      }
      assertDpopTokens(as, undefined, 300);
    });
  });

  // -------------------------------------------------------------------------------------------
  // Discovery

  const discoveryPaths = (as) => as.log.filter((e) => e.path.startsWith('/.well-known/') || e.path === '/token')
    .map((e) => `${e.path} ${e.status}`);

  await test('server check (oauth4webapi): both discovery documents, issuer exact, 404 when hidden', async () => {
    await withServers({ nonces: 'off' }, async ({ as }) => {
      for (const algorithm of ['oauth2', 'oidc']) {
        const meta = await discover(as.issuer, algorithm);
        assert.equal(meta.issuer, as.issuer, `${algorithm}: the issuer has no trailing slash`);
        assert.equal(meta.token_endpoint, as.tokenEndpoint);
      }
      // (oauth4webapi compares issuers as parsed URLs, where "http://h:p" and "http://h:p/" are
      // one; libdpop promises an exact string comparison, checked in the libdpop test.)
      const raw = await fetch(`${as.issuer}/.well-known/oauth-authorization-server`).then((r) => r.json());
      assert.equal(raw.issuer, as.issuer, 'the document says the issuer without a trailing slash');
    });
    await withServers({ nonces: 'off', hideOauthMetadata: true }, async ({ as }) => {
      await assert.rejects(discover(as.issuer, 'oauth2'));
      assert.equal((await discover(as.issuer, 'oidc')).issuer, as.issuer);
    });
  });

  await test('libdpop: discovery by issuer (RFC 8414 document), no token_endpoint', async () => {
    await withServers({ nonces: 'off' }, async ({ as, rs }) => {
      const c = await runClient('ES256', JSON.stringify({ ...JSON.parse(h.settings(as)), token_endpoint: undefined, issuer: as.issuer }),
        ['get', rs.url, 'clear', 'get', rs.url]);
      assert.deepEqual(c.out.map((o) => o.status), [200, 200], JSON.stringify(c.out));
      const paths = discoveryPaths(as);
      assert.equal(paths[0], '/.well-known/oauth-authorization-server 200', paths.join(', '));
      assert.deepEqual(paths.filter((p) => p.startsWith('/token')), ['/token 200', '/token 200']);
      assertDpopTokens(as, c.jkt, 300);
    });
  });

  await test('libdpop: discovery falls back to /.well-known/openid-configuration', async () => {
    await withServers({ nonces: 'off', hideOauthMetadata: true }, async ({ as, rs }) => {
      const c = await runClient('ES256', JSON.stringify({ ...JSON.parse(h.settings(as)), token_endpoint: undefined, issuer: as.issuer }),
        ['get', rs.url]);
      assert.equal(c.out[0].status, 200, JSON.stringify(c.out));
      assert.deepEqual(discoveryPaths(as), ['/.well-known/oauth-authorization-server 404',
        '/.well-known/openid-configuration 200', '/token 200']);
      assertDpopTokens(as, c.jkt, 300);
    });
  });

  await test('libdpop: discovery with an issuer that differs by a trailing slash is an error naming both', async () => {
    await withServers({ nonces: 'off' }, async ({ as, rs }) => {
      const setting = `${as.issuer}/`;
      const e = await libdpopError('ES256', JSON.stringify({ ...JSON.parse(h.settings(as)), token_endpoint: undefined, issuer: setting }),
        ['get', rs.url]);
      assert.match(e.name, /^DPOP_ERR_/);
      assert.ok(e.text.includes(setting), `the error names the setting ${setting}: ${e.text}`);
      const bare = new RegExp(`${as.issuer.replace(/[.]/g, '\\.')}(?!/)`);
      assert.match(e.text, bare, `the error names the document's issuer ${as.issuer}: ${e.text}`);
      assert.equal(as.tokenRequests().length, 0, 'no token request after a mismatch');
      assert.equal(rs.log.length, 0, 'the API is not called');
    });
  });

  // -------------------------------------------------------------------------------------------
  // FAPI 2.0

  await test('server check (oauth4webapi): FAPI 2.0 profile: client_credentials, private_key_jwt, DPoP; aud must be the issuer', async () => {
    const ec = await newKey('p256');
    const rsa = await newKey('rsa2048');
    await withServers({ nonces: 'off', fapi: true, jwtClients: [{ id: 'o4w-fapi', jwks: jwks(ec, rsa) }] }, async ({ as }) => {
      const meta = await discover(as.issuer);
      assert.deepEqual(meta.token_endpoint_auth_methods_supported, ['private_key_jwt']);
      assert.deepEqual(meta.token_endpoint_auth_signing_alg_values_supported, FAPI_ALGS);
      assert.deepEqual(meta.dpop_signing_alg_values_supported, FAPI_ALGS);
      const DPoP = oauth.DPoP({ client_id: 'o4w-fapi' }, await oauth.generateKeyPair('ES256'));
      for (const [key, alg] of [[ec, 'ES256'], [rsa, 'PS256']]) {
        const { privateKey } = await webKeyPair(key, alg);
        const token = await o4wClientCredentials(meta, 'o4w-fapi', oauth.PrivateKeyJwt(privateKey), DPoP);
        assert.equal(token.token_type, 'dpop');
        assert.equal(assertionsOf(as.tokenRequests().slice(-1))[0].claims.aud, as.issuer);
      }
      // What the profile refuses (verified notes for the library):
      const { privateKey } = await webKeyPair(ec, 'ES256');
      const refused = async (what, modify) => {
        const r = await o4wRawTokenRequest(meta, 'o4w-fapi', privateKey, modify, DPoP);
        assert.deepEqual([r.status, r.json.error], [401, 'invalid_client'], `${what}: ${JSON.stringify(r.json)}`);
        return r.json.error_description;
      };
      await refused('aud = token endpoint', (_h, p) => { p.aud = as.tokenEndpoint; });
      await refused('aud = [issuer]', (_h, p) => { p.aud = [as.issuer]; });
      const rs256 = await o4wRawTokenRequest(meta, 'o4w-fapi', (await webKeyPair(rsa, 'RS256')).privateKey, () => {}, DPoP);
      assert.deepEqual([rs256.status, rs256.json.error], [401, 'invalid_client'], 'an RS256 assertion');
      const bearer = await oauth.clientCredentialsGrantRequest(meta, { client_id: 'o4w-fapi' }, oauth.PrivateKeyJwt(privateKey),
        { scope: 'api:read' }, insecure);
      assert.deepEqual([bearer.status, (await bearer.json()).error], [400, 'invalid_grant'], 'no DPoP proof: no token');
      const rsaProof = oauth.DPoP({ client_id: 'o4w-fapi' }, await webKeyPair(rsa, 'RS256'));
      const rsProof = await oauth.clientCredentialsGrantRequest(meta, { client_id: 'o4w-fapi' }, oauth.PrivateKeyJwt(privateKey),
        { scope: 'api:read' }, { DPoP: rsaProof, ...insecure });
      assert.deepEqual([rsProof.status, (await rsProof.json()).error], [400, 'invalid_dpop_proof'], 'an RS256 proof');
    });
  });

  await test('libdpop: FAPI 2.0 profile end to end (issuer, private_key_jwt, ES256 and PS256)', async () => {
    const ec = await newKey('p256');
    const rsa = await newKey('rsa2048');
    const dpopRsa = await newKey('rsa2048');
    await withServers({ nonces: 'off', fapi: true, jwtClients: [{ id: 'interop-fapi', jwks: jwks(ec, rsa) }] }, async ({ as, rs }) => {
      const fapi = (key) => JSON.stringify({
        client_id: 'interop-fapi',
        issuer: as.issuer,
        profile: 'fapi2',
        auth_method: 'private_key_jwt',
        client_assertion_key: key.file,
        scope: 'api:read',
      });
      for (const [dpopKey, assertionKey, alg] of [['ES256', ec, 'ES256'], [dpopRsa.file, rsa, 'PS256']]) {
        const c = await runClient(dpopKey, fapi(assertionKey), ['get', rs.url]);
        assert.equal(c.out[0].status, 200, `${alg}: ${JSON.stringify(c.out)}`);
        const [a] = assertionsOf(as.tokenRequests().slice(-1));
        assertAssertion(a, { clientId: 'interop-fapi', aud: as.issuer, alg });
        assert.equal(issuedTokens(as).at(-1).claims.cnf.jkt, c.jkt);
        assert.equal(rs.log.at(-1).alg, alg, 'the DPoP proofs use the same algorithm family as the run');
      }
      assert.ok(discoveryPaths(as).includes('/.well-known/oauth-authorization-server 200'), 'discovery by issuer');
      assertDpopTokens(as, undefined, 300);
    });
  });

  await test('libdpop: the fapi2 profile refuses what FAPI 2.0 forbids before sending anything', async () => {
    const rsa = await newKey('rsa2048');
    await withServers({ nonces: 'off', fapi: true, jwtClients: [{ id: 'interop-fapi', jwks: jwks(rsa) }] }, async ({ as, rs }) => {
      const base = { client_id: 'interop-fapi', issuer: as.issuer, profile: 'fapi2', scope: 'api:read' };
      // [settings, what the error must name]
      const cases = {
        'RS256 assertions': [{ ...base, auth_method: 'private_key_jwt', client_assertion_key: rsa.file, client_assertion_alg: 'RS256' }, /RS256/],
        client_secret_post: [{ ...base, auth_method: 'client_secret_post', client_secret: 'x' }, /private_key_jwt|client_secret_post/],
        'no issuer': [{ ...base, issuer: undefined, token_endpoint: as.tokenEndpoint, auth_method: 'private_key_jwt', client_assertion_key: rsa.file }, /issuer/],
      };
      for (const [what, [s, names]] of Object.entries(cases)) {
        const e = await libdpopError('ES256', JSON.stringify(s), ['get', rs.url]);
        assert.match(e.name, /^DPOP_ERR_/, what);
        // Not refused merely for not knowing the settings (as a library without them does).
        assert.doesNotMatch(e.text, /unknown token setting/, `${what}: ${e.text}`);
        assert.match(e.text, names, `${what}: ${e.text}`);
      }
      assert.equal(as.tokenRequests().length, 0, 'no token request');
      assert.equal(rs.log.length, 0);
    });
  });

  // -------------------------------------------------------------------------------------------
  // The nonce retry with a fresh assertion

  await test('server check (oauth4webapi): nonce retry with a fresh assertion; the first one cannot be replayed', async () => {
    const ec = await newKey('p256');
    await withServers({ nonces: 'required', jwtClients: [{ id: 'o4w-jwt', jwks: jwks(ec) }] }, async ({ as }) => {
      const meta = await discover(as.issuer);
      const DPoP = oauth.DPoP({ client_id: 'o4w-jwt' }, await oauth.generateKeyPair('ES256'));
      const { privateKey } = await webKeyPair(ec, 'ES256');
      await o4wClientCredentials(meta, 'o4w-jwt', oauth.PrivateKeyJwt(privateKey), DPoP);
      assert.deepEqual(statuses(as.tokenRequests()), ['400 use_dpop_nonce', '200']);
      const [first, second] = assertionsOf(as.tokenRequests());
      assert.notEqual(first.claims.jti, second.claims.jti);
      // oidc-provider authenticates the client before it looks at the proof: the assertion of
      // the use_dpop_nonce answer is spent, and sending it again fails even with the nonce.
      const replay = await oauth.clientCredentialsGrantRequest(meta, { client_id: 'o4w-jwt' },
        (_as, _client, body) => {
          for (const [k, v] of Object.entries(first.form)) body.set(k, v);
        }, {}, { DPoP, ...insecure });
      const json = await replay.json();
      assert.deepEqual([replay.status, json.error], [401, 'invalid_client'], JSON.stringify(json));
      assert.ok(as.tokenRequests().at(-1).nonceSent, 'the replay carried a valid nonce');
    });
  });

  await test('libdpop: private_key_jwt nonce retry sends a new assertion (two jti values)', async () => {
    const ec = await newKey('p256');
    await withServers({ nonces: 'required', rsNonce: true, jwtClients: [{ id: 'interop-jwt-ec', jwks: jwks(ec) }] },
      async ({ as, rs }) => {
        const c = await runClient('ES256', jwtSettings(as, 'interop-jwt-ec', { client_assertion_key: ec.file }), ['get', rs.url]);
        assert.equal(c.out[0].status, 200, JSON.stringify(c.out));
        const requests = as.tokenRequests();
        assert.deepEqual(statuses(requests), ['400 use_dpop_nonce', '200']);
        assertOneRetryPerDemand(requests, asNonce);
        const [first, retry] = assertionsOf(requests);
        for (const a of [first, retry]) {
          assertAssertion(a, { clientId: 'interop-jwt-ec', aud: as.tokenEndpoint, alg: 'ES256' });
          await verifyAssertion(a, ec);
        }
        assert.notEqual(first.claims.jti, retry.claims.jti, 'the retry has its own assertion');
        assert.notEqual(first.form.client_assertion, retry.form.client_assertion);
        assertDpopTokens(as, c.jkt, 300);
      });
  });

  // -------------------------------------------------------------------------------------------
  // Refresh tokens of a public client across nonce rotation

  /** An initial DPoP-bound refresh token for `key` (a PEM file of an ES256 key), from node. */
  async function initialRefreshToken(as, key) {
    const meta = await discover(as.issuer);
    const DPoP = oauth.DPoP({ client_id: PUBLIC_CLIENT.id }, await webKeyPair(key, 'ES256'));
    const token = await o4wAuthorizationCode(meta, DPoP);
    assert.equal(token.token_type, 'dpop');
    assert.ok(token.refresh_token, 'a refresh token');
    return { meta, DPoP, token };
  }

  await test('server check (oauth4webapi): public client, code + PKCE, rotating DPoP-bound refresh tokens, reuse revokes', async () => {
    const key = await newKey('p256');
    await withServers({ nonces: 'rotating', ttl: SHORT_TTL, publicClient: true }, async ({ as, rs }) => {
      const { meta, DPoP, token } = await initialRefreshToken(as, key);
      assert.equal(issuedTokens(as).at(-1).claims.cnf.jkt, key.thumbprint);
      assert.equal((await o4wResource(rs, token.access_token, DPoP)).jkt, key.thumbprint);
      const chain = [token.refresh_token];
      for (let i = 0; i < 2; i++) {
        const next = await o4wRefresh(meta, chain.at(-1), DPoP);
        assert.ok(next.refresh_token && !chain.includes(next.refresh_token), 'a new refresh token each time');
        chain.push(next.refresh_token);
        assert.equal((await o4wResource(rs, next.access_token, DPoP)).jkt, key.thumbprint);
      }
      // Each refresh: a demand (the nonce rotated after the last token) and one retry with the
      // same refresh token; the demand does not consume it.
      const refreshes = as.tokenRequests().filter((e) => e.form?.grant_type === 'refresh_token');
      assert.deepEqual(statuses(refreshes), ['400 use_dpop_nonce', '200', '400 use_dpop_nonce', '200']);
      assert.deepEqual(refreshes.map((e) => e.form.refresh_token), [chain[0], chain[0], chain[1], chain[1]]);
      const t = issuedTokens(as).at(-1);
      assert.equal(t.claims.sub, ACCOUNT);
      assert.equal(t.claims.exp - t.claims.iat, SHORT_TTL);
      // The refresh token is bound to the key: another key is refused.
      const other = oauth.DPoP({ client_id: PUBLIC_CLIENT.id }, await oauth.generateKeyPair('ES256'));
      await assert.rejects(o4wRefresh(meta, chain.at(-1), other), (e) => e.error === 'invalid_grant');
      // Reuse of a rotated refresh token is refused and revokes the grant.
      await assert.rejects(o4wRefresh(meta, chain[0], DPoP), (e) => e.error === 'invalid_grant');
      await assert.rejects(o4wRefresh(meta, chain.at(-1), DPoP), (e) => e.error === 'invalid_grant');
    });
  });

  await test(`libdpop: refresh_token grant, public client: rotating refresh tokens survive nonce rotation (${SHORT_TTL} s tokens)`, async () => {
    const key = await newKey('p256');
    await withServers({ nonces: 'rotating', ttl: SHORT_TTL, publicClient: true }, async ({ as, rs }) => {
      const { meta, DPoP, token } = await initialRefreshToken(as, key);
      const before = as.tokenRequests().length;
      const wait = ['sleep', SHORT_TTL * 1000 + 500];
      const steps = ['get', rs.url, ...wait, 'get', rs.url, ...wait, 'get', rs.url, ...wait, 'get', rs.url];
      const s = JSON.stringify({
        client_id: PUBLIC_CLIENT.id,
        token_endpoint: as.tokenEndpoint,
        auth_method: 'none',
        grant_type: 'refresh_token',
        refresh_token: token.refresh_token,
      });
      const c = await runClient(key.file, s, steps);
      assert.equal(c.jkt, key.thumbprint);
      assert.deepEqual(c.out.map((o) => o.status), [200, 200, 200, 200], JSON.stringify(c.out));
      assert.ok(c.out.every((o) => o.json.jkt === key.thumbprint));
      const requests = as.tokenRequests().slice(before);
      // One refresh per call: the nonce rotated after each token, so each is demanded once.
      assert.deepEqual(statuses(requests), Array(4).fill(['400 use_dpop_nonce', '200']).flat());
      assertOneRetryPerDemand(requests, asNonce);
      let latest = token.refresh_token;
      for (let i = 0; i < requests.length; i += 2) {
        const [demand, retry] = [requests[i], requests[i + 1]];
        for (const e of [demand, retry]) {
          assert.equal(e.form.grant_type, 'refresh_token');
          assert.equal(e.form.client_id, PUBLIC_CLIENT.id);
          assert.ok(!('client_secret' in e.form) && !('client_assertion' in e.form) && !e.authorization, 'no client credential');
          assert.equal(e.form.refresh_token, latest, `refresh #${i / 2} uses the latest refresh token`);
        }
        if (i > 0) {
          assert.ok(demand.nonceSent, 'the refresh carries the nonce it had learned');
        }
        const issued = JSON.parse(retry.response);
        assert.ok(issued.refresh_token && issued.refresh_token !== latest, 'a rotated refresh token');
        latest = issued.refresh_token;
      }
      const tokens = issuedTokens(as).slice(-4);
      assert.equal(new Set(tokens.map((t) => t.claims.jti)).size, 4);
      assert.ok(tokens.every((t) => t.claims.cnf.jkt === key.thumbprint && t.claims.exp - t.claims.iat === SHORT_TTL));
      assert.equal(new Set(rs.log.map((e) => e.tokenJti)).size, 4, 'a new token for each call');
      // After libdpop is done: the latest refresh token it was given is good; the first one is
      // spent, and presenting it revokes the grant (reuse detection, which is why this comes
      // last), so the newest one fails too.
      const newest = (await o4wRefresh(meta, latest, DPoP)).refresh_token;
      await assert.rejects(o4wRefresh(meta, token.refresh_token, DPoP), (e) => e.error === 'invalid_grant');
      await assert.rejects(o4wRefresh(meta, newest, DPoP), (e) => e.error === 'invalid_grant',
        'the reuse revoked the whole grant');
    });
  });
}
