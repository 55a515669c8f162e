//! The client's settings: key, token settings or host token, token options, transport, log.
//!
//! Transport settings change atomically: a setter builds the new agent from the settings as
//! the previous setter left them, so two setters called at once never lose a change.

use super::token::{AccessToken, AuthToken};
use super::transport::{self, Transport, TransportSettings};
use super::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::Key;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

impl Client {
    /// Sets the key every proof is signed with. A fetched token is bound to the previous key,
    /// so it is dropped.
    pub fn set_key(&self, key: Arc<Key>) {
        *self.key.write() = Some(key);
        if self.tokens.peek().is_some_and(|t| !t.manual) {
            self.tokens.set(None);
        }
    }

    /// Sets the token settings (Chilkat's AuthToken JSON, see the C header for its members)
    /// and forgets any cached token.
    pub fn set_auth_token(&self, json: &str) -> Result<()> {
        let settings = AuthToken::from_json(json)?;
        *self.auth_token.write() = Some(Arc::new(settings));
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
                    received: self.clock.now(),
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
        let age = self.clock.now().saturating_duration_since(token.received);
        let remaining = token.lifetime.map(|l| l.saturating_sub(age).as_secs());
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

    /// Connect and read timeouts; each must be greater than zero.
    pub fn set_timeouts(&self, connect: Duration, read: Duration) -> Result<()> {
        if connect.is_zero() || read.is_zero() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "timeouts must be greater than 0 ms",
            ));
        }
        self.update_transport(|s| {
            s.connect_timeout = connect;
            s.read_timeout = read;
        })
    }

    /// Adds the certificates of a PEM CA bundle to the built-in roots (`None` removes them).
    pub fn set_ca_file(&self, path: Option<&Path>) -> Result<()> {
        let roots = match path {
            Some(path) => transport::load_ca_file(path)?,
            None => Vec::new(),
        };
        self.update_transport(|s| s.extra_roots = roots)
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

    /// The largest response body accepted, in bytes (default 16 MiB).
    pub fn set_max_response_size(&self, bytes: u64) -> Result<()> {
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

    /// The transport settings now in force (for tests).
    #[cfg(test)]
    pub(crate) fn transport_settings(&self) -> TransportSettings {
        self.transport.read().settings.clone()
    }
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
        let settings = client.transport_settings();
        assert_eq!(settings.user_agent, "kept");
        assert_eq!(settings.proxy, None);
        assert_eq!(settings.connect_timeout, Duration::from_secs(10));
    }
}
