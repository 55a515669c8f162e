//! The authorization request (RFC 6749 §4.1.1): its one-time secrets (`state`, the PKCE
//! `code_verifier` of RFC 7636, the OpenID Connect `nonce`), its parameters with `dpop_jkt`
//! (RFC 9449 §10), and the URL the browser opens, directly or after a pushed authorization
//! request (RFC 9126).

use super::settings::SignInSettings;
use crate::error::{Error, ErrorKind, Result};
use crate::http::token::{post_form, AuthToken, GrantContext, Post};
use base64ct::{Base64UrlUnpadded, Encoding};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;
use zeroize::Zeroizing;

/// Random bytes in `state`, the code verifier and the nonce: 256 bits each. Base64url makes
/// them 43 characters, the shortest code verifier RFC 7636 §4.1 allows.
const RANDOM_BYTES: usize = 32;

/// A PAR response is small; anything larger is not one.
const MAX_PAR_RESPONSE: u64 = 64 * 1024;

/// The one-time values of one sign-in.
pub(crate) struct OneTime {
    pub(crate) state: Zeroizing<String>,
    pub(crate) code_verifier: Zeroizing<String>,
    /// Sent and checked when the scope asks for `openid`.
    pub(crate) nonce: Option<Zeroizing<String>>,
}

impl OneTime {
    /// Fresh values from the operating system's random source.
    pub(crate) fn new(openid: bool) -> Result<Self> {
        let rng = SystemRandom::new();
        let random = || -> Result<Zeroizing<String>> {
            let mut bytes = Zeroizing::new([0u8; RANDOM_BYTES]);
            rng.fill(bytes.as_mut()).map_err(|_| crate::key::rng_error())?;
            Ok(Zeroizing::new(Base64UrlUnpadded::encode_string(bytes.as_ref())))
        };
        Ok(Self {
            state: random()?,
            code_verifier: random()?,
            nonce: if openid { Some(random()?) } else { None },
        })
    }

    /// The strings that must never reach a log or an error text.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        let mut out = vec![self.state.as_str(), self.code_verifier.as_str()];
        out.extend(self.nonce.as_deref().map(String::as_str));
        out
    }
}

/// The S256 code challenge of a verifier (RFC 7636 §4.2).
pub(crate) fn code_challenge(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    Base64UrlUnpadded::encode_string(digest.as_ref())
}

/// Whether the settings' scope asks for an OpenID Connect sign-in.
pub(crate) fn is_openid(settings: &AuthToken) -> bool {
    settings
        .scope
        .as_deref()
        .is_some_and(|s| s.split(' ').any(|x| x == "openid"))
}

/// The parameters of the authorization request, in a fixed order: libdpop's, then the
/// settings' `resource`s, then the host's `authorization_params`.
pub(crate) fn params<'a>(
    settings: &'a AuthToken,
    sign_in: &'a SignInSettings,
    redirect_uri: &'a str,
    one_time: &'a OneTime,
    challenge: &'a str,
    jkt: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", settings.client_id.as_str()),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(scope) = &settings.scope {
        params.push(("scope", scope));
    }
    params.extend([
        ("state", one_time.state.as_str()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]);
    if let Some(nonce) = &one_time.nonce {
        params.push(("nonce", nonce));
    }
    params.push(("dpop_jkt", jkt));
    for resource in &settings.resources {
        params.push(("resource", resource));
    }
    for (name, value) in &sign_in.params {
        params.push((name, value));
    }
    params
}

/// `endpoint` with `params` added to its query (an endpoint may have a query of its own,
/// RFC 6749 §3.1).
pub(crate) fn url_with(endpoint: &str, params: &[(&str, &str)]) -> Result<Zeroizing<String>> {
    let mut url = url::Url::parse(endpoint).map_err(|_| {
        Error::new(
            ErrorKind::TokenConfig,
            format!(
                "the authorization endpoint '{}' is not a URL",
                crate::redact::url(endpoint)
            ),
        )
    })?;
    url.query_pairs_mut().extend_pairs(params);
    Ok(Zeroizing::new(url.to_string()))
}

/// Pushes the authorization request to `par_endpoint` (RFC 9126 §2.1) with the client's
/// authentication and a DPoP proof (RFC 9449 §10.1): the `request_uri` the browser then opens
/// the authorization endpoint with.
pub(crate) fn push(
    cx: &GrantContext<'_>,
    par_endpoint: &str,
    params: &[(&str, &str)],
    secrets: &[&str],
) -> Result<String> {
    let post = Post {
        url: par_endpoint,
        what: "the pushed authorization request",
        params,
        secrets,
        max_body: MAX_PAR_RESPONSE,
        invalid_grant: None,
    };
    let response = post_form(cx, &post)?;
    let invalid = |what: &str| {
        Error::new(
            ErrorKind::SignIn,
            format!(
                "the pushed authorization request endpoint {} answered {} with {what}",
                crate::redact::url(par_endpoint),
                response.status
            ),
        )
    };
    let body: Value =
        serde_json::from_slice(&response.body).map_err(|_| invalid("a body that is not JSON"))?;
    let request_uri = body
        .get("request_uri")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 2048)
        .ok_or_else(|| invalid("no usable request_uri"))?;
    Ok(request_uri.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_challenge_is_rfc_7636_s256() {
        // RFC 7636 Appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn one_time_values_are_fresh_and_long_enough() {
        let a = OneTime::new(true).unwrap();
        let b = OneTime::new(false).unwrap();
        for v in [&a.state, &a.code_verifier, a.nonce.as_ref().unwrap(), &b.state] {
            assert_eq!(v.len(), 43, "256 bits in base64url");
            assert!(v
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        }
        assert_ne!(a.state, b.state);
        assert_ne!(a.state, a.code_verifier);
        assert!(b.nonce.is_none());
    }

    #[test]
    fn the_url_keeps_the_endpoints_own_query() {
        let url = url_with(
            "https://as/authorize?tenant=a",
            &[("state", "x y"), ("scope", "a+b")],
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://as/authorize?tenant=a&state=x+y&scope=a%2Bb"
        );
    }
}
