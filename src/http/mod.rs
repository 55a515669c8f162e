//! The DPoP HTTP client: fetches and refreshes DPoP-bound access tokens, signs a proof for
//! every request, learns server nonces and retries once when a server asks for one.
//!
//! A [`Client`] is shared between threads: settings sit behind short locks, the token cache
//! lets one thread fetch while the others wait, and no lock is held while signing or during
//! network I/O.

mod challenge;
mod log;
mod nonce;
mod response;
mod token;
mod transport;

pub use response::Response;

use crate::error::{Error, ErrorKind, Result};
use crate::{Key, Proof};
use base64ct::{Base64, Encoding};
use log::{LoggedRequest, SessionLog};
use nonce::NonceCache;
use parking_lot::RwLock;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use token::{AccessToken, AuthMethod, TokenCache, TokenSettings};
use transport::TransportSettings;
use zeroize::Zeroizing;

/// Headers libdpop sets itself; extra headers may not set them.
const RESERVED_HEADERS: [&str; 5] = [
    "authorization",
    "dpop",
    "host",
    "content-length",
    "transfer-encoding",
];

/// Token responses are small; anything larger is not one.
const MAX_TOKEN_RESPONSE: u64 = 1 << 20;

/// A DPoP-aware HTTP client (the core of the C `dpop_http` object).
pub struct Client {
    key: RwLock<Option<Arc<Key>>>,
    token_settings: RwLock<Option<Arc<TokenSettings>>>,
    tokens: TokenCache,
    nonces: NonceCache,
    transport: RwLock<(TransportSettings, Arc<ureq::Agent>)>,
    options: RwLock<Options>,
    log: SessionLog,
}

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
        let settings = TransportSettings::default();
        let agent = transport::build_agent(&settings).expect("the default transport settings are valid");
        Self {
            key: RwLock::new(None),
            token_settings: RwLock::new(None),
            tokens: TokenCache::default(),
            nonces: NonceCache::default(),
            transport: RwLock::new((settings, Arc::new(agent))),
            options: RwLock::new(Options {
                accept_bearer: false,
                refresh_margin: Duration::from_secs(60),
            }),
            log: SessionLog::default(),
        }
    }

    /// Sets the key every proof is signed with. A fetched token is bound to the previous key,
    /// so it is dropped.
    pub fn set_key(&self, key: Arc<Key>) {
        *self.key.write() = Some(key);
        if self.tokens.peek().is_some_and(|t| !t.manual) {
            self.tokens.set(None);
        }
    }

    /// Sets the client_credentials settings from JSON (see the header for the members) and
    /// forgets any cached token.
    pub fn set_token_settings(&self, json: &str) -> Result<()> {
        let settings = TokenSettings::from_json(json)?;
        *self.token_settings.write() = Some(Arc::new(settings));
        self.tokens.set(None);
        Ok(())
    }

    /// Uses an access token the host obtained itself (no automatic fetch or refresh), or
    /// returns to automatic tokens with `None`.
    pub fn set_access_token(&self, token: Option<&str>, token_type: Option<&str>) -> Result<()> {
        let token = match token {
            Some("") => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "the access token is empty",
                ))
            }
            Some(value) => {
                let token_type = token_type.unwrap_or("DPoP");
                if !token_type.eq_ignore_ascii_case("DPoP") && !token_type.eq_ignore_ascii_case("Bearer") {
                    return Err(Error::new(
                        ErrorKind::InvalidArgument,
                        format!("unknown token type '{token_type}': use DPoP or Bearer"),
                    ));
                }
                Some(AccessToken {
                    value: Zeroizing::new(value.to_string()),
                    token_type: token_type.to_string(),
                    refresh_token: None,
                    scope: None,
                    received: Instant::now(),
                    lifetime: None,
                    manual: true,
                })
            }
            None => None,
        };
        self.tokens.set(token);
        Ok(())
    }

    /// What is known of the current token, as JSON without the token itself:
    /// `{"token_type","scope","expires_in","refresh_token","source"}`; `None` when there is none.
    pub fn token_info(&self) -> Option<String> {
        let token = self.tokens.peek()?;
        let remaining = token
            .lifetime
            .map(|l| l.saturating_sub(token.received.elapsed()).as_secs());
        Some(
            serde_json::json!({
                "token_type": token.token_type,
                "scope": token.scope,
                "expires_in": remaining,
                "refresh_token": token.refresh_token.is_some(),
                "source": if token.manual { "host" } else { "token_endpoint" },
            })
            .to_string(),
        )
    }

    /// Forgets the cached token, so the next request fetches a new one.
    pub fn clear_token(&self) {
        if self.tokens.peek().is_some_and(|t| !t.manual) {
            self.tokens.set(None);
        }
    }

    /// Whether a `Bearer` token from the token endpoint is accepted (default: refused).
    pub fn set_accept_bearer(&self, accept: bool) {
        self.options.write().accept_bearer = accept;
    }

    /// How long before its expiry a token is replaced (default 60 s, at most half its lifetime).
    pub fn set_refresh_margin(&self, margin: Duration) {
        self.options.write().refresh_margin = margin;
    }

    /// Starts (or with `None` stops) the session log at `path`, appended to.
    pub fn set_session_log(&self, path: Option<&Path>) -> Result<()> {
        self.log.set(path)
    }

    /// Connect and read timeouts.
    pub fn set_timeouts(&self, connect: Duration, read: Duration) -> Result<()> {
        self.update_transport(|s| {
            s.connect_timeout = connect;
            s.read_timeout = read;
            Ok(())
        })
    }

    /// Adds the certificates of a PEM CA bundle to the built-in roots (`None` removes them).
    pub fn set_ca_file(&self, path: Option<&Path>) -> Result<()> {
        let roots = match path {
            Some(path) => transport::load_ca_file(path)?,
            None => Vec::new(),
        };
        self.update_transport(|s| {
            s.extra_roots = roots;
            Ok(())
        })
    }

    /// Sends requests through an HTTP proxy (`http://host:port`), or directly with `None`.
    pub fn set_proxy(&self, url: Option<&str>) -> Result<()> {
        self.update_transport(|s| {
            s.proxy = url.map(str::to_string);
            Ok(())
        })
    }

    /// The `User-Agent` header.
    pub fn set_user_agent(&self, user_agent: &str) -> Result<()> {
        if user_agent.is_empty() || user_agent.contains(['\r', '\n']) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "the user agent is empty or spans lines",
            ));
        }
        self.update_transport(|s| {
            s.user_agent = user_agent.to_string();
            Ok(())
        })
    }

    /// Allows plain `http://` to hosts other than loopback (default: refused).
    pub fn set_allow_insecure_http(&self, allow: bool) -> Result<()> {
        self.update_transport(|s| {
            s.allow_insecure_http = allow;
            Ok(())
        })
    }

    /// The largest response body accepted, in bytes (default 16 MiB).
    pub fn set_max_body(&self, bytes: u64) -> Result<()> {
        self.update_transport(|s| {
            s.max_body = bytes;
            Ok(())
        })
    }

    fn update_transport(&self, change: impl FnOnce(&mut TransportSettings) -> Result<()>) -> Result<()> {
        let mut settings = self.transport.read().0.clone();
        change(&mut settings)?;
        let agent = transport::build_agent(&settings)?;
        *self.transport.write() = (settings, Arc::new(agent));
        Ok(())
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
        let allow_insecure = self.transport.read().0.allow_insecure_http;
        let target = transport::check_url(url, allow_insecure)?;
        check_headers(headers)?;
        if !body.is_empty() && matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE" | "CONNECT") {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("a {method} request cannot carry a body"),
            ));
        }
        let origin = target.origin().ascii_serialization();
        let max_body = self.transport.read().0.max_body;
        let mut token = self.current_token()?;
        let mut nonce_retried = false;
        let mut token_retried = false;
        loop {
            let response = self.exchange(
                method,
                url,
                &origin,
                token.as_deref(),
                headers,
                body,
                &[],
                max_body,
            )?;
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
                    token = self.current_token()?;
                    continue;
                }
            }
            return Ok(response);
        }
    }

    /// The token for the next request: the host's own, the cached one, or a fetched one;
    /// `None` when neither token settings nor a token were given.
    fn current_token(&self) -> Result<Option<Arc<AccessToken>>> {
        if let Some(token) = self.tokens.peek().filter(|t| t.manual) {
            return Ok(Some(token));
        }
        if self.token_settings.read().is_none() {
            return Ok(None);
        }
        let margin = self.options.read().refresh_margin;
        self.tokens.get(margin, |old| self.fetch_token(old)).map(Some)
    }

    /// Runs the refresh_token grant when the old token has a refresh token (falling back to
    /// client_credentials if the server refuses it), else the client_credentials grant.
    fn fetch_token(&self, old: Option<Arc<AccessToken>>) -> Result<AccessToken> {
        let settings = self
            .token_settings
            .read()
            .clone()
            .ok_or_else(|| Error::new(ErrorKind::TokenConfig, "no token settings"))?;
        if let Some(refresh) = old.as_ref().and_then(|t| t.refresh_token.as_ref()) {
            match self.grant(&settings, Some(refresh)) {
                Ok(token) => return Ok(token),
                Err(e) if e.kind() == ErrorKind::TokenEndpoint => {}
                Err(e) => return Err(e),
            }
        }
        self.grant(&settings, None)
    }

    /// One grant at the token endpoint, with one retry when it asks for a DPoP nonce.
    fn grant(
        &self,
        settings: &TokenSettings,
        refresh_token: Option<&Zeroizing<String>>,
    ) -> Result<AccessToken> {
        let allow_insecure = self.transport.read().0.allow_insecure_http;
        let endpoint = transport::check_url(&settings.token_endpoint, allow_insecure)?;
        let origin = endpoint.origin().ascii_serialization();
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        match refresh_token {
            Some(rt) => form
                .append_pair("grant_type", "refresh_token")
                .append_pair("refresh_token", rt),
            None => form.append_pair("grant_type", "client_credentials"),
        };
        if let Some(scope) = &settings.scope {
            form.append_pair("scope", scope);
        }
        if let Some(audience) = &settings.audience {
            form.append_pair("audience", audience);
        }
        for resource in &settings.resources {
            form.append_pair("resource", resource);
        }
        for (name, value) in &settings.extra_params {
            form.append_pair(name, value);
        }
        let mut basic = None;
        match settings.auth_method {
            AuthMethod::ClientSecretPost => {
                form.append_pair("client_id", &settings.client_id);
                form.append_pair("client_secret", &settings.client_secret);
            }
            AuthMethod::ClientSecretBasic => {
                let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let pair = Zeroizing::new(format!(
                    "{}:{}",
                    encode(&settings.client_id),
                    Zeroizing::new(encode(&settings.client_secret)).as_str()
                ));
                basic = Some(Zeroizing::new(format!(
                    "Basic {}",
                    Base64::encode_string(pair.as_bytes())
                )));
            }
        }
        let body = Zeroizing::new(form.finish());
        let mut headers = vec![
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
        ];
        if let Some(basic) = &basic {
            headers.push(("Authorization", basic.as_str()));
        }
        let mut secrets: Vec<&str> = vec![settings.client_secret.as_str()];
        if let Some(rt) = refresh_token {
            secrets.push(rt.as_str());
        }
        let accept_bearer = self.options.read().accept_bearer;
        let what = if refresh_token.is_some() {
            "refresh_token"
        } else {
            "client_credentials"
        };
        let mut nonce_retried = false;
        loop {
            let response = self.exchange(
                "POST",
                &settings.token_endpoint,
                &origin,
                None,
                &headers,
                body.as_bytes(),
                &secrets,
                MAX_TOKEN_RESPONSE,
            )?;
            if response.is_success() {
                let mut token = AccessToken::from_response(&response.body, accept_bearer)?;
                if token.refresh_token.is_none() {
                    // RFC 6749 §6: without a new refresh token the old one stays valid.
                    token.refresh_token = refresh_token.cloned();
                }
                return Ok(token);
            }
            let wants_nonce = token::error_code(&response.body).as_deref() == Some("use_dpop_nonce")
                || challenge::dpop_error(response.header_values("www-authenticate")).as_deref()
                    == Some("use_dpop_nonce");
            if wants_nonce && response.header("dpop-nonce").is_some() {
                if !nonce_retried {
                    nonce_retried = true;
                    continue;
                }
                return Err(Error::new(
                    ErrorKind::NonceRejected,
                    format!(
                        "the token endpoint {} demanded a new DPoP nonce again right after a retry with its \
                         nonce",
                        redact_query(&settings.token_endpoint)
                    ),
                ));
            }
            return Err(Error::new(
                ErrorKind::TokenEndpoint,
                format!(
                    "the {what} grant at {} failed: {}",
                    redact_query(&settings.token_endpoint),
                    token::describe_error(response.status, &response.body)
                ),
            ));
        }
    }

    /// One request/response: a fresh proof (with the origin's latest nonce), the token, the
    /// nonce learned from the answer, and the session log entry.
    #[allow(clippy::too_many_arguments)]
    fn exchange(
        &self,
        method: &str,
        url: &str,
        origin: &str,
        token: Option<&AccessToken>,
        extra_headers: &[(&str, &str)],
        body: &[u8],
        secrets: &[&str],
        max_body: u64,
    ) -> Result<Response> {
        let agent = Arc::clone(&self.transport.read().1);
        let key = self.key.read().clone();
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(extra_headers.len() + 2);
        let needs_proof = token.is_none_or(AccessToken::is_dpop);
        let proof = match (&key, needs_proof) {
            (Some(key), true) => {
                let nonce = self.nonces.get(origin);
                Some(
                    Proof::new(method, url)
                        .access_token(token.map(|t| t.value.as_str()))
                        .nonce(nonce.as_deref())
                        .sign(key)?,
                )
            }
            (None, true) if token.is_some() || self.token_settings.read().is_some() => {
                return Err(Error::new(
                    ErrorKind::NoKey,
                    "no DPoP key is set on this HTTP object: set one before requesting tokens or APIs",
                ));
            }
            _ => None,
        };
        let authorization = token.map(|t| {
            let scheme = if t.is_dpop() { "DPoP" } else { "Bearer" };
            Zeroizing::new(format!("{scheme} {}", t.value.as_str()))
        });
        if let Some(proof) = &proof {
            headers.push(("DPoP", proof));
        }
        if let Some(authorization) = &authorization {
            headers.push(("Authorization", authorization));
        }
        headers.extend_from_slice(extra_headers);

        let started = Instant::now();
        let outcome = transport::send(&agent, max_body, method, url, &headers, body);
        if let Ok(response) = &outcome {
            if let Some(nonce) = response.header_values("dpop-nonce").next() {
                if crate::proof::is_valid_nonce(nonce) {
                    self.nonces.put(origin, nonce);
                }
            }
        }
        if self.log.enabled() {
            let mut all_secrets: Vec<&str> = secrets.to_vec();
            all_secrets.extend(proof.as_deref());
            all_secrets.extend(token.map(|t| t.value.as_str()));
            all_secrets.extend(token.and_then(|t| t.refresh_token.as_deref()).map(String::as_str));
            let settings = self.token_settings.read().clone();
            all_secrets.extend(settings.as_ref().map(|s| s.client_secret.as_str()));
            let request = LoggedRequest {
                method,
                url,
                headers: &headers,
                body,
            };
            self.log
                .record(&request, outcome.as_ref(), started.elapsed(), &all_secrets);
        }
        outcome
    }
}

/// Extra request headers: valid names and values, none of those libdpop sets itself.
fn check_headers(headers: &[(&str, &str)]) -> Result<()> {
    for (name, value) in headers {
        if RESERVED_HEADERS.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("the header '{name}' is set by libdpop and cannot be given"),
            ));
        }
        if ureq::http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || ureq::http::HeaderValue::from_str(value).is_err()
        {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("the header '{}' is not a valid HTTP header", name.escape_debug()),
            ));
        }
    }
    Ok(())
}

/// A URL for messages: its query (which may carry secrets) replaced.
pub(crate) fn redact_query(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_string(),
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
