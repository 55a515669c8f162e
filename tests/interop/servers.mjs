// The independent servers libdpop is checked against, all on 127.0.0.1:
//
// - startAuthorizationServer: panva's oidc-provider (an OpenID-certified authorization server)
//   issuing DPoP-bound JWT access tokens (cnf.jkt) to two client_credentials clients, one with
//   client_secret_post and one with client_secret_basic; DPoP nonces off (no nonceSecret),
//   required, or required and rotated after every token issued; a configurable token lifetime.
//   On request also: private_key_jwt clients registered with their public JWKS, the FAPI 2.0
//   profile, discovery without its RFC 8414 document, and the sign-in set-up: two public native
//   clients with a loopback redirect URI (any port, RFC 8252 §7.3; authorization_code with PKCE
//   required, dpop_jkt, rotating DPoP-bound refresh tokens), one of them requiring PAR, PAR
//   offered (or required of every client), and oidc-provider's own dev interactions (login and
//   consent forms, filled in by browser.mjs). Every request is recorded, with its query and form
//   parameters.
// - startResourceServer: a protected API that checks each request twice, independently of
//   libdpop's Rust verifier: once with its own RFC 9449 §4.3/§7 checks built on jose (proof
//   signature with the embedded key, typ, alg, htm, htu, iat, jti replay, ath, nonce; the access
//   token's signature against the AS's JWKS, iss, aud, exp, typ, cnf.jkt), and once with
//   oauth4webapi's validateJwtAccessToken. It can demand its own nonces (401 + WWW-Authenticate:
//   DPoP error="use_dpop_nonce" + DPoP-Nonce) and rotate them on every success. Each request is
//   logged with the nonce its proof carried (nonceSent) and the one the answer gave (nonceGiven).
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';

import * as jose from 'jose';
import * as oauth from 'oauth4webapi';
import Provider, { errors } from 'oidc-provider';
// oidc-provider's internal state (its own weak_cache helper; the package has no exports map):
// used only to swap in a nonce source that rotates on demand (nonces: 'rotating').
import internals from 'oidc-provider/lib/helpers/weak_cache.js';

export const AUDIENCE = 'urn:libdpop:interop:api';
export const SCOPES = 'api:read api:write';
export const PROOF_ALGS = ['ES256', 'ES384', 'EdDSA', 'PS256'];
/** The algorithms FAPI 2.0 Security Profile §5.4 allows, for client assertions and proofs. */
export const FAPI_ALGS = ['PS256', 'ES256', 'EdDSA'];
export const CLIENTS = {
  post: { id: 'interop-post', secret: 'post-secret-7fQ2kLw9' },
  basic: { id: 'interop-basic', secret: 'basic secret:+/%&=' },
};
/**
 * The public native clients (token_endpoint_auth_method none) of `publicClient: true`. Their
 * redirect URI is registered without a port: oidc-provider allows any port on a loopback
 * redirect URI of a native client, as RFC 8252 §7.3 asks. PAR_CLIENT must use PAR
 * (require_pushed_authorization_requests in its client metadata, which discovery does not show).
 */
export const PUBLIC_CLIENT = { id: 'interop-public', redirectUri: 'http://127.0.0.1/interop-callback' };
export const PAR_CLIENT = { id: 'interop-public-par', redirectUri: 'http://127.0.0.1/interop-callback' };
/** The login browser.mjs types into the dev interaction (the account id of every sign-in). */
export const ACCOUNT = 'interop-user';

const IAT_WINDOW = 60;

// oidc-provider repeats its notices (unsupported runtime on node 20, in-memory adapter) for
// every instance; show each once.
for (const level of ['info', 'warn']) {
  const original = console[level];
  const shown = new Set();
  console[level] = (first, ...rest) => {
    if (typeof first === 'string' && first.includes('oidc-provider ')) {
      if (shown.has(first)) return;
      shown.add(first);
    }
    original(first, ...rest);
  };
}

const b64u = (bytes) => Buffer.from(bytes).toString('base64url');
const sha256 = (text) => b64u(createHash('sha256').update(text).digest());

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}`));
  });
}

function close(server) {
  server.closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** The `nonce` claim of a proof, read without verification (for the request log only). */
function proofNonce(proof) {
  try {
    return jose.decodeJwt(proof).nonce;
  } catch {
    return undefined;
  }
}

/**
 * Starts oidc-provider.
 *   nonces       'off' (no nonceSecret: a proof carrying a nonce is refused), 'required' (its
 *                own nonces, which change once a minute), or 'rotating' (required, and the nonce
 *                changes after every successful token response, so the next token request
 *                carries a stale one; only the current nonce is accepted)
 *   ttl          access token lifetime in seconds
 *   jwtClients   [{id, jwks, alg?}]: private_key_jwt client_credentials clients, registered
 *                with their public JWKS (and token_endpoint_auth_signing_alg when alg is given)
 *   fapi         true: features.fapi { profile: '2.0' }, only private_key_jwt, FAPI_ALGS for
 *                client assertions and DPoP proofs; the secret clients are not registered
 *   publicClient true: PUBLIC_CLIENT and PAR_CLIENT registered (authorization_code with PKCE,
 *                refresh_token; rotating DPoP-bound refresh tokens), PAR offered, and the dev
 *                interactions: a login form and a consent form (browser.mjs fills them in)
 *   requirePar   true: PAR required of every client (require_pushed_authorization_requests in
 *                the metadata)
 *   hideOauthMetadata  true: /.well-known/oauth-authorization-server answers 404 (only the
 *                OpenID discovery document is left)
 */
export async function startAuthorizationServer({
  nonces = 'off', ttl = 300, jwtClients = [], fapi = false, publicClient = false, requirePar = false,
  hideOauthMetadata = false,
} = {}) {
  const { privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
  const signingKey = { ...(await jose.exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: 'interop-es256' };
  const log = [];
  const server = http.createServer();
  const issuer = await listen(server);

  const dPoP = { enabled: true };
  if (nonces === 'required' || nonces === 'rotating') {
    dPoP.nonceSecret = randomBytes(32);
    dPoP.requireNonce = () => true;
  } else if (nonces !== 'off') {
    throw new Error(`unknown nonce mode ${nonces}`);
  }
  const client = (who, method) => ({
    client_id: CLIENTS[who].id,
    client_secret: CLIENTS[who].secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: method,
    dpop_bound_access_tokens: true,
    id_token_signed_response_alg: 'ES256',
    scope: SCOPES,
  });
  const jwtClient = ({ id, jwks, alg }) => ({
    client_id: id,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'private_key_jwt',
    ...(alg ? { token_endpoint_auth_signing_alg: alg } : {}),
    jwks,
    dpop_bound_access_tokens: true,
    id_token_signed_response_alg: 'ES256',
    scope: SCOPES,
  });
  const clients = [
    ...(fapi ? [] : [client('post', 'client_secret_post'), client('basic', 'client_secret_basic')]),
    ...jwtClients.map(jwtClient),
  ];
  if (publicClient) {
    for (const [{ id, redirectUri }, par] of [[PUBLIC_CLIENT, false], [PAR_CLIENT, true]]) {
      clients.push({
        client_id: id,
        application_type: 'native',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [redirectUri],
        token_endpoint_auth_method: 'none',
        dpop_bound_access_tokens: true,
        id_token_signed_response_alg: 'ES256',
        scope: `openid ${SCOPES}`,
        ...(par ? { require_pushed_authorization_requests: true } : {}),
      });
    }
  }
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [signingKey] },
    scopes: SCOPES.split(' '),
    ttl: { ClientCredentials: ttl, AccessToken: ttl, Interaction: 600, Session: 3600, Grant: 3600, IdToken: 3600, RefreshToken: 86400 },
    // The login typed into the dev interaction is the account; it has no claims beyond sub.
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    // clientAuthSigningAlgValues defaults to HS256 RS256 PS256 ES256 Ed25519 EdDSA.
    enabledJWA: fapi
      ? { dPoPSigningAlgValues: FAPI_ALGS, clientAuthSigningAlgValues: FAPI_ALGS }
      : { dPoPSigningAlgValues: PROOF_ALGS },
    ...(fapi ? { clientAuthMethods: ['private_key_jwt'] } : {}),
    // A refresh token whenever the client may use the grant (no offline_access dance), rotated
    // on every use; oidc-provider binds a public client's refresh tokens to its DPoP key.
    issueRefreshToken: (_ctx, c) => c.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    // PKCE (S256) for every authorization request, not only public clients' (the default).
    pkce: { required: () => true },
    features: {
      // The dev interactions: GET /interaction/<uid> renders the login form (fields prompt,
      // login, password) or the consent form (prompt=consent), POST /interaction/<uid> submits it.
      devInteractions: { enabled: publicClient },
      // PAR (RFC 9126) at /request; oidc-provider binds a DPoP proof sent there (or dpop_jkt).
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: requirePar },
      clientCredentials: { enabled: true },
      ...(fapi ? { fapi: { enabled: true, profile: '2.0' } } : {}),
      dPoP,
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (resource !== AUDIENCE) {
            throw new errors.InvalidTarget();
          }
          return {
            scope: SCOPES,
            audience: AUDIENCE,
            accessTokenTTL: ttl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
  });
  provider.on('server_error', (_ctx, error) => console.error('oidc-provider server_error:', error));
  // oidc-provider answers every invalid_grant with "grant request is invalid"; the reason
  // (error_detail: "failed jkt verification", "... does not match dpop_jkt") is only in its
  // events. It goes into the request's log entry.
  const entries = new WeakMap();
  provider.on('grant.error', (ctx, error) => {
    const entry = entries.get(ctx.req);
    if (entry) entry.errorDetail = error.error_detail;
  });

  // nonces 'rotating': oidc-provider's own nonces are time-based (a 60 s step, five accepted);
  // this source gives one nonce until a token is issued, then the next.
  let rotateNonce = () => {};
  if (nonces === 'rotating') {
    let current = b64u(randomBytes(16));
    internals(provider).DPoPNonces = {
      nextChallenge: () => current,
      checkChallenge: (value) => value === current,
    };
    rotateNonce = () => { current = b64u(randomBytes(16)); };
  }

  const callback = provider.callback();
  server.on('request', (req, res) => {
    const url = new URL(req.url, issuer);
    const entry = {
      method: req.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      dpop: req.headersDistinct.dpop ?? [],
      authorization: req.headers.authorization,
      body: '',
      status: 0,
      response: '',
      responseHeaders: {},
    };
    entry.nonceSent = entry.dpop.length === 1 ? proofNonce(entry.dpop[0]) : undefined;
    entries.set(req, entry);
    req.on('data', (chunk) => { entry.body += chunk; });
    const end = res.end.bind(res);
    res.end = (chunk, ...rest) => {
      if (chunk !== undefined && typeof chunk !== 'function') {
        entry.response += chunk.toString();
      }
      return end(chunk, ...rest);
    };
    res.on('finish', () => {
      entry.status = res.statusCode;
      entry.responseHeaders = res.getHeaders();
      try {
        entry.error = JSON.parse(entry.response).error;
      } catch {
        entry.error = undefined;
      }
      entry.form = /^application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? '')
        ? Object.fromEntries(new URLSearchParams(entry.body)) : undefined;
      log.push(entry);
      if (entry.path === '/token' && entry.status === 200) {
        rotateNonce();
      }
    });
    if (hideOauthMetadata && entry.path === '/.well-known/oauth-authorization-server') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not_found"}');
      return;
    }
    callback(req, res);
  });

  return {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    jwksUri: `${issuer}/jwks`,
    log,
    provider,
    /** The token endpoint's requests so far. */
    tokenRequests: () => log.filter((e) => e.path === '/token'),
    /** The requests that start a sign-in: the authorization endpoint's and PAR's. */
    authorizationRequests: () => log.filter((e) => e.path === '/auth' || e.path === '/request'),
    close: () => close(server),
  };
}

/** Starts a protected resource server that trusts tokens of `as` (from startAuthorizationServer). */
export async function startResourceServer(as, { requireNonce = false } = {}) {
  const server = http.createServer();
  const base = await listen(server);
  const jwks = jose.createRemoteJWKSet(new URL(as.jwksUri));
  const asMetadata = { issuer: as.issuer, jwks_uri: as.jwksUri };
  const seenJti = new Set();
  const revoked = new Set();
  const log = [];
  let nonces = { current: b64u(randomBytes(16)), previous: undefined };
  const rotateNonce = () => {
    nonces = { current: b64u(randomBytes(16)), previous: nonces.current };
    return nonces.current;
  };

  class Refusal extends Error {
    constructor(error, description) {
      super(description);
      this.error = error;
    }
  }

  /** Every check of RFC 9449 §4.3 and §7 with jose; the claims of token and proof when all pass. */
  async function check(req, url) {
    const authorization = req.headersDistinct.authorization ?? [];
    if (authorization.length === 0) {
      throw new Refusal(undefined, 'no Authorization header');
    }
    const [scheme, token, ...more] = authorization[0].split(' ');
    if (authorization.length !== 1 || scheme !== 'DPoP' || !token || more.length > 0) {
      throw new Refusal('invalid_token', 'Authorization is not exactly one "DPoP <token>"');
    }
    const dpop = req.headersDistinct.dpop ?? [];
    if (dpop.length !== 1) {
      throw new Refusal('invalid_dpop_proof', `${dpop.length} DPoP headers`);
    }
    const proof = dpop[0];

    let verified;
    try {
      verified = await jose.jwtVerify(proof, jose.EmbeddedJWK, { typ: 'dpop+jwt', algorithms: PROOF_ALGS });
    } catch (e) {
      throw new Refusal('invalid_dpop_proof', `jose rejects the proof: ${e.message}`);
    }
    const { payload: p, protectedHeader: h } = verified;
    const now = Math.floor(Date.now() / 1000);
    const problem = (() => {
      if (Object.keys(h).sort().join() !== 'alg,jwk,typ') return `unexpected header members ${Object.keys(h)}`;
      if ('d' in h.jwk) return 'the jwk holds a private key';
      if (p.htm !== req.method) return `htm ${p.htm} is not ${req.method}`;
      if (p.htu !== url) return `htu ${p.htu} is not ${url}`;
      if (typeof p.iat !== 'number' || !Number.isInteger(p.iat)) return 'iat is not an integer';
      if (Math.abs(now - p.iat) > IAT_WINDOW) return 'iat is outside the window';
      if (typeof p.jti !== 'string' || p.jti.length < 16) return 'jti is missing or short';
      if (p.ath !== sha256(token)) return 'ath is not the hash of the access token';
      return undefined;
    })();
    if (problem) {
      throw new Refusal('invalid_dpop_proof', problem);
    }

    let claims;
    try {
      ({ payload: claims } = await jose.jwtVerify(token, jwks, {
        issuer: as.issuer,
        audience: AUDIENCE,
        typ: 'at+jwt',
        requiredClaims: ['exp', 'jti', 'client_id'],
      }));
    } catch (e) {
      throw new Refusal('invalid_token', `jose rejects the access token: ${e.message}`);
    }
    const jkt = await jose.calculateJwkThumbprint(h.jwk);
    if (claims.cnf?.jkt !== jkt) {
      throw new Refusal('invalid_token', 'cnf.jkt is not the thumbprint of the proof key');
    }
    if (revoked.has(claims.jti)) {
      throw new Refusal('invalid_token', 'the access token has been revoked');
    }

    if (requireNonce) {
      if (p.nonce === undefined) throw new Refusal('use_dpop_nonce', 'nonce is required');
      if (p.nonce !== nonces.current && p.nonce !== nonces.previous) {
        throw new Refusal('use_dpop_nonce', 'nonce is stale or not ours');
      }
    } else if (p.nonce !== undefined) {
      // This server never issues nonces: any nonce came from another origin.
      throw new Refusal('invalid_dpop_proof', 'nonce given, but this server issues none');
    }

    // The second, independent opinion: oauth4webapi's resource server validation.
    try {
      const request = new Request(url, { method: req.method, headers: req.headers });
      await oauth.validateJwtAccessToken(asMetadata, request, AUDIENCE, {
        requireDPoP: true,
        [oauth.allowInsecureRequests]: true,
      });
    } catch (e) {
      throw new Refusal('invalid_token', `oauth4webapi rejects the request: ${e.message}`);
    }

    if (seenJti.has(p.jti)) {
      throw new Refusal('invalid_dpop_proof', 'jti replayed');
    }
    seenJti.add(p.jti);
    return { claims, proof: p, header: h, jkt };
  }

  server.on('request', async (req, res) => {
    const path = new URL(req.url, base).pathname;
    const url = `${base}${path}`;
    const entry = {
      method: req.method,
      path,
      dpop: req.headersDistinct.dpop ?? [],
      authorization: req.headers.authorization,
      nonceSent: undefined,
      // The DPoP-Nonce this server put in its answer, if any: what the client must send next.
      nonceGiven: undefined,
      status: 0,
    };
    entry.nonceSent = entry.dpop.length === 1 ? proofNonce(entry.dpop[0]) : undefined;
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString();
    const send = (status, headers, json) => {
      entry.status = status;
      entry.error = json.error;
      entry.description = json.error_description;
      entry.nonceGiven = headers['DPoP-Nonce'];
      log.push(entry);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
      res.end(JSON.stringify(json));
    };
    if (path !== '/resource' && path !== '/resource/revoke') {
      send(404, {}, { error: 'not_found' });
      return;
    }
    const algs = `algs="${PROOF_ALGS.join(' ')}"`;
    try {
      const { claims, proof, header, jkt } = await check(req, url);
      entry.tokenJti = claims.jti;
      entry.jkt = jkt;
      entry.alg = header.alg;
      if (path === '/resource/revoke') {
        revoked.add(claims.jti);
      }
      const headers = requireNonce ? { 'DPoP-Nonce': rotateNonce() } : {};
      send(200, headers, {
        ok: true,
        client_id: claims.client_id,
        scope: claims.scope,
        aud: claims.aud,
        jkt,
        token_jti: claims.jti,
        token_exp: claims.exp,
        proof: { alg: header.alg, htm: proof.htm, htu: proof.htu, nonce: proof.nonce ?? null },
        body,
        checked_by: ['jose', 'oauth4webapi'],
      });
    } catch (e) {
      if (!(e instanceof Refusal)) {
        console.error('resource server:', e);
        send(500, {}, { error: 'server_error' });
        return;
      }
      const challenge = e.error
        ? `DPoP error="${e.error}", error_description="${e.message.replaceAll('"', "'")}", ${algs}`
        : `DPoP ${algs}`;
      const headers = { 'WWW-Authenticate': challenge };
      if (e.error === 'use_dpop_nonce') {
        headers['DPoP-Nonce'] = nonces.current;
      }
      send(401, headers, { error: e.error ?? 'invalid_token', error_description: e.message });
    }
  });

  return {
    base,
    url: `${base}/resource`,
    log,
    close: () => close(server),
  };
}
