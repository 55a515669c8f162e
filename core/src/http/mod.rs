//! The DPoP HTTP client: fetches and refreshes DPoP-bound access tokens, signs a proof for
//! every request, learns server nonces and retries once when a server asks for one.
//!
//! A [`Client`] is shared between threads: settings sit behind short locks, the token cache
//! lets one thread fetch while the others wait, and no lock is held while signing or during
//! network I/O. This file holds the request path, top-down: [`Client::request`], the token it
//! needs ([`token`]), and one [`exchange`] per attempt. The setters are in [`settings`].

pub(crate) mod cancel;
pub(crate) mod challenge;
mod connection;
mod diagnose;
mod exchange;
mod interrupt;
pub(crate) mod log;
mod metadata;
mod nonce;
mod resolver;
mod response;
mod retry;
mod settings;
pub(crate) mod sign_in;
mod skew;
pub(crate) mod state;
pub(crate) mod token;
mod transport;

pub use response::Response;
pub use settings::ClientSettings;
pub use state::{Protector, StateProtection};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind, Result};
use crate::Key;
use cancel::Cancel;
use exchange::{check_headers, Exchange, Target};
use log::SessionLog;
use metadata::Metadata;
use nonce::NonceCache;
use parking_lot::{Mutex, RwLock};
use skew::ClockSkew;
use std::sync::Arc;
use std::time::{Duration, Instant};
use token::{AccessToken, AuthToken, ClientAuth, GrantContext, TokenCache};
use transport::{Transport, TransportSettings};

/// A DPoP-aware HTTP client (the core of the C `dpop_http` object and the COM `Http` object).
pub struct Client {
    key: RwLock<Option<Arc<Key>>>,
    auth_token: RwLock<Option<Arc<AuthToken>>>,
    tokens: TokenCache,
    nonces: NonceCache,
    transport: RwLock<Arc<Transport>>,
    /// Held by a setter from reading the transport settings until it has swapped in the new
    /// transport, so that setters called at once each see the others' changes.
    transport_changes: Mutex<()>,
    options: RwLock<Options>,
    log: SessionLog,
    clock: Arc<dyn Clock>,
    /// The servers' clocks, from their `Date` headers.
    skew: ClockSkew,
    /// The sign-in in progress (grant_type authorization_code), if any.
    sign_in: sign_in::SignInSlot,
    /// The saved state this client writes again when its refresh token changes.
    state: state::AutoSave,
}

/// How often a request reads the settings again when they changed during its token request.
const SETTINGS_CHANGE_RETRIES: usize = 3;

#[derive(Clone, Copy)]
struct Options {
    accept_bearer: bool,
    refresh_margin: Duration,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client with default settings: no key, no token settings, 10 s connect and 30 s read
    /// timeouts, the built-in (Mozilla) roots, no proxy.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A client whose token cache tells time by `clock` (tests move a
    /// [`ManualClock`](crate::ManualClock) instead of sleeping).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        let transport =
            Transport::new(TransportSettings::default()).expect("the default transport settings are valid");
        Self {
            key: RwLock::new(None),
            auth_token: RwLock::new(None),
            tokens: TokenCache::new(Arc::clone(&clock)),
            nonces: NonceCache::default(),
            transport: RwLock::new(Arc::new(transport)),
            transport_changes: Mutex::new(()),
            options: RwLock::new(Options {
                accept_bearer: false,
                refresh_margin: Duration::from_secs(60),
            }),
            log: SessionLog::default(),
            clock,
            skew: ClockSkew::default(),
            sign_in: sign_in::SignInSlot::default(),
            state: state::AutoSave::default(),
        }
    }

    /// `GET url`.
    pub fn get(&self, url: &str) -> Result<Response> {
        self.request("GET", url, &[], b"")
    }

    /// Sends a request with a DPoP proof and, when token settings or a token are set, the
    /// access token; fetches or refreshes the token first when needed. Retries once when the
    /// server asks for a nonce, and once with a new token when it rejects the token
    /// (`invalid_token`). HTTP error statuses are responses, not errors.
    pub fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response> {
        self.request_cancellable(method, url, headers, body, &Cancel::NEVER)
    }

    /// [`Client::request`] that `cancel` stops at its next step (see [`cancel`]): before each
    /// exchange, in each wait, at the next read or connect. A token fetch it ends stores
    /// nothing and leaves the token cache to the next request.
    pub(crate) fn request_cancellable(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        cancel: &Cancel,
    ) -> Result<Response> {
        let transport = Arc::clone(&self.transport.read());
        let deadline = Instant::now() + transport.settings.request_timeout;
        let target = Target::new(url, transport.settings.allow_insecure_http)?;
        check_headers(headers)?;
        if !body.is_empty() && matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE" | "CONNECT") {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("a {method} request cannot carry a body"),
            ));
        }
        let mut token = self.current_token(&transport, deadline, cancel)?;
        let mut nonce_retried = false;
        let mut token_retried = false;
        let mut waited = false;
        let mut clock_retried = false;
        loop {
            let attempt = Exchange {
                method,
                target: &target,
                token: token.as_deref(),
                headers,
                body,
                secrets: &[],
                max_body: transport.settings.max_body,
                deadline,
                proof: true,
                cancel,
            };
            let mut response = self.exchange(&transport, &attempt)?;
            if !waited {
                if let Some(wait) = retry::after(&response, self.retry_after_max(), deadline) {
                    waited = true;
                    cancel.sleep(wait)?;
                    continue;
                }
            }
            if response.status != 401 {
                return Ok(response);
            }
            let challenges: Vec<&str> = response.header_values("www-authenticate").collect();
            let dpop = challenge::dpop_challenge(challenges.iter().copied());
            let dpop_error = dpop.as_ref().and_then(|c| c.param("error"));
            if dpop_error == Some("use_dpop_nonce")
                && !nonce_retried
                && response.header("dpop-nonce").is_some()
            {
                nonce_retried = true;
                continue;
            }
            if let (Some(sent), Some(algs)) = (&response.proof, dpop.as_ref().and_then(|c| c.param("algs"))) {
                if !algs.split_whitespace().any(|a| a == sent.alg) {
                    return Err(Error::new(
                        ErrorKind::AlgorithmUnsupported,
                        format!(
                            "the API at {} accepts DPoP proofs signed with {} only; this key signs with {}",
                            crate::redact::url(url),
                            algs.split_whitespace().collect::<Vec<_>>().join(" "),
                            sent.alg
                        ),
                    ));
                }
            }
            if dpop_error == Some("invalid_dpop_proof") {
                let sent = response.proof.as_ref().map_or(0, |p| p.correction);
                if !clock_retried && self.time_correction(&target.origin) != sent {
                    // The answer taught the server's clock: once more with its time.
                    clock_retried = true;
                    continue;
                }
            }
            let rejected = token.as_ref().filter(|t| !t.manual);
            if let Some(used) = rejected {
                if !token_retried && challenge::any_error(challenges.iter().copied(), "invalid_token") {
                    token_retried = true;
                    self.tokens.invalidate(used);
                    token = self.current_token(&transport, deadline, cancel)?;
                    continue;
                }
            }
            // invalid_token is about the token, and says nothing of the proof unless the token
            // is bound to another key than the proof's.
            let rejected_proof = dpop_error == Some("invalid_dpop_proof")
                || (dpop_error == Some("invalid_token")
                    && diagnose::bound_to_another_key(&response, token.as_ref().map(|t| t.value.as_str())));
            if rejected_proof {
                let settings = self.auth_token.read().clone();
                let mut secrets: Vec<&str> = settings.as_ref().map(|s| s.secrets()).unwrap_or_default();
                secrets.extend(token.as_ref().map(|t| t.value.as_str()));
                let text = diagnose::rejected_proof(
                    &response,
                    &diagnose::Known {
                        url,
                        server_algs: None,
                        token: token.as_ref().map(|t| t.value.as_str()),
                        secrets: &secrets,
                        clock_correction: settings.as_ref().is_none_or(|s| s.clock_correction),
                    },
                );
                response.diagnostic = Some(text);
            }
            return Ok(response);
        }
    }

    /// The longest Retry-After waited for: the settings', else the default.
    fn retry_after_max(&self) -> Duration {
        self.auth_token
            .read()
            .as_ref()
            .map_or(Duration::from_secs(token::RETRY_AFTER_MAX_DEFAULT), |s| {
                s.retry_after_max
            })
    }

    /// The issuer's metadata for `settings`, fetched once and kept with them; `None` when the
    /// settings name no issuer.
    fn metadata(
        &self,
        settings: &AuthToken,
        transport: &Transport,
        deadline: Instant,
        cancel: &Cancel,
    ) -> Result<Option<Arc<Metadata>>> {
        let Some(issuer) = &settings.issuer else {
            return Ok(None);
        };
        if let Some(known) = settings.metadata.lock().clone() {
            return Ok(Some(known));
        }
        let mut answers = Vec::new();
        for url in metadata::urls(issuer)? {
            let target = Target::new(&url, transport.settings.allow_insecure_http)?;
            let request = Exchange {
                method: "GET",
                target: &target,
                token: None,
                headers: &[("Accept", "application/json")],
                body: b"",
                secrets: &[],
                max_body: metadata::MAX_METADATA,
                deadline,
                proof: false,
                cancel,
            };
            let response = self.exchange(transport, &request)?;
            if response.is_success() {
                let found = Arc::new(metadata::parse(issuer, &url, &response.body)?);
                *settings.metadata.lock() = Some(Arc::clone(&found));
                return Ok(Some(found));
            }
            answers.push(format!(
                "{} answered {}",
                crate::redact::url(&url),
                response.status
            ));
        }
        Err(Error::new(
            ErrorKind::Metadata,
            format!("no metadata for the issuer {issuer}: {}", answers.join(", ")),
        ))
    }

    /// The token for the next request: the host's own, the cached one, or a fetched one;
    /// `None` when neither token settings nor a token were given.
    fn current_token(
        &self,
        transport: &Transport,
        deadline: Instant,
        cancel: &Cancel,
    ) -> Result<Option<Arc<AccessToken>>> {
        // The settings may change while a token is fetched; the fetch is then dropped and the
        // settings read again. Each try reads the epoch before the settings.
        for _ in 0..SETTINGS_CHANGE_RETRIES {
            let epoch = self.tokens.epoch();
            if let Some(token) = self.tokens.peek().filter(|t| t.manual) {
                return Ok(Some(token));
            }
            let Some(settings) = self.auth_token.read().clone() else {
                return Ok(None);
            };
            let options = *self.options.read();
            let fetched = self
                .tokens
                .get(epoch, options.refresh_margin, Some(deadline), cancel, |_| {
                    self.fetch_token(&settings, transport, deadline, cancel)
                })
                .inspect_err(|e| {
                    if matches!(e.kind(), ErrorKind::TokenEndpoint | ErrorKind::ProofRejected) {
                        // The server may have moved its endpoint: read its metadata again.
                        *settings.metadata.lock() = None;
                    }
                })?;
            if let Some(token) = fetched {
                self.save_rotated_state();
                return Ok(Some(token));
            }
        }
        Err(Error::new(
            ErrorKind::TokenConfig,
            "the token settings or the key changed during every token request; try the request again",
        ))
    }
}

impl Client {
    /// Runs the grant for a new token (inside the token cache's single fetch): the issuer's
    /// metadata first when the settings name one, so that a cached token needs no metadata.
    fn fetch_token(
        &self,
        settings: &AuthToken,
        transport: &Transport,
        deadline: Instant,
        cancel: &Cancel,
    ) -> Result<AccessToken> {
        let metadata = self.metadata(settings, transport, deadline, cancel)?;
        if let Some(m) = &metadata {
            check_metadata(m, settings, self.key.read().as_deref())?;
        }
        self.with_grant(
            settings,
            metadata.as_deref(),
            transport,
            deadline,
            cancel,
            |grant| token::fetch(grant, self.tokens.refresh_token()),
        )
    }

    /// Runs `f` with what a request to the authorization server (a grant, a pushed
    /// authorization request) needs of this client: the endpoints, the key, the transport.
    fn with_grant<R>(
        &self,
        settings: &AuthToken,
        metadata: Option<&Metadata>,
        transport: &Transport,
        deadline: Instant,
        cancel: &Cancel,
        f: impl FnOnce(&GrantContext<'_>) -> R,
    ) -> R {
        let token_endpoint = settings
            .token_endpoint
            .as_deref()
            .or(metadata.map(|m| m.token_endpoint.as_str()))
            .unwrap_or_default();
        let grant = GrantContext {
            settings,
            token_endpoint,
            audience: settings.issuer.as_deref().unwrap_or(token_endpoint),
            server_algs: metadata.and_then(|m| m.dpop_algs.as_deref()),
            dpop_key: self.key.read().clone(),
            accept_bearer: self.options.read().accept_bearer,
            allow_insecure_http: transport.settings.allow_insecure_http,
            clock: self.clock.as_ref(),
            deadline,
            cancel,
            send: &|request| self.exchange(transport, request),
            correction: &|origin| self.time_correction(origin),
        };
        f(&grant)
    }
}

/// Checks, before any token request, that the server's metadata accepts the DPoP key's
/// algorithm and the client's authentication.
fn check_metadata(m: &Metadata, settings: &AuthToken, key: Option<&crate::Key>) -> Result<()> {
    if let (Some(algs), Some(key)) = (&m.dpop_algs, key) {
        if !algs.iter().any(|a| a == key.alg().name()) {
            return Err(Error::new(
                ErrorKind::AlgorithmUnsupported,
                format!(
                    "the authorization server {} accepts DPoP proofs signed with {}; this key signs with {}",
                    m.issuer,
                    algs.join(" "),
                    key.alg().name()
                ),
            ));
        }
    }
    if let Some(methods) = &m.auth_methods {
        let ours = settings.client_auth.name();
        if !methods.iter().any(|x| x == ours) {
            return Err(Error::new(
                ErrorKind::TokenConfig,
                format!(
                    "the authorization server {} authenticates clients with {}; the settings use {ours}",
                    m.issuer,
                    methods.join(", ")
                ),
            ));
        }
    }
    if let (Some(algs), ClientAuth::PrivateKeyJwt { .. } | ClientAuth::SecretJwt(_)) =
        (&m.auth_signing_algs, &settings.client_auth)
    {
        let alg = match &settings.client_auth {
            ClientAuth::PrivateKeyJwt {
                key: token::AssertionKey::Own(k),
                ..
            } => Some(k.alg().name()),
            ClientAuth::PrivateKeyJwt { .. } => key.map(|k| k.alg().name()),
            _ => Some("HS256"),
        };
        if let Some(alg) = alg.filter(|a| !algs.iter().any(|x| x == a)) {
            return Err(Error::new(
                ErrorKind::AlgorithmUnsupported,
                format!(
                    "the authorization server {} accepts client assertions signed with {}; the assertion key signs with {alg}",
                    m.issuer,
                    algs.join(" ")
                ),
            ));
        }
    }
    Ok(())
}

/// Parses `Name: value` lines (CRLF or LF separated) into header pairs.
pub fn parse_header_lines(text: &str) -> Result<Vec<(&str, &str)>> {
    text.lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            line.split_once(':')
                .map(|(n, v)| (n.trim(), v.trim()))
                .filter(|(n, _)| !n.is_empty())
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidArgument,
                        format!(
                            "the header line '{}' has no 'Name: value' form",
                            line.escape_debug()
                        ),
                    )
                })
        })
        .collect()
}
