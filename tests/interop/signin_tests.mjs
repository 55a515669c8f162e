// The interop tests of issue 16, run by run.mjs after auth_tests.mjs: a user signs in with the
// authorization code flow (PKCE, DPoP bound from the start with dpop_jkt, PAR) at oidc-provider,
// whose own dev interactions (a login form and a consent form) are filled in by browser.mjs, a
// headless browser; the refresh token is DPoP-bound and rotated; the DPoP key and the refresh
// token are saved, and a later run refreshes from the saved state without signing in again.
//
// The "server check (oauth4webapi): ..." tests prove the set-up with an independent client:
// oauth4webapi does the whole flow (PAR with a DPoP proof, dpop_jkt, PKCE, nonce, the browser
// delivering the code to a loopback listener on a port chosen at run time, the code exchange,
// refreshes) and checks that oidc-provider enforces what the libdpop tests rely on. The
// "libdpop: ..." tests drive dpop_http_sign_in and the saved state through interop_client; the
// library runs browser.mjs as DPOP_BROWSER.
import assert from 'node:assert/strict';
import { createHash, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as jose from 'jose';
import * as oauth from 'oauth4webapi';

import { browse } from './browser.mjs';
import { ACCOUNT, PAR_CLIENT, PUBLIC_CLIENT } from './servers.mjs';

const BROWSER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'browser.mjs');
const insecure = { [oauth.allowInsecureRequests]: true };
const SCOPE = 'openid api:read';
const CALLBACK_PATH = '/interop-callback';
const SIGN_IN_MS = 30_000;
const PASSPHRASE = 'interop state passphrase';
const b64uSha256 = (text) => createHash('sha256').update(text).digest('base64url');

export default async function signInTests(h) {
  const {
    test, withServers, runProgram, runClient, runClientLive, issuedTokens, statuses,
    assertOneRetryPerDemand, asNonce, WORK, PROGRAMS,
  } = h;

  let fileCount = 0;
  const newFile = (name) => path.join(WORK, `signin-${++fileCount}-${name}`);

  /** A new ES256 key file (dpoptool) with its thumbprint and private scalar `d`. */
  async function newKey() {
    const file = newFile('key.pem');
    const made = await runProgram(PROGRAMS.dpoptool, ['generate', 'ES256', file, `${file}.jwk`]);
    assert.equal(made.code, 0, made.stdout + made.stderr);
    return { file, thumbprint: JSON.parse(made.stdout).thumbprint, d: createPrivateKey(readFileSync(file)).export({ format: 'jwk' }).d };
  }

  // -------------------------------------------------------------------------------------------
  // oauth4webapi as the client

  async function discover(issuer) {
    const url = new URL(issuer);
    return oauth.processDiscoveryResponse(url, await oauth.discoveryRequest(url, insecure));
  }

  const withNonceRetry = (call) => call().catch((e) => (oauth.isDPoPNonceError(e) ? call() : Promise.reject(e)));

  /** A DPoP handle for a new ES256 key, with the key's thumbprint. */
  async function o4wKey(clientId) {
    const pair = await oauth.generateKeyPair('ES256');
    return { DPoP: oauth.DPoP({ client_id: clientId }, pair), jkt: await jose.calculateJwkThumbprint(await jose.exportJWK(pair.publicKey)) };
  }

  /**
   * The native app's side of RFC 8252 §7.3: a one-shot listener on 127.0.0.1 at a port the
   * system picks, answering the browser's redirect with a page that has no form.
   */
  async function loopbackListener() {
    const received = [];
    const server = http.createServer((req, res) => {
      received.push(new URL(req.url, `http://${req.headers.host}`));
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!DOCTYPE html><p>Signed in. You can close this window.</p>');
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      redirectUri: `http://127.0.0.1:${server.address().port}${CALLBACK_PATH}`,
      received,
      close: () => new Promise((resolve) => server.close(resolve)),
    };
  }

  /**
   * The authorization request of the public client `clientId` as oauth4webapi sends it, by PAR
   * (with a DPoP proof, and dpop_jkt too) or in the query (dpop_jkt only), then browser.mjs
   * through the dev interactions to `redirectUri`. Returns what the code exchange needs.
   */
  async function o4wAuthorize(meta, { clientId, DPoP, jkt, par, redirectUri, action }) {
    const client = { client_id: clientId, id_token_signed_response_alg: 'ES256' };
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    const params = {
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: SCOPE,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      dpop_jkt: jkt,
    };
    const url = new URL(meta.authorization_endpoint);
    if (par) {
      const pushed = await withNonceRetry(() => oauth.pushedAuthorizationRequest(meta, client, oauth.None(), params, { DPoP, ...insecure })
        .then((r) => oauth.processPushedAuthorizationResponse(meta, client, r)));
      url.search = new URLSearchParams({ client_id: clientId, request_uri: pushed.request_uri }).toString();
    } else {
      url.search = new URLSearchParams({ client_id: clientId, ...params }).toString();
    }
    const browsed = await browse(url.href, { action });
    return { client, verifier, state, nonce, browsed };
  }

  function o4wExchange(meta, { client, verifier, state, nonce }, callback, redirectUri, DPoP) {
    const params = oauth.validateAuthResponse(meta, client, callback, state);
    return withNonceRetry(() => oauth.authorizationCodeGrantRequest(meta, client, oauth.None(), params, redirectUri, verifier,
      { DPoP, ...insecure }).then((r) => oauth.processAuthorizationCodeResponse(meta, client, r, { expectedNonce: nonce, requireIdToken: true })));
  }

  function o4wRefresh(meta, clientId, refreshToken, DPoP) {
    const client = { client_id: clientId, id_token_signed_response_alg: 'ES256' };
    return withNonceRetry(() => oauth.refreshTokenGrantRequest(meta, client, oauth.None(), refreshToken, { DPoP, ...insecure })
      .then((r) => oauth.processRefreshTokenResponse(meta, client, r)));
  }

  async function o4wResource(rs, accessToken, DPoP) {
    const call = () => oauth.protectedResourceRequest(accessToken, 'GET', new URL(rs.url), undefined, undefined, { DPoP, ...insecure });
    const r = await call();
    assert.equal(r.status, 200, await r.clone().text());
    return r.json();
  }

  /** The thumbprint of the key in a logged request's DPoP proof. */
  const proofJkt = (entry) => jose.calculateJwkThumbprint(jose.decodeProtectedHeader(entry.dpop[0]).jwk);

  await test('server check (oauth4webapi): sign-in by PAR (DPoP proof, dpop_jkt), PKCE, nonce; browser.mjs through the dev interactions to a loopback port chosen at run time; DPoP-bound rotating refresh tokens', async () => {
    await withServers({ nonces: 'required', publicClient: true }, async ({ as, rs }) => {
      const meta = await discover(as.issuer);
      assert.equal(meta.pushed_authorization_request_endpoint, `${as.issuer}/request`);
      assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
      assert.ok(meta.dpop_signing_alg_values_supported.includes('ES256'));
      const { DPoP, jkt } = await o4wKey(PAR_CLIENT.id);
      const listener = await loopbackListener();
      try {
        const flow = await o4wAuthorize(meta, { clientId: PAR_CLIENT.id, DPoP, jkt, par: true, redirectUri: listener.redirectUri });
        assert.deepEqual(flow.browsed.pages, ['login', 'consent'], 'the browser filled in the login and the consent form');
        assert.equal(flow.browsed.status, 200, 'the loopback listener answered the browser');
        assert.equal(listener.received.length, 1, 'one redirect reached the listener');
        const callback = listener.received[0];
        assert.equal(callback.searchParams.get('iss'), as.issuer, 'RFC 9207 iss in the redirect');

        // PAR: the parameters went to /request (one nonce demand, as the proof had none), the
        // browser carried only client_id and request_uri.
        const pushes = as.log.filter((e) => e.path === '/request');
        assert.deepEqual(statuses(pushes), ['400 use_dpop_nonce', '201']);
        assert.equal(pushes[1].form.dpop_jkt, jkt);
        assert.equal(await proofJkt(pushes[1]), jkt, 'a DPoP proof at PAR, of the same key');
        const [auth] = as.log.filter((e) => e.path === '/auth');
        assert.deepEqual(Object.keys(auth.query).sort(), ['client_id', 'request_uri']);
        assert.equal(auth.query.request_uri, JSON.parse(pushes[1].response).request_uri);

        const token = await o4wExchange(meta, flow, callback, listener.redirectUri, DPoP);
        assert.equal(token.token_type, 'dpop');
        assert.ok(token.refresh_token, 'a refresh token for the public client');
        const issued = issuedTokens(as).at(-1);
        assert.equal(issued.claims.cnf.jkt, jkt);
        assert.equal(issued.claims.sub, ACCOUNT, 'the account is the login typed in');
        assert.equal(jose.decodeJwt(token.id_token).nonce, flow.nonce);
        assert.equal((await o4wResource(rs, token.access_token, DPoP)).jkt, jkt);

        // The refresh token is bound to the key: another key is refused without spending it;
        // the right key gets a new (rotated) one.
        const other = await o4wKey(PAR_CLIENT.id);
        await assert.rejects(o4wRefresh(meta, PAR_CLIENT.id, token.refresh_token, other.DPoP), (e) => e.error === 'invalid_grant');
        assert.equal(as.tokenRequests().at(-1).errorDetail, 'failed jkt verification');
        const next = await o4wRefresh(meta, PAR_CLIENT.id, token.refresh_token, DPoP);
        assert.ok(next.refresh_token && next.refresh_token !== token.refresh_token, 'rotated');
        assert.equal(issuedTokens(as).at(-1).claims.cnf.jkt, jkt);
        assert.equal((await o4wResource(rs, next.access_token, DPoP)).jkt, jkt);
        await assert.rejects(o4wRefresh(meta, PAR_CLIENT.id, token.refresh_token, DPoP), (e) => e.error === 'invalid_grant',
          'the rotated-out refresh token is spent');
      } finally {
        await listener.close();
      }
    });
  });

  await test('server check (oauth4webapi): oidc-provider enforces PKCE, PAR (client and provider), dpop_jkt at the code exchange; a denied sign-in is access_denied', async () => {
    const refusal = async (meta, url) => {
      const stop = (u) => u.startsWith('http://127.0.0.1:') && new URL(u).pathname === CALLBACK_PATH;
      const r = await browse(url, { stopAt: stop });
      const callback = new URL(r.url);
      assert.ok(stop(r.url), `the error comes back to the redirect_uri: ${r.url}`);
      return `${callback.searchParams.get('error')}: ${callback.searchParams.get('error_description')}`;
    };
    const query = async (meta, clientId, extra = {}) => {
      const url = new URL(meta.authorization_endpoint);
      const verifier = oauth.generateRandomCodeVerifier();
      url.search = new URLSearchParams({
        client_id: clientId, response_type: 'code', redirect_uri: `http://127.0.0.1:4567${CALLBACK_PATH}`, scope: SCOPE,
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 's', ...extra,
      }).toString();
      for (const [k, v] of Object.entries(extra)) if (v === undefined) url.searchParams.delete(k);
      return url.href;
    };
    await withServers({ nonces: 'off', publicClient: true }, async ({ as, rs }) => {
      const meta = await discover(as.issuer);
      assert.equal(meta.require_pushed_authorization_requests, undefined, 'PAR is optional for the provider');
      assert.match(await refusal(meta, await query(meta, PUBLIC_CLIENT.id, { code_challenge: undefined, code_challenge_method: undefined })),
        /^invalid_request: .*requires PKCE/);
      assert.match(await refusal(meta, await query(meta, PAR_CLIENT.id)), /^invalid_request: Pushed Authorization Request must be used/);

      // dpop_jkt in the query (no PAR): a code exchange with another key is refused, and with
      // the key it names it succeeds.
      const listener = await loopbackListener();
      try {
        const { DPoP, jkt } = await o4wKey(PUBLIC_CLIENT.id);
        const other = await o4wKey(PUBLIC_CLIENT.id);
        const flow = await o4wAuthorize(meta, { clientId: PUBLIC_CLIENT.id, DPoP, jkt, par: false, redirectUri: listener.redirectUri });
        await assert.rejects(o4wExchange(meta, flow, listener.received[0], listener.redirectUri, other.DPoP),
          (e) => e.error === 'invalid_grant');
        assert.equal(as.tokenRequests().at(-1).errorDetail, 'DPoP proof key thumbprint does not match dpop_jkt');
        const second = await o4wAuthorize(meta, { clientId: PUBLIC_CLIENT.id, DPoP, jkt, par: false, redirectUri: listener.redirectUri });
        const token = await o4wExchange(meta, second, listener.received[1], listener.redirectUri, DPoP);
        assert.equal(issuedTokens(as).at(-1).claims.cnf.jkt, jkt);
        assert.equal((await o4wResource(rs, token.access_token, DPoP)).jkt, jkt);

        // The [ Cancel ] link of the login form: access_denied at the redirect_uri.
        const denied = await o4wAuthorize(meta, { clientId: PUBLIC_CLIENT.id, DPoP, jkt, par: false, redirectUri: listener.redirectUri, action: 'deny' });
        assert.deepEqual(denied.browsed.pages, ['login']);
        assert.equal(listener.received[2].searchParams.get('error'), 'access_denied');
        assert.ok(!listener.received[2].searchParams.has('code'));
      } finally {
        await listener.close();
      }
    });
    await withServers({ nonces: 'off', publicClient: true, requirePar: true }, async ({ as }) => {
      const meta = await discover(as.issuer);
      assert.equal(meta.require_pushed_authorization_requests, true, 'the metadata says PAR is required');
      assert.match(await refusal(meta, await query(meta, PUBLIC_CLIENT.id)), /^invalid_request: Pushed Authorization Request must be used/);
    });
  });

  // -------------------------------------------------------------------------------------------
  // libdpop: dpop_http_sign_in and the saved state, through interop_client

  /** The sign-in settings (api16): the public client, discovery, a loopback port chosen at run time. */
  const signInSettings = (as, extra = {}) => JSON.stringify({
    grant_type: 'authorization_code',
    client_id: PUBLIC_CLIENT.id,
    issuer: as.issuer,
    redirect_uri: `http://127.0.0.1:0${CALLBACK_PATH}`,
    scope: SCOPE,
    ...extra,
  });

  /** The environment that makes libdpop open browser.mjs, logging each run to `log`. */
  const browserEnv = (log, extra = {}) => ({ DPOP_BROWSER: BROWSER, INTEROP_BROWSER_LOG: log, ...extra });
  const browserRuns = (log) => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);

  /** interop_client's output in short: "signin OK", "get 200", "error DPOP_ERR_SIGN_IN", ... */
  const brief = (c) => c.out.map((o) => `${o.op}${o.outcome ? ` ${o.outcome}` : ''}${o.status ? ` ${o.status}` : ''}${o.name ? ` ${o.name}` : ''}`);

  /** The sign-in's authorization code exchanges; asserts at most one nonce demand, answered. */
  function codeExchanges(as) {
    const requests = as.tokenRequests().filter((e) => e.form?.grant_type === 'authorization_code');
    assert.ok(requests.length > 0 && requests.at(-1).status === 200, `code exchanges: ${statuses(requests)}`);
    assertOneRetryPerDemand(requests, asNonce);
    return requests;
  }

  /**
   * What every libdpop sign-in must have sent: the authorization request parameters (in the
   * query, or at PAR), then the code exchange with the PKCE verifier and a proof of the key.
   */
  async function assertSignIn(as, params, jkt, redirectUri, clientId = PUBLIC_CLIENT.id) {
    assert.equal(params.response_type, 'code');
    assert.equal(params.client_id, clientId);
    assert.equal(params.redirect_uri, redirectUri, 'the redirect_uri is the listener the browser reached');
    assert.equal(params.scope, SCOPE);
    assert.equal(params.code_challenge_method, 'S256');
    assert.match(params.code_challenge, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(params.state && params.state.length >= 16, 'a random state');
    assert.ok(params.nonce && params.nonce.length >= 16, 'a nonce, since openid is asked');
    const exchange = codeExchanges(as).at(-1);
    assert.equal(b64uSha256(exchange.form.code_verifier), params.code_challenge, 'S256(code_verifier) = code_challenge');
    assert.equal(exchange.form.redirect_uri, redirectUri);
    assert.equal(exchange.form.client_id, params.client_id);
    assert.ok(!('client_secret' in exchange.form) && !exchange.authorization, 'a public client: no client credential');
    assert.equal(await proofJkt(exchange), jkt, 'the code exchange proof is made with the key');
    const issued = JSON.parse(exchange.response);
    assert.equal(issued.token_type, 'DPoP');
    assert.ok(issued.refresh_token, 'a refresh token');
    assert.equal(jose.decodeJwt(issued.access_token).cnf.jkt, jkt, 'the access token is bound to the key');
    assert.equal(jose.decodeJwt(issued.access_token).sub, ACCOUNT);
    assert.equal(jose.decodeJwt(issued.id_token).nonce, params.nonce, 'the ID token carries the nonce libdpop sent');
    return { exchange, issued };
  }

  /**
   * The one browser run of `log`: through the forms named by `pages` to the listener, which
   * answered 200 (a failed sign-in: whatever status the library's page has).
   */
  function assertBrowserRun(log, { pages = ['login', 'consent'], failed = false } = {}) {
    const runs = browserRuns(log);
    assert.equal(runs.length, 1, `one browser run: ${JSON.stringify(runs)}`);
    const [run] = runs;
    assert.deepEqual(run.pages, pages);
    if (!failed) {
      assert.equal(run.error, undefined, `the browser: ${run.error}`);
      assert.equal(run.status, 200, 'the loopback listener answered the browser');
    }
    assert.ok(run.status > 0, `the browser reached the listener: ${run.error}`);
    const end = new URL(run.url);
    assert.equal(end.hostname, '127.0.0.1');
    assert.notEqual(end.port, '', 'a real port, not 0');
    assert.equal(end.pathname, CALLBACK_PATH);
    return { run, redirectUri: `${end.origin}${end.pathname}`, callback: end };
  }

  const latestRefreshToken = (as) => issuedTokens(as).at(-1).body.refresh_token;

  await test('libdpop: sign-in through the browser (dev interactions): PKCE S256, dpop_jkt, state, nonce, a loopback port chosen at run time; the API call with the DPoP-bound token', async () => {
    await withServers({ nonces: 'required', rsNonce: true, publicClient: true }, async ({ as, rs }) => {
      const log = newFile('browser.log');
      const sessionLog = newFile('session.log');
      const c = await runClient('ES256', signInSettings(as), ['signin', SIGN_IN_MS, 'get', rs.url, 'info'],
        { ...browserEnv(log), DPOP_SESSION_LOG: sessionLog });
      assert.deepEqual(brief(c), ['signin OK', 'get 200', 'info'], JSON.stringify(c.out));
      const { run, redirectUri, callback } = assertBrowserRun(log);
      const auth = as.authorizationRequests();
      assert.deepEqual(auth.map((e) => e.path), ['/auth'], 'one authorization request, in the query (PAR is optional here)');
      assert.ok(run.start.startsWith(`${as.issuer}/auth?`), 'the browser was given the authorization URL');
      const params = auth[0].query;
      assert.equal(params.dpop_jkt, c.jkt, 'dpop_jkt is the thumbprint of the key');
      assert.equal(callback.searchParams.get('state'), params.state);
      const { exchange, issued } = await assertSignIn(as, params, c.jkt, redirectUri);
      assert.equal(c.out[1].json.jkt, c.jkt, 'the API saw proofs of the key');
      assert.equal(rs.log.at(-1).tokenJti, jose.decodeJwt(issued.access_token).jti, 'with the token of the code exchange');
      assert.equal(c.out[2].info.refresh_token, true, 'token_info: a refresh token is held');
      const text = readFileSync(sessionLog, 'utf8');
      for (const [what, secret] of Object.entries({
        code: exchange.form.code, code_verifier: exchange.form.code_verifier, access_token: issued.access_token, refresh_token: issued.refresh_token,
      })) {
        assert.ok(!text.includes(secret), `the session log does not hold the ${what}`);
      }
    });
  });

  await test('libdpop: saved state: a second run loads the key and refresh token and calls the API with no authorization request and no browser; a third run uses the rotated refresh token', async () => {
    await withServers({ nonces: 'required', rsNonce: true, publicClient: true }, async ({ as, rs }) => {
      const key = await newKey();
      const log = newFile('browser.log');
      const state = newFile('state');
      const first = await runClient(key.file, signInSettings(as), ['signin', SIGN_IN_MS, 'get', rs.url, 'save', state, PASSPHRASE],
        browserEnv(log));
      assert.deepEqual(brief(first), ['signin OK', 'get 200', 'save OK'], JSON.stringify(first.out));
      assert.equal(first.jkt, key.thumbprint);
      assertBrowserRun(log);
      const signedIn = { auth: as.authorizationRequests().length, refreshToken: latestRefreshToken(as) };
      assert.equal(signedIn.auth, 1);
      assert.equal(statSync(state).mode & 0o777, 0o600, 'the state file is readable by its owner only');
      const stored = readFileSync(state);
      for (const [what, secret] of Object.entries({ refresh_token: signedIn.refreshToken, 'private key d': key.d, passphrase: PASSPHRASE })) {
        assert.ok(!stored.includes(secret), `the state file does not hold the ${what} in clear`);
      }

      // Runs two and three: no key given (it comes from the state), no sign-in step.
      let previous = signedIn.refreshToken;
      for (const runNo of [2, 3]) {
        const before = as.tokenRequests().length;
        const c = await runClient('none', signInSettings(as), ['load', state, PASSPHRASE, 'get', rs.url, 'info'], browserEnv(log));
        assert.deepEqual(brief(c), ['load OK', 'get 200', 'info'], `run ${runNo}: ${JSON.stringify(c.out)}`);
        assert.equal(c.out[1].json.jkt, key.thumbprint, `run ${runNo}: the saved key signs the proofs`);
        assert.equal(as.authorizationRequests().length, signedIn.auth, `run ${runNo}: no authorization request (neither /auth nor PAR)`);
        assert.equal(browserRuns(log).length, 1, `run ${runNo}: the browser was not opened`);
        const refreshes = as.tokenRequests().slice(before);
        assert.ok(refreshes.length > 0 && refreshes.every((e) => e.form.grant_type === 'refresh_token'), `run ${runNo}: ${statuses(refreshes)}`);
        assert.equal(refreshes.at(-1).status, 200);
        assertOneRetryPerDemand(refreshes, asNonce);
        assert.ok(refreshes.every((e) => e.form.refresh_token === previous),
          `run ${runNo}: the refresh token the last run was given (the state was saved again after the rotation)`);
        assert.equal(await proofJkt(refreshes.at(-1)), key.thumbprint);
        const issued = JSON.parse(refreshes.at(-1).response);
        assert.ok(issued.refresh_token && issued.refresh_token !== previous, 'rotated');
        assert.equal(rs.log.at(-1).tokenJti, jose.decodeJwt(issued.access_token).jti, 'the API got the refreshed token');
        previous = issued.refresh_token;
      }

      // A wrong passphrase and another client's settings load nothing, and send nothing.
      const seen = as.log.length;
      const wrong = await runClient('none', signInSettings(as), ['load', state, 'not the passphrase', 'get', rs.url], browserEnv(log));
      assert.deepEqual(brief(wrong), ['error DPOP_ERR_STATE_LOCKED', 'error DPOP_ERR_SIGN_IN_REQUIRED'], JSON.stringify(wrong.out));
      const foreign = await runClient('none', signInSettings(as, { client_id: PAR_CLIENT.id }), ['load', state, PASSPHRASE], browserEnv(log));
      assert.deepEqual(brief(foreign), ['error DPOP_ERR_STATE_FOREIGN'], JSON.stringify(foreign.out));
      assert.deepEqual(as.log.slice(seen).filter((e) => e.path === '/token' || e.path === '/auth' || e.path === '/request'), []);
      assert.equal(browserRuns(log).length, 1);

      const forgot = await runClient('none', signInSettings(as), ['forget', state]);
      assert.deepEqual(brief(forgot), ['forget OK'], JSON.stringify(forgot.out));
      assert.ok(!existsSync(state), 'dpop_http_clear_state deletes the file');
    });
  });

  await test('libdpop: the signed-in refresh token is bound to the key: a refresh with another key fails (invalid_grant), the key itself refreshes', async () => {
    await withServers({ nonces: 'required', publicClient: true }, async ({ as, rs }) => {
      const key = await newKey();
      const log = newFile('browser.log');
      const c = await runClient(key.file, signInSettings(as), ['signin', SIGN_IN_MS, 'get', rs.url], browserEnv(log));
      assert.deepEqual(brief(c), ['signin OK', 'get 200'], JSON.stringify(c.out));
      const refreshToken = latestRefreshToken(as);
      const refresh = JSON.stringify({
        client_id: PUBLIC_CLIENT.id, issuer: as.issuer, auth_method: 'none', grant_type: 'refresh_token', refresh_token: refreshToken,
      });
      const stolen = await runClient('ES256', refresh, ['get', rs.url]);
      assert.deepEqual(brief(stolen), ['error DPOP_ERR_TOKEN_ENDPOINT'], JSON.stringify(stolen.out));
      assert.match(stolen.out[0].text, /invalid_grant/);
      assert.equal(as.tokenRequests().at(-1).errorDetail, 'failed jkt verification', 'refused for the key, not for another reason');
      assert.ok(!stolen.out[0].text.includes(refreshToken), 'the error text does not hold the refresh token');
      assert.notEqual(await proofJkt(as.tokenRequests().at(-1)), key.thumbprint, 'the refused refresh came with another key');
      const own = await runClient(key.file, refresh, ['get', rs.url]);
      assert.deepEqual(brief(own), ['get 200'], JSON.stringify(own.out));
      assert.equal(own.out[0].json.jkt, key.thumbprint);
      assert.equal(as.tokenRequests().at(-1).form.refresh_token, refreshToken);
    });
  });

  /** The PAR request and the authorization request after it, checked as RFC 9126 §4 says. */
  async function assertPar(as, jkt) {
    const pushes = as.log.filter((e) => e.path === '/request');
    assert.ok(pushes.length > 0 && pushes.at(-1).status === 201, `PAR: ${statuses(pushes)}`);
    assertOneRetryPerDemand(pushes, asNonce);
    const push = pushes.at(-1);
    const bound = push.form.dpop_jkt ?? (push.dpop.length === 1 ? await proofJkt(push) : undefined);
    assert.equal(bound, jkt, 'PAR binds the key (dpop_jkt or a DPoP proof)');
    if (push.form.dpop_jkt && push.dpop.length === 1) {
      assert.equal(await proofJkt(push), jkt, 'dpop_jkt and the PAR proof name the same key');
    }
    const auth = as.log.filter((e) => e.path === '/auth');
    assert.equal(auth.length, 1);
    assert.deepEqual(Object.keys(auth[0].query).sort(), ['client_id', 'request_uri'], 'the browser carries only client_id and request_uri');
    assert.equal(auth[0].query.request_uri, JSON.parse(push.response).request_uri);
    return push.form;
  }

  await test('libdpop: PAR forced ("par": true) for a client that requires PAR; without it the sign-in fails with the server\'s reason', async () => {
    await withServers({ nonces: 'required', rsNonce: true, publicClient: true }, async ({ as, rs }) => {
      const refusedLog = newFile('browser.log');
      const refused = await runClient('ES256', signInSettings(as, { client_id: PAR_CLIENT.id }), ['signin', SIGN_IN_MS, 'get', rs.url],
        browserEnv(refusedLog));
      assert.deepEqual(brief(refused), ['error DPOP_ERR_SIGN_IN', 'error DPOP_ERR_SIGN_IN_REQUIRED'], JSON.stringify(refused.out));
      assert.match(refused.out[0].text, /invalid_request/);
      assert.match(refused.out[0].text, /Pushed Authorization Request must be used/);
      assertBrowserRun(refusedLog, { pages: [], failed: true });
      assert.deepEqual(as.tokenRequests(), [], 'no code, no token request');
      assert.equal(as.log.filter((e) => e.path === '/request').length, 0, 'PAR is not used unless asked (the metadata does not require it)');

      as.log.length = 0;
      const log = newFile('browser.log');
      const c = await runClient('ES256', signInSettings(as, { client_id: PAR_CLIENT.id, par: true }), ['signin', SIGN_IN_MS, 'get', rs.url],
        browserEnv(log));
      assert.deepEqual(brief(c), ['signin OK', 'get 200'], JSON.stringify(c.out));
      const { redirectUri } = assertBrowserRun(log);
      const params = await assertPar(as, c.jkt);
      await assertSignIn(as, params, c.jkt, redirectUri, PAR_CLIENT.id);
      assert.equal(c.out[1].json.jkt, c.jkt);
    });
  });

  await test('libdpop: PAR required by the provider (require_pushed_authorization_requests in the metadata) is used without "par"', async () => {
    await withServers({ nonces: 'required', publicClient: true, requirePar: true }, async ({ as, rs }) => {
      const log = newFile('browser.log');
      const c = await runClient('ES256', signInSettings(as), ['signin', SIGN_IN_MS, 'get', rs.url], browserEnv(log));
      assert.deepEqual(brief(c), ['signin OK', 'get 200'], JSON.stringify(c.out));
      const { redirectUri } = assertBrowserRun(log);
      const params = await assertPar(as, c.jkt);
      await assertSignIn(as, params, c.jkt, redirectUri);
    });
  });

  await test('libdpop: the host opens the URL itself: sign_in_start(open_browser=0), sign_in_url, sign_in_wait', async () => {
    await withServers({ nonces: 'off', publicClient: true }, async ({ as, rs }) => {
      const log = newFile('browser.log');
      let browsed;
      const c = await runClientLive('ES256', signInSettings(as), ['start', 0, 'url', 'poll', SIGN_IN_MS, 'get', rs.url], async (line) => {
        if (line.op === 'url') browsed = await browse(line.url);
      }, browserEnv(log));
      assert.deepEqual(brief(c), ['start OK', 'url', 'poll OK', 'get 200'], JSON.stringify(c.out));
      assert.deepEqual(browserRuns(log), [], 'open_browser=0: libdpop did not run DPOP_BROWSER');
      assert.deepEqual(browsed.pages, ['login', 'consent']);
      assert.equal(browsed.status, 200, 'the listener answered the browser the host ran');
      const [auth] = as.authorizationRequests();
      const url = new URL(c.out[1].url);
      assert.equal(`${url.origin}${url.pathname}`, `${as.issuer}/auth`);
      assert.deepEqual(Object.fromEntries(url.searchParams), auth.query, 'sign_in_url is the URL the browser opened');
      await assertSignIn(as, auth.query, c.jkt, `${new URL(browsed.url).origin}${CALLBACK_PATH}`);
    });
  });

  await test('libdpop: a denied sign-in (access_denied) is DPOP_ERR_SIGN_IN with no token request; no sign-in yet is DPOP_ERR_SIGN_IN_REQUIRED; sign_in_cancel ends the wait', async () => {
    await withServers({ nonces: 'off', publicClient: true }, async ({ as, rs }) => {
      const log = newFile('browser.log');
      const denied = await runClient('ES256', signInSettings(as), ['signin', SIGN_IN_MS, 'get', rs.url],
        browserEnv(log, { INTEROP_BROWSER_ACTION: 'deny' }));
      assert.deepEqual(brief(denied), ['error DPOP_ERR_SIGN_IN', 'error DPOP_ERR_SIGN_IN_REQUIRED'], JSON.stringify(denied.out));
      assert.match(denied.out[0].text, /access_denied/);
      const { callback } = assertBrowserRun(log, { pages: ['login'], failed: true });
      assert.equal(callback.searchParams.get('error'), 'access_denied');
      assert.deepEqual(as.tokenRequests(), []);

      // A call before any sign-in: an error, and the library does not start one by itself.
      as.log.length = 0;
      const idleLog = newFile('browser.log');
      const idle = await runClient('ES256', signInSettings(as), ['get', rs.url], browserEnv(idleLog));
      assert.deepEqual(brief(idle), ['error DPOP_ERR_SIGN_IN_REQUIRED'], JSON.stringify(idle.out));
      assert.deepEqual(as.log.filter((e) => e.path === '/auth' || e.path === '/request' || e.path === '/token'), []);
      assert.deepEqual(browserRuns(idleLog), []);

      const cancelled = await runClient('ES256', signInSettings(as), ['start', 0, 'cancel', 'wait', SIGN_IN_MS], browserEnv(idleLog));
      assert.deepEqual(brief(cancelled), ['start OK', 'cancel OK', 'error DPOP_ERR_CANCELLED'], JSON.stringify(cancelled.out));
      assert.deepEqual(browserRuns(idleLog), []);
      assert.deepEqual(as.tokenRequests(), []);
      assert.deepEqual(rs.log, [], 'the API was never called');
    });
  });
}
