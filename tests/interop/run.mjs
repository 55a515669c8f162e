// The interop suite: libdpop (through its C ABI) against independent DPoP implementations.
//
//   oidc-provider   the authorization server (OpenID-certified; DPoP with and without nonces)
//   jose            proof and access token verification in the resource server of servers.mjs,
//                   and jwtVerify(EmbeddedJWK) of proofs made by dpop_proof_create
//   oauth4webapi    validateJwtAccessToken in the same resource server; and, the other way
//                   round, a DPoP client that our own dpop-test-server must accept
//
// Programs run: build/client_credentials (examples-c, unchanged), build/interop/interop_client
// (tests/interop/interop_client.c, compiled by run.sh), build/dpoptool and
// target/release/dpop-test-server; and tests/interop/browser.mjs, the headless browser that
// libdpop opens (DPOP_BROWSER) for the sign-in tests. Run it through run.sh, which checks that
// `make all` has been run, installs the locked node packages and compiles interop_client.
// Everything listens on 127.0.0.1 only. Prints one line per test and closes with
// "interop: N passed, M failed"; exits non-zero on any failure.
//
// INTEROP_ONLY=text[,text...] runs only the tests whose name contains one of the texts (case
// insensitive); the others are not run and not counted, and a filter that selects nothing fails.
// The tests named "server check (oauth4webapi): ..." prove a server configuration with
// oauth4webapi as the client, independently of libdpop: INTEROP_ONLY='server check' runs just
// them.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import * as jose from 'jose';
import * as oauth from 'oauth4webapi';

import { AUDIENCE, CLIENTS, startAuthorizationServer, startResourceServer } from './servers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BUILD = path.resolve(ROOT, process.env.BUILD_DIR ?? 'build');
const PROGRAMS = {
  example: path.join(BUILD, 'client_credentials'),
  client: path.join(BUILD, 'interop', 'interop_client'),
  dpoptool: path.join(BUILD, 'dpoptool'),
  server: path.join(ROOT, 'target', 'release', 'dpop-test-server'),
};
const TEST_TIMEOUT_MS = 45_000;
const SHORT_TTL = 3;

for (const [name, file] of Object.entries(PROGRAMS)) {
  if (!existsSync(file)) {
    console.error(`interop: ${name} program ${file} is missing: run 'make all' (and tests/interop/run.sh)`);
    console.log('interop: 0 passed, 1 failed');
    process.exit(1);
  }
}
mkdirSync(path.join(BUILD, 'interop'), { recursive: true });
const WORK = mkdtempSync(path.join(BUILD, 'interop', 'run-'));

const sha256 = (text) => createHash('sha256').update(text).digest('base64url');

// ---------------------------------------------------------------------------------------------
// Running the C programs

function runProgram(file, args, env = {}) {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? error.signal) : 0, stdout, stderr });
    });
  });
}

/** Runs examples-c/client_credentials with the given client against `as` and `apiUrl`. */
async function runExample(as, apiUrl, who = 'post', env = {}) {
  const result = await runProgram(PROGRAMS.example, [], {
    DPOP_TOKEN_ENDPOINT: as.tokenEndpoint,
    DPOP_API_URL: apiUrl,
    DPOP_CLIENT_ID: CLIENTS[who].id,
    DPOP_CLIENT_SECRET: CLIENTS[who].secret,
    DPOP_SCOPE: 'api:read',
    DPOP_KEY_FILE: path.join(WORK, 'example-ec.pem'),
    ...env,
  });
  const [first, ...rest] = result.stdout.split('\n');
  result.status = Number(/^status: (\d+)$/.exec(first)?.[1]);
  result.body = rest.join('\n').trim();
  return result;
}

/** Token settings JSON for `dpop_http_set_auth_token`. */
function settings(as, who = 'post', extra = {}) {
  return JSON.stringify({
    client_id: CLIENTS[who].id,
    client_secret: CLIENTS[who].secret,
    token_endpoint: as.tokenEndpoint,
    scope: 'api:read',
    ...(who === 'basic' ? { auth_method: 'client_secret_basic' } : {}),
    ...extra,
  });
}

/**
 * Runs interop_client (one dpop_http object, several steps). Returns the key's thumbprint and
 * one entry per output line: {op, status, body} for requests, {op: 'error', name, text},
 * {op: 'info', info}.
 */
async function runClient(key, settingsJson, steps, env = {}) {
  const result = await runProgram(PROGRAMS.client, [key, settingsJson, ...steps.map(String)], env);
  if (result.code !== 0) {
    throw new Error(`interop_client exited with ${result.code}: ${result.stderr.trim()}`);
  }
  return { ...parseClientOutput(result.stdout.split('\n')), stderr: result.stderr };
}

/**
 * Runs interop_client like runClient, and calls `onLine(entry)` for each output line as it
 * comes (while the program still runs: e.g. to open the URL a "url" step prints).
 */
function runClientLive(key, settingsJson, steps, onLine, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(PROGRAMS.client, [key, settingsJson, ...steps.map(String)], {
      env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => child.kill(), 30_000);
    const lines = [];
    const handlers = [];
    let stderr = '';
    let failure;
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      try {
        const { out } = parseClientOutput([line]);
        if (out.length > 0) handlers.push(Promise.resolve(onLine(out[0])).catch((e) => { failure ??= e; }));
      } catch (e) {
        failure ??= e;
      }
    });
    child.on('close', async (code, signal) => {
      clearTimeout(timer);
      await Promise.all(handlers);
      if (failure) reject(failure);
      else if (code !== 0) reject(new Error(`interop_client exited with ${code ?? signal}: ${stderr.trim()}`));
      else resolve({ ...parseClientOutput(lines), stderr });
    });
  });
}

/** interop_client's output lines: the key's thumbprint and one entry per step that printed. */
function parseClientOutput(lines) {
  let jkt;
  const out = [];
  for (const line of lines.filter(Boolean)) {
    const [op, ...words] = line.split(' ');
    if (op === 'jkt') {
      jkt = words[0];
    } else if (op === 'get' || op === 'post') {
      const body = words.slice(1).join(' ');
      let json;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      out.push({ op, status: Number(words[0]), body, json });
    } else if (op === 'error') {
      out.push({ op, name: words[0], text: words.slice(1).join(' ') });
    } else if (op === 'info') {
      out.push({ op, info: words[0] === 'none' ? null : JSON.parse(words.join(' ')) });
    } else if (op === 'url') {
      out.push({ op, url: words[0] });
    } else if (words.length === 1 && (words[0] === 'OK' || words[0] === 'PENDING')) {
      // The sign-in and state steps: "signin OK", "wait PENDING", "save OK", ...
      out.push({ op, outcome: words[0] });
    } else {
      throw new Error(`unexpected interop_client output: ${line}`);
    }
  }
  return { jkt, out };
}

// ---------------------------------------------------------------------------------------------
// Checks on what the servers saw

/** The token endpoint's successful answers, parsed, with the access token's claims. */
function issuedTokens(as) {
  return as.tokenRequests().filter((e) => e.status === 200).map((e) => {
    const body = JSON.parse(e.response);
    return {
      body,
      header: jose.decodeProtectedHeader(body.access_token),
      claims: jose.decodeJwt(body.access_token),
    };
  });
}

function assertDpopTokens(as, jkt, ttl) {
  const tokens = issuedTokens(as);
  assert.ok(tokens.length > 0, 'no token was issued');
  for (const { body, header, claims } of tokens) {
    assert.equal(body.token_type, 'DPoP', 'token_type');
    assert.equal(header.typ, 'at+jwt');
    assert.equal(claims.aud, AUDIENCE);
    assert.equal(typeof claims.cnf?.jkt, 'string', 'a cnf.jkt binding');
    if (jkt !== undefined) {
      assert.equal(claims.cnf.jkt, jkt, 'cnf.jkt is the thumbprint libdpop reports for its key');
    }
    if (ttl !== undefined) {
      assert.equal(body.expires_in, ttl, 'expires_in');
      assert.equal(claims.exp - claims.iat, ttl, 'exp - iat');
    }
  }
  return tokens;
}

/** [status, error] of each logged request, for compact comparisons. */
const statuses = (log) => log.map((e) => (e.error ? `${e.status} ${e.error}` : `${e.status}`));

/**
 * Each nonce demand (400/401 use_dpop_nonce) is followed by exactly one retry that carries the
 * nonce the demand handed out (`nonceHeader` reads it from the server's record of its answer).
 */
function assertOneRetryPerDemand(log, nonceHeader) {
  for (let i = 0; i < log.length; i++) {
    if (log[i].error !== 'use_dpop_nonce') continue;
    const demanded = nonceHeader(log[i]);
    assert.ok(demanded, `demand #${i} carries a nonce`);
    const retry = log[i + 1];
    assert.ok(retry, `demand #${i} was not retried`);
    assert.equal(retry.nonceSent, demanded, `the retry after demand #${i} uses the demanded nonce`);
    assert.notEqual(retry.error, 'use_dpop_nonce', `demand #${i} was followed by another demand`);
  }
}
const asNonce = (e) => e.responseHeaders['dpop-nonce'];
/** The nonce the resource server of servers.mjs put in its answer (it logs what it sent). */
const rsNonce = (e) => e.nonceGiven;

/**
 * Each request after an answer that gave a nonce carries exactly that nonce: the client keeps
 * the latest nonce of the origin (the resource server also takes the one before, so its own
 * answers cannot tell). `log` holds one origin's requests.
 */
function assertLatestNonceUsed(log, nonceGiven) {
  for (let i = 1; i < log.length; i++) {
    const given = nonceGiven(log[i - 1]);
    if (given === undefined) continue;
    assert.equal(log[i].nonceSent, given, `request #${i} carries the nonce answer #${i - 1} gave`);
  }
}

// ---------------------------------------------------------------------------------------------
// The test runner

const results = [];
const ONLY = (process.env.INTEROP_ONLY ?? '').split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);
async function test(name, fn) {
  if (ONLY.length > 0 && !ONLY.some((t) => name.toLowerCase().includes(t))) {
    return;
  }
  let timer;
  const started = Date.now();
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${TEST_TIMEOUT_MS} ms`)), TEST_TIMEOUT_MS);
      }),
    ]);
    results.push(true);
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    results.push(false);
    const cause = e.cause ? `\n     cause: ${JSON.stringify(e.cause)}` : '';
    console.log(`FAIL ${name}\n     ${String(e.stack ?? e).split('\n').slice(0, 6).join('\n     ')}${cause}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `fn` with a fresh oidc-provider and resource server(s), then stops them. */
async function withServers(options, fn) {
  const { rsNonce: requireNonce = false, ...asOptions } = options;
  const as = await startAuthorizationServer({ ttl: 300, ...asOptions });
  const rs = await startResourceServer(as, { requireNonce });
  try {
    await fn({ as, rs });
  } finally {
    await rs.close();
    await as.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The tests

await test('jose: dpop_proof_create proofs verify with EmbeddedJWK (ES256, ES384, EdDSA)', async () => {
  for (const alg of ['ES256', 'ES384', 'EdDSA']) {
    const pem = path.join(WORK, `proof-${alg}.pem`);
    const made = await runProgram(PROGRAMS.dpoptool, ['generate', alg, pem, `${pem}.jwk`]);
    assert.equal(made.code, 0, made.stdout + made.stderr);
    const key = JSON.parse(made.stdout);
    const token = 'an-access-token.with.dots';
    const proofs = await runProgram(PROGRAMS.dpoptool, [
      'proof', pem, 'POST', 'HTTPS://API.Example.COM:443/a/b%20c?query=1#frag',
      '--token', token, '--nonce', 'n-1_~!', '--count', '2',
    ]);
    assert.equal(proofs.code, 0, proofs.stdout);
    const [one, two] = proofs.stdout.trim().split('\n');
    for (const proof of [one, two]) {
      const { payload, protectedHeader } = await jose.jwtVerify(proof, jose.EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: [alg],
      });
      assert.deepEqual(Object.keys(protectedHeader).sort(), ['alg', 'jwk', 'typ']);
      assert.equal(protectedHeader.alg, alg);
      assert.equal(await jose.calculateJwkThumbprint(protectedHeader.jwk), key.thumbprint);
      assert.ok(!('d' in protectedHeader.jwk), 'no private member in the jwk');
      assert.equal(payload.htm, 'POST');
      assert.equal(payload.htu, 'https://api.example.com/a/b%20c');
      assert.equal(payload.ath, sha256(token));
      assert.equal(payload.nonce, 'n-1_~!');
      assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 5, 'iat is now');
      assert.ok(Buffer.from(payload.jti, 'base64url').length >= 16, 'jti has 128 bits or more');
    }
    assert.notEqual(jose.decodeJwt(one).jti, jose.decodeJwt(two).jti, 'each proof has its own jti');
  }
});

await test('oidc-provider, nonces off: examples-c/client_credentials, client_secret_post', async () => {
  await withServers({ nonces: 'off' }, async ({ as, rs }) => {
    const sessionLog = path.join(WORK, 'example-off.log');
    const r = await runExample(as, rs.url, 'post', { DPOP_SESSION_LOG: sessionLog });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body);
    assert.equal(body.client_id, CLIENTS.post.id);
    assert.equal(body.scope, 'api:read');
    assert.deepEqual(body.checked_by, ['jose', 'oauth4webapi']);
    assert.deepEqual(statuses(as.tokenRequests()), ['200']);
    assert.equal(as.tokenRequests()[0].nonceSent, undefined, 'no nonce without a nonceSecret');
    assertDpopTokens(as, body.jkt, 300);
    assert.deepEqual(statuses(rs.log), ['200']);
    const log = readFileSync(sessionLog, 'utf8');
    assert.ok(!log.includes(CLIENTS.post.secret), 'the session log holds no client secret');
    assert.ok(!log.includes(JSON.parse(as.tokenRequests()[0].response).access_token), 'nor the token');
  });
});

await test('oidc-provider, nonces off: client_secret_basic (secret with space : + / % & =)', async () => {
  await withServers({ nonces: 'off' }, async ({ as, rs }) => {
    const c = await runClient('ES256', settings(as, 'basic'), ['get', rs.url]);
    assert.equal(c.out[0].status, 200, JSON.stringify(c.out));
    assert.equal(c.out[0].json.client_id, CLIENTS.basic.id);
    const [request] = as.tokenRequests();
    assert.match(request.authorization, /^Basic /);
    assert.ok(!request.body.includes('client_secret'), 'no client_secret in the body');
    assertDpopTokens(as, c.jkt, 300);
  });
});

await test('oidc-provider, nonces off: ES384 and EdDSA keys, several requests on one token', async () => {
  await withServers({ nonces: 'off' }, async ({ as, rs }) => {
    for (const alg of ['ES384', 'EdDSA']) {
      const before = { as: as.tokenRequests().length, rs: rs.log.length };
      const c = await runClient(alg, settings(as), ['get', rs.url, 'get', rs.url, 'get', rs.url]);
      assert.deepEqual(c.out.map((o) => o.status), [200, 200, 200], JSON.stringify(c.out));
      assert.equal(as.tokenRequests().length - before.as, 1, 'one token for three requests');
      const seen = rs.log.slice(before.rs);
      assert.ok(seen.every((e) => e.alg === alg && e.jkt === c.jkt), `${alg} proofs, bound key`);
      assert.equal(new Set(seen.map((e) => e.tokenJti)).size, 1, 'the same token each time');
      assert.equal(issuedTokens(as).at(-1).claims.cnf.jkt, c.jkt, `the ${alg} token is bound to its key`);
    }
    assertDpopTokens(as, undefined, 300);
  });
});

await test('oidc-provider, nonces off: POST with a body, explicit resource and extra params', async () => {
  await withServers({ nonces: 'off' }, async ({ as, rs }) => {
    const extra = { resource: AUDIENCE, extra_params: { interop_marker: 'x y' } };
    const c = await runClient('ES256', settings(as, 'post', extra), ['post', `${rs.url}?q=1#f`, '{"hello":"world"}']);
    assert.equal(c.out[0].status, 200, JSON.stringify(c.out));
    assert.equal(c.out[0].json.proof.htm, 'POST');
    assert.equal(c.out[0].json.proof.htu, rs.url, 'htu without query and fragment');
    assert.equal(c.out[0].json.body, '{"hello":"world"}');
    const form = new URLSearchParams(as.tokenRequests()[0].body);
    assert.equal(form.get('resource'), AUDIENCE);
    assert.equal(form.get('interop_marker'), 'x y');
    assertDpopTokens(as, c.jkt, 300);
  });
});

await test('oidc-provider: an unknown resource and a wrong secret fail once, without retries', async () => {
  await withServers({ nonces: 'off' }, async ({ as, rs }) => {
    const bad = await runClient('ES256', settings(as, 'post', { resource: 'urn:unknown' }), ['get', rs.url]);
    assert.equal(bad.out[0].name, 'DPOP_ERR_TOKEN_ENDPOINT', JSON.stringify(bad.out));
    assert.match(bad.out[0].text, /400 invalid_target/);
    const secret = JSON.stringify({ ...JSON.parse(settings(as, 'basic')), client_secret: 'wrong' });
    const wrong = await runClient('ES256', secret, ['get', rs.url]);
    assert.equal(wrong.out[0].name, 'DPOP_ERR_TOKEN_ENDPOINT', JSON.stringify(wrong.out));
    assert.match(wrong.out[0].text, /401 invalid_client/);
    assert.deepEqual(statuses(as.tokenRequests()), ['400 invalid_target', '401 invalid_client']);
    assert.equal(rs.log.length, 0);
  });
});

await test('oidc-provider, nonces off + resource server nonces: nonces stay with their origin', async () => {
  await withServers({ nonces: 'off', rsNonce: true }, async ({ as, rs }) => {
    const c = await runClient('ES256', settings(as), ['get', rs.url, 'clear', 'get', rs.url, 'get', rs.url]);
    assert.deepEqual(c.out.map((o) => o.status), [200, 200, 200], JSON.stringify(c.out));
    // oidc-provider without a nonceSecret refuses any proof with a nonce: the RS's must not leak.
    assert.deepEqual(statuses(as.tokenRequests()), ['200', '200']);
    assert.ok(as.tokenRequests().every((e) => e.nonceSent === undefined));
    // One demand, one retry; later requests use the nonce rotated in each 200.
    assert.deepEqual(statuses(rs.log), ['401 use_dpop_nonce', '200', '200', '200']);
    assertOneRetryPerDemand(rs.log, rsNonce);
    assertLatestNonceUsed(rs.log, rsNonce);
  });
});

await test('resource server: a rejected token (invalid_token) is replaced once and the request retried', async () => {
  await withServers({ nonces: 'off' }, async ({ as, rs }) => {
    const c = await runClient('ES256', settings(as), ['get', `${rs.base}/resource/revoke`, 'get', rs.url]);
    assert.deepEqual(c.out.map((o) => o.status), [200, 200], JSON.stringify(c.out));
    assert.deepEqual(statuses(rs.log), ['200', '401 invalid_token', '200']);
    assert.deepEqual(statuses(as.tokenRequests()), ['200', '200']);
    assert.notEqual(rs.log[0].tokenJti, rs.log[2].tokenJti, 'a new token');
  });
});

await test('resource server controls: it refuses what it should (replay, htm, htu, ath, key, nonce)', async () => {
  await withServers({ nonces: 'off' }, async ({ as, rs }) => {
    const pem = path.join(WORK, 'controls.pem');
    const other = path.join(WORK, 'controls-other.pem');
    for (const file of [pem, other]) {
      assert.equal((await runProgram(PROGRAMS.dpoptool, ['generate', 'ES256', file, `${file}.jwk`])).code, 0);
    }
    const c = await runClient(pem, settings(as), ['get', rs.url]);
    assert.equal(c.out[0].status, 200, JSON.stringify(c.out));
    const { authorization, dpop } = rs.log[0];
    const token = authorization.replace(/^DPoP /, '');
    const get = (proof, method = 'GET') =>
      fetch(rs.url, { method, headers: { authorization, dpop: proof } })
        .then(async (r) => `${r.status} ${(await r.json()).error ?? ''}`.trim());
    const proof = async (key, args) => {
      const r = await runProgram(PROGRAMS.dpoptool, ['proof', key, ...args]);
      assert.equal(r.code, 0, r.stdout);
      return r.stdout.trim();
    };
    // A proof made by dpop_proof_create with the token's key passes; everything else fails.
    assert.equal(await get(await proof(pem, ['GET', rs.url, '--token', token])), '200');
    assert.equal(await get(dpop[0]), '401 invalid_dpop_proof', 'replayed proof');
    assert.equal(await get(await proof(pem, ['POST', rs.url, '--token', token])), '401 invalid_dpop_proof');
    assert.equal(await get(await proof(pem, ['GET', `${rs.base}/other`, '--token', token])), '401 invalid_dpop_proof');
    assert.equal(await get(await proof(pem, ['GET', rs.url])), '401 invalid_dpop_proof', 'no ath');
    assert.equal(await get(await proof(pem, ['GET', rs.url, '--token', `${token}x`])), '401 invalid_dpop_proof');
    assert.equal(await get(await proof(other, ['GET', rs.url, '--token', token])), '401 invalid_token', 'cnf.jkt');
    assert.equal(await get(await proof(pem, ['GET', rs.url, '--token', token, '--nonce', 'n'])),
      '401 invalid_dpop_proof', 'a nonce this server never issued');
  });
});

await test('oidc-provider, nonces required: examples-c/client_credentials, client_secret_post', async () => {
  await withServers({ nonces: 'required', rsNonce: true }, async ({ as, rs }) => {
    const r = await runExample(as, rs.url);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.status, 200);
    const tokenRequests = as.tokenRequests();
    // Verified notes: 400 {"error":"use_dpop_nonce"} with a lower-case dpop-nonce header.
    assert.deepEqual(statuses(tokenRequests), ['400 use_dpop_nonce', '200']);
    assert.ok(Object.keys(tokenRequests[0].responseHeaders).includes('dpop-nonce'));
    assert.equal(tokenRequests[0].nonceSent, undefined);
    assertOneRetryPerDemand(tokenRequests, asNonce);
    assertDpopTokens(as, JSON.parse(r.body).jkt, 300);
    assert.deepEqual(statuses(rs.log), ['401 use_dpop_nonce', '200']);
    assertOneRetryPerDemand(rs.log, rsNonce);
    assert.ok(rs.log[1].nonceSent && rs.log[1].nonceSent !== tokenRequests[1].nonceSent,
      'the resource server gets its own nonce, not the AS one');
  });
});

await test('oidc-provider, nonces required: client_secret_basic, EdDSA, long session', async () => {
  await withServers({ nonces: 'required', rsNonce: true }, async ({ as, rs }) => {
    const steps = ['get', rs.url, 'get', rs.url, 'clear', 'get', rs.url, 'get', rs.url];
    const c = await runClient('EdDSA', settings(as, 'basic'), steps);
    assert.deepEqual(c.out.map((o) => o.status), [200, 200, 200, 200], JSON.stringify(c.out));
    // One nonce demand per origin for the whole session; the second grant reuses the nonce.
    assert.deepEqual(statuses(as.tokenRequests()), ['400 use_dpop_nonce', '200', '200']);
    assertOneRetryPerDemand(as.tokenRequests(), asNonce);
    assert.ok(as.tokenRequests()[2].nonceSent, 'the second grant sends the learned nonce');
    assert.deepEqual(statuses(rs.log), ['401 use_dpop_nonce', '200', '200', '200', '200']);
    assertOneRetryPerDemand(rs.log, rsNonce);
    assertLatestNonceUsed(rs.log, rsNonce);
    assertDpopTokens(as, c.jkt, 300);
  });
});

await test(`oidc-provider, nonces required, ${SHORT_TTL} s tokens: a new token after the TTL`, async () => {
  await withServers({ nonces: 'required', rsNonce: true, ttl: SHORT_TTL }, async ({ as, rs }) => {
    const steps = ['get', rs.url, 'info', 'sleep', SHORT_TTL * 1000 + 500, 'get', rs.url, 'info'];
    const c = await runClient('ES256', settings(as), steps);
    const [first, info1, second, info2] = c.out;
    assert.equal(first.status, 200, JSON.stringify(c.out));
    assert.equal(second.status, 200, JSON.stringify(c.out));
    assert.ok(info1.info.expires_in <= SHORT_TTL && info2.info.expires_in <= SHORT_TTL, JSON.stringify(c.out));
    assert.deepEqual(statuses(as.tokenRequests()), ['400 use_dpop_nonce', '200', '200']);
    const tokens = assertDpopTokens(as, c.jkt, SHORT_TTL);
    assert.notEqual(tokens[0].claims.jti, tokens[1].claims.jti);
    // Replaced before use: the resource server never saw the expired token.
    assert.deepEqual(statuses(rs.log), ['401 use_dpop_nonce', '200', '200']);
    assertOneRetryPerDemand(rs.log, rsNonce);
    assertLatestNonceUsed(rs.log, rsNonce);
    assert.notEqual(rs.log[1].tokenJti, rs.log[2].tokenJti);
  });
});

await test("oidc-provider's own protected endpoint (userinfo): its DPoP challenges are followed once", async () => {
  // A client_credentials token is no good at /me: oidc-provider answers 401 with its own
  // `WWW-Authenticate: DPoP realm="…", error="…", error_description="…", algs="…"`.
  await withServers({ nonces: 'required' }, async ({ as }) => {
    const pem = path.join(WORK, 'userinfo.pem');
    assert.equal((await runProgram(PROGRAMS.dpoptool, ['generate', 'ES256', pem, `${pem}.jwk`])).code, 0);
    const me = `${as.issuer}/me`;
    const auto = await runClient(pem, settings(as), ['get', me]);
    assert.equal(auto.out[0].status, 401, JSON.stringify(auto.out));
    const seen = () => as.log.filter((e) => e.path !== '/jwks').map((e) => `${e.path} ${statuses([e])[0]}`);
    // invalid_token: one new token and one retry, then the 401 is the answer.
    assert.deepEqual(seen(), ['/token 400 use_dpop_nonce', '/token 200', '/me 401 invalid_token',
      '/token 200', '/me 401 invalid_token']);
    assert.match(as.log.find((e) => e.path === '/me').responseHeaders['www-authenticate'],
      /^DPoP realm="[^"]+", error="invalid_token"/);
    // A host-provided token in a new process (no nonce yet): oidc-provider's RS-style
    // use_dpop_nonce 401 is followed by exactly one retry with its nonce.
    const token = JSON.parse(as.tokenRequests().find((e) => e.status === 200).response).access_token;
    const before = as.log.length;
    const host = await runClient(pem, settings(as), ['token', token, 'get', me]);
    assert.equal(host.out[0].status, 401, JSON.stringify(host.out));
    const log = as.log.slice(before).filter((e) => e.path !== '/jwks');
    assert.deepEqual(statuses(log), ['401 use_dpop_nonce', '401 invalid_token']);
    assert.equal(log[0].nonceSent, undefined);
    assertOneRetryPerDemand(log, asNonce);
  });
});

await test('oidc-provider behaviour the client relies on (verified notes)', async () => {
  await withServers({ nonces: 'off' }, async ({ as, rs }) => {
    const c = await runClient('ES256', settings(as), ['get', rs.url]);
    assert.equal(c.out[0].status, 200);
    const [sent] = as.tokenRequests();
    const post = (headers, body = sent.body) =>
      fetch(as.tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body,
      }).then(async (r) => ({ status: r.status, json: await r.json() }));
    // A replayed proof, and a missing one, get a generic invalid_grant.
    const replayed = await post({ dpop: sent.dpop[0] });
    assert.deepEqual([replayed.status, replayed.json.error], [400, 'invalid_grant']);
    const missing = await post({});
    assert.deepEqual([missing.status, missing.json.error], [400, 'invalid_grant']);
    // Without a nonceSecret, a proof with a nonce is refused.
    const pem = path.join(WORK, 'notes.pem');
    assert.equal((await runProgram(PROGRAMS.dpoptool, ['generate', 'ES256', pem, `${pem}.jwk`])).code, 0);
    const withNonce = await runProgram(PROGRAMS.dpoptool,
      ['proof', pem, 'POST', as.tokenEndpoint, '--nonce', 'from-another-origin']);
    const refused = await post({ dpop: withNonce.stdout.trim() });
    assert.deepEqual([refused.status, refused.json.error], [400, 'invalid_dpop_proof']);
    assert.match(refused.json.error_description, /nonces are not supported/);
  });
});

await test('oauth4webapi as the client: our dpop-test-server (nonces required) accepts it', async () => {
  const portFile = path.join(WORK, 'server.port');
  const server = spawn(PROGRAMS.server, [
    '--port', '0', '--port-file', portFile, '--require-nonce', '--quiet', '--client', 'o4w:o4w-secret',
  ], { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    for (let i = 0; i < 100 && !existsSync(portFile); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const base = `http://127.0.0.1:${readFileSync(portFile, 'utf8').trim()}`;
    const as = { issuer: base, token_endpoint: `${base}/token` };
    const client = { client_id: 'o4w' };
    for (const alg of ['ES256', 'EdDSA']) {
      const DPoP = oauth.DPoP(client, await oauth.generateKeyPair(alg));
      const options = { DPoP, [oauth.allowInsecureRequests]: true };
      const grant = () => oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic('o4w-secret'),
        { scope: 'api' }, options).then((r) => oauth.processClientCredentialsResponse(as, client, r));
      const token = await grant().catch((e) => (oauth.isDPoPNonceError(e) ? grant() : Promise.reject(e)));
      assert.equal(token.token_type, 'dpop');
      const call = () => oauth.protectedResourceRequest(token.access_token, 'GET', new URL(`${base}/dpop/test`),
        undefined, undefined, options);
      const response = await call().catch((e) => (oauth.isDPoPNonceError(e) ? call() : Promise.reject(e)));
      assert.equal(response.status, 200, await response.clone().text());
      const echo = await response.json();
      assert.equal(echo.token.client_id, 'o4w');
    }
  } finally {
    server.kill();
  }
});

const helpers = {
  test, withServers, runProgram, runClient, runClientLive, settings, issuedTokens, assertDpopTokens,
  statuses, assertOneRetryPerDemand, assertLatestNonceUsed, asNonce, WORK, PROGRAMS, SHORT_TTL,
};
// Client authentication, discovery, FAPI 2.0 and the refresh_token grant (auth_tests.mjs).
await import('./auth_tests.mjs').then((m) => m.default(helpers));
// Sign-in: authorization code + PKCE + DPoP through oidc-provider's dev interactions, PAR, the
// saved state (signin_tests.mjs).
await import('./signin_tests.mjs').then((m) => m.default(helpers));

if (ONLY.length > 0 && results.length === 0) {
  console.log(`FAIL INTEROP_ONLY=${process.env.INTEROP_ONLY} selects no test`);
  results.push(false);
}
rmSync(WORK, { recursive: true, force: true });
const passed = results.filter(Boolean).length;
const failed = results.length - passed;
console.log(`interop: ${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
