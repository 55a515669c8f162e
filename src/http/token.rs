//! Access tokens: the token settings (Chilkat's AuthToken JSON), token responses, and the
//! cache that refreshes before expiry with a single request in flight.

use crate::error::{Error, ErrorKind, Result};
use parking_lot::{Condvar, Mutex};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthMethod {
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// HTTP Basic with the form-urlencoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
}

/// The client_credentials settings.
pub(crate) struct TokenSettings {
    pub(crate) client_id: String,
    pub(crate) client_secret: Zeroizing<String>,
    pub(crate) token_endpoint: String,
    pub(crate) scope: Option<String>,
    pub(crate) audience: Option<String>,
    pub(crate) resources: Vec<String>,
    pub(crate) auth_method: AuthMethod,
    pub(crate) extra_params: Vec<(String, String)>,
}

const KNOWN_MEMBERS: [&str; 8] = [
    "client_id",
    "client_secret",
    "token_endpoint",
    "scope",
    "audience",
    "resource",
    "auth_method",
    "extra_params",
];

fn config_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::TokenConfig, message)
}

impl TokenSettings {
    /// Parses the token settings JSON:
    /// `{"client_id", "client_secret", "token_endpoint", "scope"?, "audience"?,
    ///   "resource"? (string or array), "auth_method"? ("client_secret_post" | "client_secret_basic"),
    ///   "extra_params"? (object of strings)}`.
    pub(crate) fn from_json(json: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| config_error(format!("the token settings are not valid JSON: {e}")))?;
        let Value::Object(members) = value else {
            return Err(config_error("the token settings are not a JSON object"));
        };
        if let Some(unknown) = members.keys().find(|k| !KNOWN_MEMBERS.contains(&k.as_str())) {
            return Err(config_error(format!(
                "unknown token setting '{unknown}' (known: {})",
                KNOWN_MEMBERS.join(", ")
            )));
        }
        let text = |name: &str| -> Result<Option<String>> {
            match members.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(config_error(format!(
                    "the token setting '{name}' is not a string"
                ))),
            }
        };
        let required = |name: &str| -> Result<String> {
            text(name)?.ok_or_else(|| config_error(format!("the token settings lack '{name}'")))
        };
        let token_endpoint = required("token_endpoint")?;
        if url::Url::parse(&token_endpoint).is_err() {
            return Err(config_error(format!(
                "the token_endpoint '{token_endpoint}' is not an absolute URL"
            )));
        }
        let auth_method = match text("auth_method")?.as_deref() {
            None | Some("client_secret_post") => AuthMethod::ClientSecretPost,
            Some("client_secret_basic") => AuthMethod::ClientSecretBasic,
            Some(other) => {
                return Err(config_error(format!(
                    "unsupported auth_method '{other}': use client_secret_post or client_secret_basic"
                )))
            }
        };
        let resources = match members.get("resource") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| config_error("the token setting 'resource' holds a non-string"))?,
            Some(_) => {
                return Err(config_error(
                    "the token setting 'resource' is not a string or an array",
                ))
            }
        };
        let extra_params = match members.get("extra_params") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(map)) => string_pairs(map)?,
            Some(_) => return Err(config_error("the token setting 'extra_params' is not an object")),
        };
        Ok(Self {
            client_id: required("client_id")?,
            client_secret: Zeroizing::new(required("client_secret")?),
            token_endpoint,
            scope: text("scope")?,
            audience: text("audience")?,
            resources,
            auth_method,
            extra_params,
        })
    }
}

fn string_pairs(map: &Map<String, Value>) -> Result<Vec<(String, String)>> {
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(config_error(format!("the extra parameter '{k}' is not a string"))),
        })
        .collect()
}

/// An access token and what the token endpoint said about it.
pub(crate) struct AccessToken {
    pub(crate) value: Zeroizing<String>,
    /// `DPoP`, or `Bearer` when the host application accepts a downgrade.
    pub(crate) token_type: String,
    pub(crate) refresh_token: Option<Zeroizing<String>>,
    pub(crate) scope: Option<String>,
    pub(crate) received: Instant,
    pub(crate) lifetime: Option<Duration>,
    /// Set by the host (no automatic refresh) rather than fetched.
    pub(crate) manual: bool,
}

impl std::fmt::Debug for AccessToken {
    /// Never shows the token or the refresh token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token_type", &self.token_type)
            .field("scope", &self.scope)
            .field("lifetime", &self.lifetime)
            .field("manual", &self.manual)
            .finish_non_exhaustive()
    }
}

impl AccessToken {
    pub(crate) fn is_dpop(&self) -> bool {
        self.token_type.eq_ignore_ascii_case("DPoP")
    }

    /// Whether the token should be replaced now: within `margin` of its expiry, where the margin
    /// is capped at half the lifetime so that short-lived tokens are still reused.
    fn needs_refresh(&self, margin: Duration, now: Instant) -> bool {
        match self.lifetime {
            Some(lifetime) => {
                let margin = margin.min(lifetime / 2);
                now + margin >= self.received + lifetime
            }
            None => false,
        }
    }

    fn expired(&self, now: Instant) -> bool {
        self.lifetime
            .is_some_and(|lifetime| now >= self.received + lifetime)
    }

    /// Parses a successful token response (RFC 6749 §5.1, RFC 9449 §5).
    pub(crate) fn from_response(body: &[u8], accept_bearer: bool) -> Result<Self> {
        let invalid = |what: &str| Error::new(ErrorKind::TokenResponse, format!("the token response {what}"));
        let value: Value = serde_json::from_slice(body).map_err(|_| invalid("is not JSON"))?;
        let Value::Object(members) = value else {
            return Err(invalid("is not a JSON object"));
        };
        let string = |name: &str| {
            members
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let access_token = string("access_token").ok_or_else(|| invalid("has no access_token"))?;
        let token_type = string("token_type").ok_or_else(|| invalid("has no token_type"))?;
        if !token_type.eq_ignore_ascii_case("DPoP") {
            if !token_type.eq_ignore_ascii_case("Bearer") {
                return Err(invalid(&format!("has an unknown token_type '{token_type}'")));
            }
            if !accept_bearer {
                return Err(Error::new(
                    ErrorKind::TokenBearer,
                    "the token endpoint issued a Bearer token instead of a DPoP-bound one (it may not \
                     support DPoP for this client); allow this with the accept-Bearer option",
                ));
            }
        }
        let lifetime = match members.get("expires_in") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(_) => None,
        };
        let lifetime = match lifetime {
            Some(secs) if secs.is_finite() && secs >= 0.0 => Some(Duration::from_secs_f64(secs.min(1e9))),
            Some(_) => return Err(invalid("has an invalid expires_in")),
            None if members.contains_key("expires_in") => return Err(invalid("has an invalid expires_in")),
            None => None,
        };
        Ok(Self {
            value: Zeroizing::new(access_token.to_string()),
            token_type: token_type.to_string(),
            refresh_token: string("refresh_token").map(|s| Zeroizing::new(s.to_string())),
            scope: string("scope").map(str::to_string),
            received: Instant::now(),
            lifetime,
            manual: false,
        })
    }
}

/// The token endpoint's error answer, as `"<status> <error> (<error_description>)"`.
pub(crate) fn describe_error(status: u16, body: &[u8]) -> String {
    let parsed: Option<Map<String, Value>> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|m| m.get(name))
            .and_then(Value::as_str)
            .map(|s| s.chars().take(300).collect::<String>())
    };
    match (field("error"), field("error_description")) {
        (Some(error), Some(description)) => format!("{status} {error} ({description})"),
        (Some(error), None) => format!("{status} {error}"),
        _ => format!("{status} with no OAuth error in the body"),
    }
}

/// The token endpoint's `error` code, if its body is an OAuth error.
pub(crate) fn error_code(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("error")?.as_str().map(str::to_string)
}

/// The cached token and the single-flight state of its refresh.
#[derive(Default)]
pub(crate) struct TokenCache {
    state: Mutex<CacheState>,
    done: Condvar,
}

#[derive(Default)]
struct CacheState {
    current: Option<Arc<AccessToken>>,
    fetching: bool,
    /// Counts completed fetches, so waiters know theirs has finished.
    generation: u64,
    last_failure: Option<Error>,
    /// After a failed proactive refresh, the still-valid token is used until then.
    retry_refresh_at: Option<Instant>,
}

/// How long a still-valid token is used after a failed proactive refresh before trying again.
const REFRESH_RETRY: Duration = Duration::from_secs(5);

impl TokenCache {
    /// The token to use now. When it is missing or due for refresh, exactly one caller runs
    /// `fetch` (given the token being replaced, for its refresh token) while the others wait
    /// for its outcome; a token that is due but not yet expired is handed out meanwhile.
    /// No lock is held while `fetch` runs.
    pub(crate) fn get(
        &self,
        margin: Duration,
        fetch: impl FnOnce(Option<Arc<AccessToken>>) -> Result<AccessToken>,
    ) -> Result<Arc<AccessToken>> {
        let mut state = self.state.lock();
        loop {
            let now = Instant::now();
            if let Some(token) = &state.current {
                let backing_off = state.retry_refresh_at.is_some_and(|at| now < at) && !token.expired(now);
                if token.manual || !token.needs_refresh(margin, now) || backing_off {
                    return Ok(Arc::clone(token));
                }
            }
            if !state.fetching {
                break;
            }
            if let Some(token) = state.current.as_ref().filter(|t| !t.expired(now)) {
                return Ok(Arc::clone(token));
            }
            let generation = state.generation;
            while state.generation == generation {
                self.done.wait(&mut state);
            }
            if let Some(e) = &state.last_failure {
                return Err(e.clone());
            }
        }
        state.fetching = true;
        let replacing = state.current.clone();
        drop(state);

        let outcome = fetch(replacing.clone()).map(Arc::new);

        let mut state = self.state.lock();
        state.fetching = false;
        state.generation += 1;
        let outcome = match outcome {
            Ok(token) => {
                state.current = Some(Arc::clone(&token));
                state.last_failure = None;
                state.retry_refresh_at = None;
                Ok(token)
            }
            // A proactive refresh failed but the token has not expired: keep using it for a
            // while rather than failing requests it can still serve.
            Err(_) if replacing.as_ref().is_some_and(|t| !t.expired(Instant::now())) => {
                state.last_failure = None;
                state.retry_refresh_at = Some(Instant::now() + REFRESH_RETRY);
                Ok(replacing.expect("checked above"))
            }
            Err(e) => {
                state.last_failure = Some(e.clone());
                Err(e)
            }
        };
        drop(state);
        self.done.notify_all();
        outcome
    }

    /// Drops `used` if it is still the cached token (a server rejected it), so the next `get`
    /// fetches a new one; a token another thread already replaced is left alone.
    pub(crate) fn invalidate(&self, used: &Arc<AccessToken>) {
        let mut state = self.state.lock();
        if state.current.as_ref().is_some_and(|t| Arc::ptr_eq(t, used)) {
            state.current = None;
        }
    }

    /// Replaces the cached token (a host-provided one, or `None` to forget it).
    pub(crate) fn set(&self, token: Option<AccessToken>) {
        self.state.lock().current = token.map(Arc::new);
    }

    /// The cached token, if any, without fetching.
    pub(crate) fn peek(&self) -> Option<Arc<AccessToken>> {
        self.state.lock().current.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const SETTINGS: &str = r#"{"client_id":"m2m.dpop","client_secret":"secret","token_endpoint":"https://as.example/connect/token","scope":"api"}"#;

    fn token(lifetime: Option<u64>) -> AccessToken {
        AccessToken {
            value: Zeroizing::new("at".into()),
            token_type: "DPoP".into(),
            refresh_token: None,
            scope: None,
            received: Instant::now(),
            lifetime: lifetime.map(Duration::from_secs),
            manual: false,
        }
    }

    #[test]
    fn settings_parse_like_chilkat_auth_token_json() {
        let s = TokenSettings::from_json(SETTINGS).unwrap();
        assert_eq!(s.client_id, "m2m.dpop");
        assert_eq!(s.client_secret.as_str(), "secret");
        assert_eq!(s.scope.as_deref(), Some("api"));
        assert_eq!(s.auth_method, AuthMethod::ClientSecretPost);
        let s = TokenSettings::from_json(
            r#"{"client_id":"a","client_secret":"b","token_endpoint":"https://as/t","auth_method":"client_secret_basic",
                "resource":["https://r1","https://r2"],"audience":"aud","extra_params":{"x":"1"}}"#,
        )
        .unwrap();
        assert_eq!(s.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(s.resources, ["https://r1", "https://r2"]);
        assert_eq!(s.extra_params, [("x".to_string(), "1".to_string())]);
    }

    #[test]
    fn bad_settings_are_named() {
        let err = |json: &str| {
            TokenSettings::from_json(json)
                .err()
                .unwrap()
                .message()
                .to_string()
        };
        assert!(err("[1]").contains("not a JSON object"));
        assert!(err("{").contains("not valid JSON"));
        assert!(err(r#"{"client_id":"a","client_secret":"b"}"#).contains("lack 'token_endpoint'"));
        assert!(err(r#"{"clientid":"a"}"#).contains("unknown token setting 'clientid'"));
        assert!(
            err(r#"{"client_id":"a","client_secret":"b","token_endpoint":"/t"}"#).contains("absolute URL")
        );
        assert!(err(r#"{"client_id":"a","client_secret":"b","token_endpoint":"https://a/t","auth_method":"private_key_jwt"}"#)
            .contains("unsupported auth_method"));
        assert!(
            err(r#"{"client_id":1,"client_secret":"b","token_endpoint":"https://a/t"}"#)
                .contains("not a string")
        );
        // The secret never appears in an error.
        assert!(
            !err(r#"{"client_secret":"hunter2hunter2","token_endpoint":"https://a/t"}"#).contains("hunter2")
        );
    }

    #[test]
    fn token_responses_are_checked() {
        let t = AccessToken::from_response(
            br#"{"access_token":"x","token_type":"dpop","expires_in":"60","refresh_token":"r","scope":"api"}"#,
            false,
        )
        .unwrap();
        assert!(t.is_dpop());
        assert_eq!(t.lifetime, Some(Duration::from_secs(60)));
        assert_eq!(t.refresh_token.as_ref().unwrap().as_str(), "r");
        let kind = |body: &[u8], bearer| AccessToken::from_response(body, bearer).err().map(|e| e.kind());
        assert_eq!(
            kind(br#"{"access_token":"x","token_type":"Bearer"}"#, false),
            Some(ErrorKind::TokenBearer)
        );
        assert_eq!(kind(br#"{"access_token":"x","token_type":"bearer"}"#, true), None);
        assert_eq!(
            kind(br#"{"access_token":"x","token_type":"MAC"}"#, true),
            Some(ErrorKind::TokenResponse)
        );
        assert_eq!(
            kind(br#"{"token_type":"DPoP"}"#, false),
            Some(ErrorKind::TokenResponse)
        );
        assert_eq!(kind(b"<html>", false), Some(ErrorKind::TokenResponse));
        assert_eq!(
            kind(
                br#"{"access_token":"x","token_type":"DPoP","expires_in":-5}"#,
                false
            ),
            Some(ErrorKind::TokenResponse)
        );
        assert_eq!(
            describe_error(400, br#"{"error":"invalid_client","error_description":"bad"}"#),
            "400 invalid_client (bad)"
        );
        assert_eq!(
            describe_error(502, b"<html>"),
            "502 with no OAuth error in the body"
        );
    }

    #[test]
    fn refresh_margin_is_capped_at_half_the_lifetime() {
        let now = Instant::now();
        let t = token(Some(10));
        assert!(!t.needs_refresh(Duration::from_secs(60), now));
        assert!(t.needs_refresh(Duration::from_secs(60), now + Duration::from_secs(6)));
        let long = token(Some(3600));
        assert!(!long.needs_refresh(Duration::from_secs(60), now + Duration::from_secs(3500)));
        assert!(long.needs_refresh(Duration::from_secs(60), now + Duration::from_secs(3541)));
        assert!(!token(None).needs_refresh(Duration::from_secs(60), now + Duration::from_secs(1 << 20)));
    }

    #[test]
    fn concurrent_first_calls_fetch_once() {
        let cache = Arc::new(TokenCache::default());
        let fetches = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (cache, fetches) = (Arc::clone(&cache), Arc::clone(&fetches));
                std::thread::spawn(move || {
                    cache
                        .get(Duration::from_secs(30), |_| {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(100));
                            Ok(token(Some(300)))
                        })
                        .unwrap()
                })
            })
            .collect();
        let tokens: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert!(tokens.iter().all(|t| Arc::ptr_eq(t, &tokens[0])));
    }

    #[test]
    fn waiters_share_a_failed_fetch_and_the_next_call_retries() {
        let cache = TokenCache::default();
        let e = cache.get(Duration::ZERO, |_| {
            Err(Error::new(ErrorKind::TokenEndpoint, "down"))
        });
        assert_eq!(e.unwrap_err().kind(), ErrorKind::TokenEndpoint);
        assert!(cache.get(Duration::ZERO, |_| Ok(token(Some(60)))).is_ok());
    }

    #[test]
    fn a_failed_proactive_refresh_keeps_the_valid_token_and_backs_off() {
        let cache = TokenCache::default();
        let margin = Duration::from_secs(60);
        let first = cache.get(margin, |_| Ok(token(Some(4)))).unwrap();
        // After 2.1 s the token is within its refresh margin (half of 4 s) but still valid.
        let attempts = AtomicUsize::new(0);
        let fail = |_: Option<Arc<AccessToken>>| {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err(Error::new(ErrorKind::TokenEndpoint, "down"))
        };
        std::thread::sleep(Duration::from_millis(2100));
        let kept = cache.get(margin, fail).unwrap();
        assert!(Arc::ptr_eq(&kept, &first));
        let again = cache.get(margin, fail).unwrap();
        assert!(Arc::ptr_eq(&again, &first));
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            1,
            "no new attempt while backing off"
        );
    }

    #[test]
    fn invalidate_only_drops_the_token_that_was_used() {
        let cache = TokenCache::default();
        let first = cache.get(Duration::ZERO, |_| Ok(token(Some(60)))).unwrap();
        cache.invalidate(&first);
        let second = cache
            .get(Duration::ZERO, |old| {
                assert!(old.is_none());
                Ok(token(Some(60)))
            })
            .unwrap();
        cache.invalidate(&first);
        assert!(Arc::ptr_eq(&cache.peek().unwrap(), &second));
    }
}
