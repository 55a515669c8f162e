//! Signing a user in (RFC 8252): the authorization code flow with PKCE (RFC 7636) through the
//! system browser and a loopback redirect, the DPoP key bound from the start (`dpop_jkt`,
//! RFC 9449 §10), a pushed authorization request (RFC 9126) when the settings or the metadata
//! ask for one. The tokens then serve requests like any others: cached, refreshed with the
//! refresh token, and `SignInRequired` once none can be had without the user.
//!
//! A sign-in is started ([`Client::sign_in_start`]: the URL, the listener, the browser), then
//! waited for in slices ([`Client::sign_in_wait`]) that a cancel from another thread
//! ([`Client::sign_in_cancel`]) or the wait's own timeout end within a few tens of
//! milliseconds; `sign_in_timeout` bounds it overall. The cancel reaches the sign-in's
//! exchanges too (the metadata, the pushed request, the code exchange), as a task's cancel
//! reaches its request.

mod browser;
mod id_token;
mod listener;
mod redirect;
mod request;
mod settings;

pub(crate) use settings::{parse as parse_settings, SignInSettings, MEMBERS};

use super::cancel::Cancel;
use super::metadata::Metadata;
use super::token::{self, AuthToken, CodeExchange, GrantType};
use super::transport;
use super::{check_metadata, Client};
use crate::error::{Error, ErrorKind, Result};
use listener::Listener;
use parking_lot::Mutex;
use request::OneTime;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// How long a wait sleeps between two looks at the listener, the cancel flag and the clock.
const SLICE: Duration = Duration::from_millis(20);

/// The sign-in in progress of a client, if any, and the cancel flag of a start in progress
/// (its metadata fetch and pushed request come before the sign-in exists).
#[derive(Default)]
pub(crate) struct SignInSlot {
    current: Mutex<Option<Arc<SignIn>>>,
    starting: Mutex<Option<Cancel>>,
}

/// One sign-in, from its start to its end (signed in, failed, cancelled or timed out).
struct SignIn {
    /// The URL the browser opens; it holds `state` (and the nonce, without PAR).
    url: Zeroizing<String>,
    one_time: OneTime,
    /// As sent, with the port bound.
    redirect_uri: String,
    path: String,
    settings: Arc<AuthToken>,
    metadata: Option<Arc<Metadata>>,
    /// Whether the redirect must carry `iss` (the metadata says the server sends it).
    iss_required: bool,
    /// The token cache's epoch when the sign-in started: new settings or a new key since,
    /// and its tokens are not kept.
    epoch: u64,
    deadline: Instant,
    timeout: Duration,
    /// Set by [`Client::sign_in_cancel`]; the start's flag, carried on to the code exchange.
    cancel: Cancel,
    /// Held by the thread that waits.
    phase: Mutex<Phase>,
}

enum Phase {
    Listening(Listener),
    /// The outcome, for a thread that waited at the same time.
    Done(Result<()>),
}

fn cancelled() -> Error {
    Error::new(ErrorKind::Cancelled, "the sign-in was cancelled")
}

impl Client {
    /// Starts signing the user in (grant_type authorization_code): fetches the issuer's
    /// metadata when the settings name one, binds the loopback listener of `redirect_uri`,
    /// builds the authorization URL (pushing the request first when PAR is asked for or
    /// required) and, when `open_browser`, opens it in the system browser (or the program
    /// named by `DPOP_BROWSER`). A sign-in already in progress is cancelled.
    ///
    /// If the browser cannot be opened the error says so, and the sign-in stays in progress:
    /// [`Client::sign_in_url`] gives the URL to open by other means. A
    /// [`Client::sign_in_cancel`] during the start (a slow metadata or PAR endpoint) ends it
    /// with `Cancelled`.
    pub fn sign_in_start(&self, open_browser: bool) -> Result<()> {
        let cancel = Cancel::new();
        if let Some(previous) = self.sign_in.starting.lock().replace(cancel.clone()) {
            previous.cancel();
        }
        let outcome = self.start(open_browser, &cancel);
        let mut starting = self.sign_in.starting.lock();
        if starting.as_ref().is_some_and(|c| c.same(&cancel)) {
            *starting = None;
        }
        outcome
    }

    fn start(&self, open_browser: bool, cancel: &Cancel) -> Result<()> {
        let epoch = self.tokens.epoch();
        let settings = self.auth_token.read().clone().ok_or_else(|| {
            Error::new(
                ErrorKind::TokenConfig,
                "no token settings: set them, with grant_type authorization_code, before signing in",
            )
        })?;
        let GrantType::AuthorizationCode(sign_in) = &settings.grant else {
            return Err(Error::new(
                ErrorKind::TokenConfig,
                format!(
                    "signing in takes grant_type authorization_code; the token settings use {}",
                    settings.grant.name()
                ),
            ));
        };
        let key = self.key.read().clone().ok_or_else(|| {
            Error::new(
                ErrorKind::KeyNotLoaded,
                "no DPoP key is set on this HTTP object: the sign-in binds the tokens to it (dpop_jkt)",
            )
        })?;
        let transport = Arc::clone(&self.transport.read());
        let allow_insecure = transport.settings.allow_insecure_http;
        let deadline = Instant::now() + transport.settings.request_timeout;
        let metadata = self.metadata(&settings, &transport, deadline, cancel)?;
        if let Some(m) = &metadata {
            check_metadata(m, &settings, Some(&key))?;
            if let Some(methods) = m
                .code_challenge_methods
                .as_ref()
                .filter(|l| !l.iter().any(|x| x == "S256"))
            {
                return Err(Error::new(
                    ErrorKind::Metadata,
                    format!(
                        "the authorization server {} lists the PKCE methods {} and not S256, the only one \
                         libdpop uses",
                        m.issuer,
                        methods.join(", ")
                    ),
                ));
            }
        }
        let from_metadata = |name: &str, value: Option<&String>| {
            value.cloned().ok_or_else(|| {
                Error::new(
                    ErrorKind::Metadata,
                    format!(
                        "the metadata of {} has no {name}: give '{name}' in the token settings",
                        settings.issuer.as_deref().unwrap_or_default()
                    ),
                )
            })
        };
        let authorization_endpoint = match &sign_in.authorization_endpoint {
            Some(given) => given.clone(),
            None => from_metadata(
                "authorization_endpoint",
                metadata.as_ref().and_then(|m| m.authorization_endpoint.as_ref()),
            )?,
        };
        transport::check_url(&authorization_endpoint, allow_insecure)?;
        let listener = Listener::bind(sign_in.port)?;
        let redirect_uri = sign_in.redirect_uri(listener.port());
        let one_time = OneTime::new(request::is_openid(&settings))?;
        let challenge = request::code_challenge(&one_time.code_verifier);
        let params = request::params(
            &settings,
            sign_in,
            &redirect_uri,
            &one_time,
            &challenge,
            key.thumbprint(),
        );
        let par = sign_in.par || metadata.as_ref().is_some_and(|m| m.require_par);
        let url = if par {
            let par_endpoint = match &sign_in.par_endpoint {
                Some(given) => given.clone(),
                None => from_metadata(
                    "pushed_authorization_request_endpoint",
                    metadata.as_ref().and_then(|m| m.par_endpoint.as_ref()),
                )?,
            };
            let request_uri = self.with_grant(
                &settings,
                metadata.as_deref(),
                &transport,
                deadline,
                cancel,
                |cx| request::push(cx, &par_endpoint, &params, &one_time.secrets()),
            )?;
            request::url_with(
                &authorization_endpoint,
                &[("client_id", &settings.client_id), ("request_uri", &request_uri)],
            )?
        } else {
            request::url_with(&authorization_endpoint, &params)?
        };
        let started = Arc::new(SignIn {
            url,
            redirect_uri,
            path: sign_in.path.clone(),
            iss_required: metadata.as_ref().is_some_and(|m| m.iss_parameter),
            metadata,
            epoch,
            deadline: Instant::now() + sign_in.timeout,
            timeout: sign_in.timeout,
            cancel: cancel.clone(),
            phase: Mutex::new(Phase::Listening(listener)),
            one_time,
            settings: Arc::clone(&settings),
        });
        // A cancel that came after the last exchange of the start.
        cancel.check()?;
        if let Some(previous) = self.sign_in.current.lock().replace(Arc::clone(&started)) {
            previous.cancel();
        }
        if open_browser {
            browser::open(&started.url)?;
        }
        Ok(())
    }

    /// The URL of the sign-in in progress, for a host that opens it itself; `None` when no
    /// sign-in is in progress. It holds the sign-in's `state`: show it to the user only.
    pub fn sign_in_url(&self) -> Option<String> {
        let sign_in = self.sign_in.current.lock().clone()?;
        if sign_in.cancel.is_cancelled() {
            return None;
        }
        let done = sign_in
            .phase
            .try_lock()
            .is_some_and(|phase| matches!(*phase, Phase::Done(_)));
        (!done).then(|| sign_in.url.to_string())
    }

    /// Waits up to `timeout` for the browser to come back to the redirect URI, then exchanges
    /// the code for tokens (with a DPoP proof, the code verifier and the redirect URI), checks
    /// the ID token of an OpenID Connect sign-in and caches the tokens. `Ok(true)`: signed in;
    /// `Ok(false)`: no sign-in was in progress; `Pending`: not yet, call again. Any other
    /// outcome ends the sign-in: `SignIn` (the server refused, `iss` is wrong, or
    /// `sign_in_timeout` passed), `Cancelled`, or the token endpoint's error.
    ///
    /// A redirect with another `state` is answered with an error page and ignored. Once the
    /// redirect has come, the code exchange runs (within the request timeout, or until
    /// [`Client::sign_in_cancel`]) before the browser gets its page.
    pub fn sign_in_wait(&self, timeout: Duration) -> Result<bool> {
        let Some(sign_in) = self.sign_in.current.lock().clone() else {
            return Ok(false);
        };
        let now = Instant::now();
        let until = now
            .checked_add(timeout)
            .unwrap_or(now + Duration::from_secs(86_400 * 365));
        let outcome = sign_in.wait(self, until);
        if outcome.as_ref().is_err_and(|e| e.kind() == ErrorKind::Pending) {
            return outcome.map(|()| true);
        }
        let mut slot = self.sign_in.current.lock();
        if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, &sign_in)) {
            *slot = None;
        }
        outcome.map(|()| true)
    }

    /// Cancels the sign-in in progress, if any, from any thread: a start or a wait in
    /// progress returns `Cancelled` within a few tens of milliseconds (a code exchange in
    /// flight stops at its next step, as a task's request does), and so does the next wait.
    pub fn sign_in_cancel(&self) {
        if let Some(starting) = self.sign_in.starting.lock().as_ref() {
            starting.cancel();
        }
        if let Some(sign_in) = self.sign_in.current.lock().clone() {
            sign_in.cancel();
        }
    }

    /// Exchanges the code of `sign_in` and caches the tokens.
    fn finish_sign_in(&self, sign_in: &SignIn, code: &str) -> Result<()> {
        let changed = || {
            Error::new(
                ErrorKind::TokenConfig,
                "the token settings or the key changed during the sign-in: sign in again",
            )
        };
        if self.tokens.epoch() != sign_in.epoch {
            return Err(changed());
        }
        let transport = Arc::clone(&self.transport.read());
        let deadline = Instant::now() + transport.settings.request_timeout;
        let settings = &sign_in.settings;
        let exchange = CodeExchange {
            code,
            code_verifier: &sign_in.one_time.code_verifier,
            redirect_uri: &sign_in.redirect_uri,
        };
        let (token, id_token) = self.with_grant(
            settings,
            sign_in.metadata.as_deref(),
            &transport,
            deadline,
            &sign_in.cancel,
            |cx| token::exchange_code(cx, &exchange),
        )?;
        if let Some(nonce) = &sign_in.one_time.nonce {
            id_token::check(
                id_token.as_deref().map(String::as_str),
                &id_token::Expected {
                    issuer: settings.issuer.as_deref().unwrap_or_default(),
                    client_id: &settings.client_id,
                    nonce,
                },
            )?;
        }
        if !self.tokens.put(sign_in.epoch, token) {
            return Err(changed());
        }
        // A state saved or loaded before (same key and settings) takes the new refresh token.
        self.save_rotated_state();
        Ok(())
    }
}

impl SignIn {
    fn cancel(&self) {
        self.cancel.cancel();
        // Closes the listener now when no thread waits (a waiting one closes it itself).
        if let Some(mut phase) = self.phase.try_lock() {
            if matches!(*phase, Phase::Listening(_)) {
                *phase = Phase::Done(Err(cancelled()));
            }
        }
    }

    /// The strings an error text or the browser's page must not show.
    fn secrets(&self) -> Vec<&str> {
        let mut secrets = self.one_time.secrets();
        secrets.extend(self.settings.secrets());
        secrets
    }

    /// Waits until `until` for the outcome (see [`Client::sign_in_wait`]).
    fn wait(&self, client: &Client, until: Instant) -> Result<()> {
        let not_yet = || {
            Error::new(
                ErrorKind::Pending,
                "the sign-in is not finished: the browser has not come back yet; wait again",
            )
        };
        let Some(mut phase) = self.phase.try_lock_until(until) else {
            return Err(not_yet());
        };
        let secrets = self.secrets();
        let expected = redirect::Expected {
            state: &self.one_time.state,
            issuer: self.settings.issuer.as_deref(),
            iss_required: self.iss_required,
            secrets: &secrets,
        };
        loop {
            let listener = match &mut *phase {
                Phase::Done(outcome) => return outcome.clone(),
                Phase::Listening(listener) => listener,
            };
            let now = Instant::now();
            let outcome = if self.cancel.is_cancelled() {
                Err(cancelled())
            } else if now >= self.deadline {
                Err(Error::new(
                    ErrorKind::SignIn,
                    format!(
                        "the browser did not come back to the redirect URI within the sign-in timeout \
                         ({} s, the setting sign_in_timeout)",
                        self.timeout.as_secs()
                    ),
                ))
            } else if let Some(request) = listener.poll(&self.path) {
                match redirect::judge(&request.query, &expected) {
                    redirect::Verdict::Ignore(text) => {
                        request.answer(400, "Not this sign-in", text);
                        continue;
                    }
                    redirect::Verdict::Fail(e) => {
                        request.answer(400, "Sign-in failed", &failure_page(&e));
                        Err(e)
                    }
                    redirect::Verdict::Code(code) => {
                        let outcome = client.finish_sign_in(self, &code);
                        match &outcome {
                            Ok(()) => request.answer(
                                200,
                                "Signed in",
                                "You are signed in. You can close this window and return to the application.",
                            ),
                            Err(e) => request.answer(400, "Sign-in failed", &failure_page(e)),
                        }
                        outcome
                    }
                }
            } else {
                if now >= until {
                    return Err(not_yet());
                }
                std::thread::sleep(SLICE.min(until - now).min(self.deadline - now));
                continue;
            };
            // The listener closes here.
            *phase = Phase::Done(outcome.clone());
            return outcome;
        }
    }
}

/// Compares two secrets in a time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A value a server or an attacker chose, safe for an error text: printable ASCII only (what
/// RFC 6749 §5.2 allows in `error` and `error_description`), at most `max` characters, with
/// every secret replaced.
fn printable(value: &str, max: usize, secrets: &[&str]) -> String {
    let shown = crate::redact::secrets(value, secrets);
    let mut out: String = shown
        .chars()
        .take(max)
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    if shown.chars().count() > max {
        out.push_str("...");
    }
    out
}

/// The browser's page after a failure: the error text (already free of secrets).
fn failure_page(e: &Error) -> String {
    format!(
        "The sign-in failed: {}. Return to the application to try again.",
        e.message()
    )
}
