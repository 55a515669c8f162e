//! The DPoP HTTP client: fetches and refreshes DPoP-bound access tokens, signs a proof for
//! every request, learns server nonces and retries once when a server asks for one.
//!
//! A [`Client`] is shared between threads: settings sit behind short locks, the token cache
//! lets one thread fetch while the others wait, and no lock is held while signing or during
//! network I/O. This file holds the request path, top-down: [`Client::request`], the token it
//! needs ([`token`]), and one [`exchange`] per attempt. The setters are in [`settings`].

pub(crate) mod challenge;
mod exchange;
pub(crate) mod log;
mod nonce;
mod resolver;
mod response;
mod settings;
pub(crate) mod token;
mod transport;

pub use response::Response;
pub use settings::ClientSettings;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind, Result};
use crate::Key;
use exchange::{check_headers, Exchange, Target};
use log::SessionLog;
use nonce::NonceCache;
use parking_lot::{Mutex, RwLock};
use std::sync::Arc;
use std::time::{Duration, Instant};
use token::{AccessToken, AuthToken, GrantContext, TokenCache};
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
        let mut token = self.current_token(&transport, deadline)?;
        let mut nonce_retried = false;
        let mut token_retried = false;
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
            };
            let response = self.exchange(&transport, &attempt)?;
            if response.status != 401 {
                return Ok(response);
            }
            let challenges: Vec<&str> = response.header_values("www-authenticate").collect();
            let dpop_error = challenge::dpop_error(challenges.iter().copied());
            if dpop_error.as_deref() == Some("use_dpop_nonce")
                && !nonce_retried
                && response.header("dpop-nonce").is_some()
            {
                nonce_retried = true;
                continue;
            }
            let rejected = token.as_ref().filter(|t| !t.manual);
            if let Some(used) = rejected {
                if !token_retried && challenge::any_error(challenges.iter().copied(), "invalid_token") {
                    token_retried = true;
                    self.tokens.invalidate(used);
                    token = self.current_token(&transport, deadline)?;
                    continue;
                }
            }
            return Ok(response);
        }
    }

    /// The token for the next request: the host's own, the cached one, or a fetched one;
    /// `None` when neither token settings nor a token were given.
    fn current_token(&self, transport: &Transport, deadline: Instant) -> Result<Option<Arc<AccessToken>>> {
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
            let grant = GrantContext {
                settings: &settings,
                accept_bearer: options.accept_bearer,
                allow_insecure_http: transport.settings.allow_insecure_http,
                clock: self.clock.as_ref(),
                deadline,
                send: &|request| self.exchange(transport, request),
            };
            let fetched = self
                .tokens
                .get(epoch, options.refresh_margin, Some(deadline), |old| {
                    token::fetch(&grant, old)
                })?;
            if let Some(token) = fetched {
                return Ok(Some(token));
            }
        }
        Err(Error::new(
            ErrorKind::TokenConfig,
            "the token settings or the key changed during every token request; try the request again",
        ))
    }
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
