#!/usr/bin/env node
// A headless "browser" for the sign-in tests: plain fetch with a cookie jar, no real browser.
//
// Given an authorization URL, it follows oidc-provider's redirects to its dev interactions
// (features.devInteractions), fills the login form (any login and password are accepted; the
// login becomes the account id) and the consent form, follows the redirects back, and finally
// requests the client's redirect_uri: the request that delivers the code to a loopback
// listener (RFC 8252 §7.3). It stops at the first page that has no form (the client's "you are
// signed in" page), or at a page oidc-provider answers with an error.
//
// As a module:
//   import { browse } from './browser.mjs';
//   const r = await browse(url, { login, password, action, stopAt });
//   // r.url: the last URL requested (or, with stopAt, the URL it stopped before),
//   // r.status, r.body, r.pages: ['login', 'consent'] (the forms it filled),
//   // r.visited: [{method, url, status}] with the value of `code` masked.
//
// As a program (libdpop runs the program named by DPOP_BROWSER with the URL as its only
// argument):
//   node browser.mjs URL
// It prints nothing on stdout (the program that started it may own stdout); it exits 0 when
// the last page answered 2xx, else 1 with the reason on stderr. The environment sets what a
// user would do:
//   INTEROP_BROWSER_LOGIN     the login typed in (default "interop-user")
//   INTEROP_BROWSER_ACTION    "approve" (default), or "deny" ([ Cancel ] on the first form:
//                             oidc-provider redirects with error=access_denied)
//   INTEROP_BROWSER_LOG       a file to append one JSON line per run to: {start, url, status,
//                             pages, visited, error}; the tests count runs and read the pages
import { appendFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export const DEFAULT_LOGIN = 'interop-user';
export const DEFAULT_PASSWORD = 'interop-password';
const MAX_STEPS = 20;

/** A URL fit for a log: the value of `code` (the authorization code) masked. */
export function maskUrl(href) {
  try {
    const u = new URL(href);
    if (u.searchParams.has('code')) {
      u.searchParams.set('code', '[masked]');
    }
    return u.href;
  } catch {
    return '[not a URL]';
  }
}

/**
 * Cookies as RFC 6265 keeps them, reduced to what a test needs: per host (no Domain
 * attribute widening), path-matched, replaced by name and path, dropped when Max-Age <= 0 or
 * Expires is past. oidc-provider scopes its interaction cookies to /interaction/<uid> and
 * /auth/<uid>, so path matching matters.
 */
export class CookieJar {
  #cookies = [];

  /** Takes the Set-Cookie headers of a response to `url`. */
  store(url, setCookies) {
    const u = new URL(url);
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const cookie = { host: u.host, name: pair.slice(0, eq), value: pair.slice(eq + 1), path: defaultPath(u), expired: false };
      for (const attribute of attributes) {
        const i = attribute.indexOf('=');
        const key = (i < 0 ? attribute : attribute.slice(0, i)).toLowerCase();
        const value = i < 0 ? '' : attribute.slice(i + 1);
        if (key === 'path' && value.startsWith('/')) cookie.path = value;
        if (key === 'max-age' && Number(value) <= 0) cookie.expired = true;
        if (key === 'expires' && Date.parse(value) <= Date.now()) cookie.expired = true;
      }
      this.#cookies = this.#cookies.filter((c) => !(c.host === cookie.host && c.name === cookie.name && c.path === cookie.path));
      if (!cookie.expired) this.#cookies.push(cookie);
    }
  }

  /** The Cookie header for a request to `url` (longer paths first), or undefined. */
  header(url) {
    const u = new URL(url);
    const matching = this.#cookies
      .filter((c) => c.host === u.host && pathMatches(u.pathname, c.path))
      .sort((a, b) => b.path.length - a.path.length);
    return matching.length > 0 ? matching.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }
}

function defaultPath(u) {
  const p = u.pathname;
  return p.lastIndexOf('/') > 0 ? p.slice(0, p.lastIndexOf('/')) : '/';
}

function pathMatches(requestPath, cookiePath) {
  return requestPath === cookiePath
    || (requestPath.startsWith(cookiePath) && (cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/'));
}

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
function decodeEntities(text) {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, name) => {
    if (name[0] === '#') {
      const code = name[1].toLowerCase() === 'x' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return String.fromCodePoint(code);
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

function attributes(tag) {
  const found = {};
  for (const [, name, value] of tag.matchAll(/([a-zA-Z_:][-\w:.]*)\s*=\s*"([^"]*)"/g)) {
    found[name.toLowerCase()] = decodeEntities(value);
  }
  return found;
}

/** The first <form> of a page: its action, method and input fields; undefined if none. */
export function parseForm(html) {
  const m = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!m) return undefined;
  const form = attributes(m[1]);
  const inputs = [...m[2].matchAll(/<input\b([^>]*)>/gi)].map(([, tag]) => attributes(tag)).filter((a) => a.name);
  return { action: form.action ?? '', method: (form.method ?? 'get').toUpperCase(), inputs };
}

/** The link whose text is `[ Cancel ]` on oidc-provider's dev interaction pages. */
function cancelLink(html) {
  const m = /<a\b([^>]*)>\s*\[\s*Cancel\s*\]\s*<\/a>/i.exec(html);
  return m ? attributes(m[1]).href : undefined;
}

/** The readable text of an error page (oidc-provider renders error and error_description). */
function pageText(html) {
  return decodeEntities(html.replace(/<style[\s\S]*?<\/style>/gi, '').replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ').trim().slice(0, 500);
}

export class BrowserError extends Error {
  constructor(message, result) {
    super(message);
    this.result = result;
  }
}

/**
 * Signs in at `start` (an authorization URL) as a user would.
 *   login, password  what is typed into the login form
 *   action           'approve' or 'deny' (the [ Cancel ] link of the first form)
 *   stopAt           a function (url) => boolean: do not request a URL it accepts, return it
 *                    (a test that has no listener at the redirect_uri)
 * Resolves with {url, status, body, pages, visited}; rejects with a BrowserError (its `result`
 * holds the same) when a page answers an error or has a form this browser does not know.
 */
export async function browse(start, {
  login = DEFAULT_LOGIN, password = DEFAULT_PASSWORD, action = 'approve', stopAt,
} = {}) {
  if (action !== 'approve' && action !== 'deny') throw new Error(`unknown action ${action}`);
  const jar = new CookieJar();
  const result = { start: maskUrl(start), url: start, status: 0, body: '', pages: [], visited: [] };
  let request = { method: 'GET', url: new URL(start).href };
  for (let step = 0; ; step++) {
    if (step >= MAX_STEPS) throw new BrowserError(`more than ${MAX_STEPS} steps, at ${maskUrl(request.url)}`, result);
    if (stopAt && request.method === 'GET' && stopAt(request.url)) {
      result.url = request.url;
      result.status = 0;
      return result;
    }
    const headers = { 'user-agent': 'libdpop-interop-browser' };
    const cookie = jar.header(request.url);
    if (cookie) headers.cookie = cookie;
    if (request.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    let response;
    try {
      response = await fetch(request.url, { method: request.method, headers, body: request.body, redirect: 'manual' });
    } catch (e) {
      throw new BrowserError(`${request.method} ${maskUrl(request.url)}: ${e.cause?.message ?? e.message}`, result);
    }
    jar.store(request.url, response.headers.getSetCookie());
    const body = await response.text();
    result.url = request.url;
    result.status = response.status;
    result.body = body;
    result.visited.push({ method: request.method, url: maskUrl(request.url), status: response.status });

    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      const next = new URL(location, request.url).href;
      // 307 and 308 keep the method and body; 301, 302 and 303 become a GET.
      request = response.status === 307 || response.status === 308
        ? { method: request.method, url: next, body: request.body }
        : { method: 'GET', url: next };
      continue;
    }
    if (response.status < 200 || response.status >= 300) {
      throw new BrowserError(`${request.method} ${maskUrl(request.url)} answered ${response.status}: ${pageText(body)}`, result);
    }
    const form = parseForm(body);
    if (!form) {
      return result;
    }
    const names = form.inputs.map((i) => i.name);
    const page = names.includes('login') ? 'login' : form.inputs.find((i) => i.name === 'prompt')?.value;
    if (page !== 'login' && page !== 'consent') {
      throw new BrowserError(`a form this browser does not know at ${maskUrl(request.url)}: fields ${names.join(', ')}`, result);
    }
    result.pages.push(page);
    if (action === 'deny') {
      const cancel = cancelLink(body);
      if (!cancel) throw new BrowserError(`no [ Cancel ] link at ${maskUrl(request.url)}`, result);
      request = { method: 'GET', url: new URL(cancel, request.url).href };
      continue;
    }
    const fields = new URLSearchParams();
    for (const input of form.inputs) {
      const type = (input.type ?? 'text').toLowerCase();
      if (input.name === 'login') fields.append(input.name, login);
      else if (type === 'password') fields.append(input.name, password);
      else fields.append(input.name, input.value ?? '');
    }
    const target = new URL(form.action || request.url, request.url).href;
    request = form.method === 'POST'
      ? { method: 'POST', url: target, body: fields.toString() }
      : { method: 'GET', url: Object.assign(new URL(target), { search: fields.toString() }).href };
  }
}

async function main(argv) {
  if (argv.length !== 1) {
    process.stderr.write('usage: browser.mjs AUTHORIZATION_URL\n');
    return 2;
  }
  const log = process.env.INTEROP_BROWSER_LOG;
  const record = (entry) => {
    if (log) appendFileSync(log, `${JSON.stringify(entry)}\n`);
  };
  try {
    const r = await browse(argv[0], {
      login: process.env.INTEROP_BROWSER_LOGIN || DEFAULT_LOGIN,
      action: process.env.INTEROP_BROWSER_ACTION || 'approve',
    });
    record({ start: r.start, url: maskUrl(r.url), status: r.status, pages: r.pages, visited: r.visited });
    return 0;
  } catch (e) {
    const r = e.result ?? {};
    record({ start: maskUrl(argv[0]), url: r.url && maskUrl(r.url), status: r.status, pages: r.pages, visited: r.visited, error: e.message });
    process.stderr.write(`browser.mjs: ${e.message}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
