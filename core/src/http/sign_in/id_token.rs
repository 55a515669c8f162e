//! The claims of the ID token of an OpenID Connect sign-in that bind it to this sign-in:
//! `iss`, `aud` (and `azp`) and `nonce` (OpenID Connect Core §3.1.3.7).
//!
//! The signature is not checked, and need not be: the ID token came straight from the token
//! endpoint over TLS, in the client's own code exchange, which OpenID Connect Core §3.1.3.7
//! item 6 allows to stand in for the signature ("the TLS server validation MAY be used to
//! validate the issuer in place of checking the token signature"). libdpop reads no claim of
//! it for anything but these checks.

use super::{constant_time_eq, printable};
use crate::error::{Error, ErrorKind, Result};
use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::Value;

/// What the ID token must say.
pub(crate) struct Expected<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) nonce: &'a str,
}

/// Checks the ID token of the token response; `None`: the response had none.
pub(crate) fn check(id_token: Option<&str>, expected: &Expected<'_>) -> Result<()> {
    let invalid = |what: &str| Error::new(ErrorKind::TokenResponse, format!("the token response {what}"));
    let id_token = id_token.ok_or_else(|| {
        invalid("has no id_token, which scope 'openid' asks for (OpenID Connect Core §3.1.3.3)")
    })?;
    let payload = id_token
        .split('.')
        .nth(1)
        .and_then(|p| Base64UrlUnpadded::decode_vec(p).ok())
        .ok_or_else(|| invalid("has an id_token that is not a JWT"))?;
    let claims = crate::json::SecretJson::new(
        serde_json::from_slice(&payload).map_err(|_| invalid("has an id_token whose claims are not JSON"))?,
    );
    let mismatch = |message: String| Error::new(ErrorKind::SignIn, format!("the id_token {message}"));
    let string = |name: &str| claims.get(name).and_then(Value::as_str);
    match string("iss") {
        Some(iss) if iss == expected.issuer => {}
        other => {
            return Err(mismatch(format!(
                "names the issuer {} instead of '{}'",
                other.map_or("(none)".into(), |iss| format!("'{}'", printable(iss, 200, &[]))),
                expected.issuer
            )))
        }
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(mismatch(format!(
            "is not for this client: its aud does not hold '{}'",
            expected.client_id
        )));
    }
    if audiences.len() > 1 && string("azp") != Some(expected.client_id) {
        return Err(mismatch(format!(
            "has several audiences and its azp is not '{}'",
            expected.client_id
        )));
    }
    // The values are never shown: the nonce is the sign-in's secret.
    match string("nonce") {
        Some(nonce) if constant_time_eq(nonce.as_bytes(), expected.nonce.as_bytes()) => Ok(()),
        Some(_) => Err(mismatch(
            "carries another nonce than the sign-in sent: it was issued for another sign-in".into(),
        )),
        None => Err(mismatch("carries no nonce, though the sign-in sent one".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: Value) -> String {
        let part = |v: &Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
        format!(
            "{}.{}.sig",
            part(&serde_json::json!({"alg":"RS256"})),
            part(&claims)
        )
    }

    const EXPECTED: Expected<'static> = Expected {
        issuer: "https://as",
        client_id: "app",
        nonce: "n-0123",
    };

    fn message(claims: Value) -> (ErrorKind, String) {
        let e = check(Some(&jwt(claims)), &EXPECTED).unwrap_err();
        (e.kind(), e.message().to_string())
    }

    #[test]
    fn the_right_claims_pass() {
        check(
            Some(&jwt(
                serde_json::json!({"iss":"https://as","aud":"app","nonce":"n-0123"}),
            )),
            &EXPECTED,
        )
        .unwrap();
        check(
            Some(&jwt(
                serde_json::json!({"iss":"https://as","aud":["app","api"],"azp":"app","nonce":"n-0123"}),
            )),
            &EXPECTED,
        )
        .unwrap();
    }

    #[test]
    fn wrong_claims_are_refused_without_showing_the_nonce() {
        let (k, m) = message(serde_json::json!({"iss":"https://evil","aud":"app","nonce":"n-0123"}));
        assert_eq!(k, ErrorKind::SignIn);
        assert!(m.contains("'https://evil' instead of 'https://as'"), "{m}");
        assert!(
            message(serde_json::json!({"iss":"https://as","aud":"other","nonce":"n-0123"}))
                .1
                .contains("aud")
        );
        assert!(
            message(serde_json::json!({"iss":"https://as","aud":["app","api"],"nonce":"n-0123"}))
                .1
                .contains("azp")
        );
        let (_, m) = message(serde_json::json!({"iss":"https://as","aud":"app","nonce":"n-9999"}));
        assert!(
            m.contains("another nonce") && !m.contains("n-9999") && !m.contains("n-0123"),
            "{m}"
        );
        assert!(message(serde_json::json!({"iss":"https://as","aud":"app"}))
            .1
            .contains("no nonce"));
        assert_eq!(
            check(None, &EXPECTED).unwrap_err().kind(),
            ErrorKind::TokenResponse
        );
        assert_eq!(
            check(Some("abc"), &EXPECTED).unwrap_err().kind(),
            ErrorKind::TokenResponse
        );
    }
}
