//! Access tokens: what a token endpoint issued, how it is obtained ([`grant`]) from the
//! AuthToken settings ([`auth_token`]), and the cache that refreshes it ([`cache`]).

mod assertion;
mod auth_token;
mod cache;
mod grant;

pub(crate) use auth_token::{
    check_fapi2_alg, AssertionKey, AuthToken, ClientAuth, Profile, RETRY_AFTER_MAX_DEFAULT,
};
pub(crate) use auth_token::{config_error, GrantType, Members};
pub(crate) use cache::TokenCache;
pub(crate) use grant::{exchange_code, fetch, post_form, CodeExchange, GrantContext, Post};

use crate::error::{Error, ErrorKind, Result};
use serde_json::{Map, Value};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

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
    pub(crate) fn needs_refresh(&self, margin: Duration, now: Instant) -> bool {
        match self.lifetime {
            Some(lifetime) => {
                let margin = margin.min(lifetime / 2);
                now + margin >= self.received + lifetime
            }
            None => false,
        }
    }

    pub(crate) fn expired(&self, now: Instant) -> bool {
        self.lifetime
            .is_some_and(|lifetime| now >= self.received + lifetime)
    }

    /// Parses a successful token response (RFC 6749 §5.1, RFC 9449 §5).
    pub(crate) fn from_response(body: &[u8], accept_bearer: bool, received: Instant) -> Result<Self> {
        let invalid = |what: &str| Error::new(ErrorKind::TokenResponse, format!("the token response {what}"));
        let value = serde_json::from_slice(body)
            .map(crate::json::SecretJson::new)
            .map_err(|_| invalid("is not JSON"))?;
        let Value::Object(members) = &*value else {
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
            received,
            lifetime,
            manual: false,
        })
    }
}

/// The token endpoint's error answer, as `"<status> <error> (<error_description>)"`, with
/// `secrets` (which a careless server may echo) replaced.
pub(crate) fn describe_error(status: u16, body: &[u8], secrets: &[&str]) -> String {
    let parsed: Option<Map<String, Value>> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|m| m.get(name))
            .and_then(Value::as_str)
            .map(|s| s.chars().take(300).collect::<String>())
    };
    let described = match (field("error"), field("error_description")) {
        (Some(error), Some(description)) => format!("{status} {error} ({description})"),
        (Some(error), None) => format!("{status} {error}"),
        _ => format!("{status} with no OAuth error in the body"),
    };
    crate::redact::secrets(&described, secrets)
}

/// The `id_token` of a token response (OpenID Connect Core §3.1.3.3), if it has one.
pub(crate) fn id_token(body: &[u8]) -> Option<Zeroizing<String>> {
    let value = crate::json::SecretJson::new(serde_json::from_slice(body).ok()?);
    let token = value.get("id_token")?.as_str()?;
    Some(Zeroizing::new(token.to_string()))
}

/// The token endpoint's `error` code, if its body is an OAuth error.
pub(crate) fn error_code(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("error")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(lifetime: Option<u64>, received: Instant) -> AccessToken {
        AccessToken {
            value: Zeroizing::new("at".into()),
            token_type: "DPoP".into(),
            refresh_token: None,
            scope: None,
            received,
            lifetime: lifetime.map(Duration::from_secs),
            manual: false,
        }
    }

    #[test]
    fn token_responses_are_checked() {
        let t = AccessToken::from_response(
            br#"{"access_token":"x","token_type":"dpop","expires_in":"60","refresh_token":"r","scope":"api"}"#,
            false,
            Instant::now(),
        )
        .unwrap();
        assert!(t.is_dpop());
        assert_eq!(t.lifetime, Some(Duration::from_secs(60)));
        assert_eq!(t.refresh_token.as_ref().unwrap().as_str(), "r");
        let kind = |body: &[u8], bearer| {
            AccessToken::from_response(body, bearer, Instant::now())
                .err()
                .map(|e| e.kind())
        };
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
            describe_error(
                400,
                br#"{"error":"invalid_client","error_description":"bad"}"#,
                &[]
            ),
            "400 invalid_client (bad)"
        );
        assert_eq!(
            describe_error(502, b"<html>", &[]),
            "502 with no OAuth error in the body"
        );
        assert_eq!(
            describe_error(
                401,
                br#"{"error":"invalid_client","error_description":"secret s3cr3t%2B1 is wrong"}"#,
                &["s3cr3t+1"]
            ),
            "401 invalid_client (secret **** is wrong)",
            "an echoed secret is not copied into the error text"
        );
    }

    #[test]
    fn refresh_margin_is_capped_at_half_the_lifetime() {
        let now = Instant::now();
        let t = token(Some(10), now);
        assert!(!t.needs_refresh(Duration::from_secs(60), now));
        assert!(t.needs_refresh(Duration::from_secs(60), now + Duration::from_secs(6)));
        let long = token(Some(3600), now);
        assert!(!long.needs_refresh(Duration::from_secs(60), now + Duration::from_secs(3500)));
        assert!(long.needs_refresh(Duration::from_secs(60), now + Duration::from_secs(3541)));
        assert!(!token(None, now).needs_refresh(Duration::from_secs(60), now + Duration::from_secs(1 << 20)));
    }
}
