//! The client's settings: key, token settings or host token, token options, transport, log.
//!
//! Transport settings change atomically: a setter builds the new agent from the settings as
//! the previous setter left them, so two setters called at once never lose a change.

use super::token::{AccessToken, AuthToken};
use super::transport::{self, Transport, TransportSettings};
use super::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::Key;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

impl Client {
    /// Sets the key every proof is signed with. A fetched token is bound to the previous key,
    /// so it is dropped, and so is the outcome of a token request in flight (settings are
    /// written before the token cache's epoch changes, see `TokenCache::epoch`).
    pub fn set_key(&self, key: Arc<Key>) {
        *self.key.write() = Some(key);
        self.tokens.reset(true);
    }

    /// Sets the token settings (Chilkat's AuthToken JSON, see the C header for its members)
    /// and forgets any cached token.
    pub fn set_auth_token(&self, json: &str) -> Result<()> {
        let settings = AuthToken::from_json(json)?;
        *self.auth_token.write() = Some(Arc::new(settings));
        self.tokens.reset(false);
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
                    received: self.clock.now(),
                    lifetime: None,
                    manual: true,
                })
            }
            None => None,
        };
        self.tokens.set_host_token(token);
        Ok(())
    }

    /// What is known of the current token, as JSON without the token itself:
    /// `{"token_type","scope","expires_in","refresh_token","source","clock_offset"}`
    /// (`clock_offset`: the servers' clock minus this computer's, in seconds, from their `Date`
    /// headers; null before any answer); `None` when there is none.
    pub fn token_info(&self) -> Option<String> {
        let token = self.tokens.peek()?;
        let age = self.clock.now().saturating_duration_since(token.received);
        let remaining = token.lifetime.map(|l| l.saturating_sub(age).as_secs());
        Some(
            serde_json::json!({
                "token_type": token.token_type,
                "scope": token.scope,
                "expires_in": remaining,
                "refresh_token": token.refresh_token.is_some(),
                "source": if token.manual { "host" } else { "token_endpoint" },
                "clock_offset": self.skew.last_offset(),
            })
            .to_string(),
        )
    }

    /// Forgets the cached token, so the next request fetches a new one (with the latest
    /// refresh token, which is kept: it may be the only one left).
    pub fn clear_token(&self) {
        self.tokens.forget_token(true);
    }

    /// Whether a `Bearer` token from the token endpoint is accepted (default: refused).
    pub fn set_accept_bearer(&self, accept: bool) {
        self.options.write().accept_bearer = accept;
    }

    /// How long before its expiry a token is replaced (default 60 s, at most half its lifetime
    /// is used; a margin above a day is taken as a day).
    pub fn set_refresh_margin(&self, margin: Duration) {
        self.options.write().refresh_margin = margin.min(MAX_REFRESH_MARGIN);
    }

    /// Starts (or with `None` stops) the session log at `path`, appended to.
    pub fn set_session_log(&self, path: Option<&Path>) -> Result<()> {
        self.log.set(path)
    }

    /// Connect and read timeouts; each must be greater than zero.
    pub fn set_timeouts(&self, connect: Duration, read: Duration) -> Result<()> {
        check_timeout(connect)?;
        check_timeout(read)?;
        self.update_transport(|s| {
            s.connect_timeout = connect;
            s.read_timeout = read;
        })
    }

    /// The connect timeout alone (greater than zero).
    pub fn set_connect_timeout(&self, connect: Duration) -> Result<()> {
        check_timeout(connect)?;
        self.update_transport(|s| s.connect_timeout = connect)
    }

    /// What one request may take in all (default 60 s): its token request, its retries and
    /// every name lookup. Greater than zero.
    pub fn set_request_timeout(&self, total: Duration) -> Result<()> {
        check_timeout(total)?;
        self.update_transport(|s| s.request_timeout = total)
    }

    /// The read timeout alone (greater than zero).
    pub fn set_read_timeout(&self, read: Duration) -> Result<()> {
        check_timeout(read)?;
        self.update_transport(|s| s.read_timeout = read)
    }

    /// Adds the certificates of a PEM CA bundle to the built-in roots (`None` removes them).
    pub fn set_ca_file(&self, path: Option<&Path>) -> Result<()> {
        let roots = match path {
            Some(path) => transport::load_ca_file(path)?,
            None => Vec::new(),
        };
        self.update_transport(|s| {
            s.extra_roots = roots;
            s.ca_file = path.map(Path::to_path_buf);
        })
    }

    /// Whether the operating system's trust store is used (the default: the Windows certificate
    /// store with enterprise roots, the system bundle on Linux) or only the built-in Mozilla
    /// roots. A CA file (`set_ca_file`) is trusted besides either.
    pub fn set_system_roots(&self, system: bool) -> Result<()> {
        self.update_transport(|s| s.system_roots = system)
    }

    /// Sends requests through an HTTP proxy (`http://host:port`), or directly with `None`.
    pub fn set_proxy(&self, url: Option<&str>) -> Result<()> {
        self.update_transport(|s| s.proxy = url.map(str::to_string))
    }

    /// The `User-Agent` header.
    pub fn set_user_agent(&self, user_agent: &str) -> Result<()> {
        if user_agent.is_empty() || user_agent.contains(['\r', '\n']) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "the user agent is empty or spans lines",
            ));
        }
        self.update_transport(|s| s.user_agent = user_agent.to_string())
    }

    /// Allows plain `http://` to hosts other than loopback (default: refused).
    pub fn set_allow_insecure_http(&self, allow: bool) -> Result<()> {
        self.update_transport(|s| s.allow_insecure_http = allow)
    }

    /// The largest response body accepted, in bytes (default 16 MiB; from 1 byte to 1 GiB).
    pub fn set_max_response_size(&self, bytes: u64) -> Result<()> {
        if !(MIN_RESPONSE_SIZE..=MAX_RESPONSE_SIZE).contains(&bytes) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "the largest response size must be from {MIN_RESPONSE_SIZE} to {MAX_RESPONSE_SIZE} bytes, not {bytes}"
                ),
            ));
        }
        self.update_transport(|s| s.max_body = bytes)
    }

    /// Applies `change` to the transport settings and swaps in a transport built from them;
    /// on failure nothing changes.
    fn update_transport(&self, change: impl FnOnce(&mut TransportSettings)) -> Result<()> {
        let _one_change_at_a_time = self.transport_changes.lock();
        let mut settings = self.transport.read().settings.clone();
        change(&mut settings);
        let transport = Transport::new(settings)?;
        *self.transport.write() = Arc::new(transport);
        Ok(())
    }

    /// The settings as the setters left them, secrets left out.
    pub fn settings(&self) -> ClientSettings {
        let transport = Arc::clone(&self.transport.read());
        let options = *self.options.read();
        let s = &transport.settings;
        ClientSettings {
            auth_token: self.auth_token.read().as_ref().map(|a| a.public_json.clone()),
            session_log: self.log.path(),
            connect_timeout: s.connect_timeout,
            read_timeout: s.read_timeout,
            request_timeout: s.request_timeout,
            user_agent: s.user_agent.clone(),
            ca_file: s.ca_file.clone(),
            system_roots: s.system_roots,
            accept_bearer: options.accept_bearer,
            refresh_margin: options.refresh_margin,
            allow_insecure_http: s.allow_insecure_http,
            max_response_size: s.max_body,
        }
    }

    /// The transport settings now in force (for tests).
    #[cfg(test)]
    pub(crate) fn transport_settings(&self) -> TransportSettings {
        self.transport.read().settings.clone()
    }
}

/// A client's settings as [`Client::settings`] reads them back (for hosts with property gets,
/// such as the COM objects). The client secret and the proxy are left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    /// The AuthToken JSON without `client_secret`, if set.
    pub auth_token: Option<String>,
    /// The session log file, if logging is on.
    pub session_log: Option<PathBuf>,
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
    /// How long to wait for the response's headers and for its body.
    pub read_timeout: Duration,
    /// What one request may take in all.
    pub request_timeout: Duration,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// The extra CA file, if set.
    pub ca_file: Option<PathBuf>,
    /// Whether the operating system's trust store is used (else the built-in roots only).
    pub system_roots: bool,
    /// Whether a `Bearer` token from the token endpoint is accepted.
    pub accept_bearer: bool,
    /// How long before its expiry a token is replaced.
    pub refresh_margin: Duration,
    /// Whether plain `http://` is allowed to hosts other than loopback.
    pub allow_insecure_http: bool,
    /// The largest response body accepted, in bytes.
    pub max_response_size: u64,
}

/// The bounds of `set_max_response_size`: 0 would refuse every answer, and no host needs a
/// body of more than a gibibyte in memory.
const MIN_RESPONSE_SIZE: u64 = 1;
const MAX_RESPONSE_SIZE: u64 = 1 << 30;

/// The longest refresh margin: a day.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(86_400);

fn check_timeout(timeout: Duration) -> Result<()> {
    if timeout.is_zero() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "timeouts must be greater than 0 ms",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[test]
    fn concurrent_setters_lose_no_change() {
        const ROUNDS: u32 = 200;
        let client = Client::new();
        let barrier = Barrier::new(3);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 1..=ROUNDS {
                    barrier.wait();
                    client.set_user_agent(&format!("agent-{i}")).unwrap();
                }
            });
            s.spawn(|| {
                for i in 1..=ROUNDS {
                    barrier.wait();
                    let ms = Duration::from_millis(i.into());
                    client.set_timeouts(ms, ms).unwrap();
                }
            });
            s.spawn(|| {
                for i in 1..=ROUNDS {
                    barrier.wait();
                    client.set_max_response_size(i.into()).unwrap();
                }
            });
        });
        let settings = client.transport_settings();
        assert_eq!(settings.user_agent, format!("agent-{ROUNDS}"));
        assert_eq!(settings.read_timeout, Duration::from_millis(ROUNDS.into()));
        assert_eq!(settings.max_body, u64::from(ROUNDS));
    }

    #[test]
    fn settings_read_back_as_set_without_the_secret() {
        let client = Client::new();
        let defaults = client.settings();
        assert_eq!(defaults.connect_timeout, Duration::from_secs(10));
        assert_eq!(defaults.auth_token, None);
        client
            .set_auth_token(
                r#"{"client_id":"a","client_secret":"s3cr3t-hidden","token_endpoint":"https://as/t"}"#,
            )
            .unwrap();
        client.set_connect_timeout(Duration::from_secs(3)).unwrap();
        client.set_read_timeout(Duration::from_secs(7)).unwrap();
        client.set_accept_bearer(true);
        let settings = client.settings();
        assert_eq!(settings.connect_timeout, Duration::from_secs(3));
        assert_eq!(settings.read_timeout, Duration::from_secs(7));
        assert!(settings.accept_bearer);
        let json = settings.auth_token.unwrap();
        assert!(
            json.contains(r#""client_id":"a""#) && !json.contains("s3cr3t-hidden"),
            "{json}"
        );
    }

    #[test]
    fn numeric_settings_are_bounded() {
        let client = Client::new();
        for bytes in [0, (1 << 30) + 1, u64::MAX] {
            assert_eq!(
                client.set_max_response_size(bytes).unwrap_err().kind(),
                ErrorKind::InvalidArgument,
                "{bytes}"
            );
        }
        client.set_max_response_size(1 << 30).unwrap();
        client.set_refresh_margin(Duration::from_secs(u64::MAX / 4));
        assert_eq!(client.settings().refresh_margin, MAX_REFRESH_MARGIN);
        for zero in [
            client.set_request_timeout(Duration::ZERO),
            client.set_connect_timeout(Duration::ZERO),
            client.set_read_timeout(Duration::ZERO),
        ] {
            assert_eq!(zero.unwrap_err().kind(), ErrorKind::InvalidArgument);
        }
    }

    #[test]
    fn a_failed_setting_changes_nothing() {
        let client = Client::new();
        client.set_user_agent("kept").unwrap();
        assert_eq!(
            client
                .set_timeouts(Duration::ZERO, Duration::from_secs(1))
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            client.set_proxy(Some("not a proxy url")).unwrap_err().kind(),
            ErrorKind::HttpConfig
        );
        // No SOCKS connector is built in: such a proxy would be passed by, not used.
        let socks = client.set_proxy(Some("socks5://127.0.0.1:1080")).unwrap_err();
        assert_eq!(socks.kind(), ErrorKind::HttpConfig);
        assert!(socks.message().contains("only http:// and https://"), "{socks}");
        let settings = client.transport_settings();
        assert_eq!(settings.user_agent, "kept");
        assert_eq!(settings.proxy, None);
        assert_eq!(settings.connect_timeout, Duration::from_secs(10));
    }
}
