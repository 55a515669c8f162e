//! Authorization server metadata (RFC 8414, OpenID Connect Discovery 1.0): where the token
//! endpoint is and what the server accepts, from the configured `issuer`.

use crate::error::{Error, ErrorKind, Result};
use crate::redact;
use serde_json::Value;

/// What libdpop uses of an authorization server's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Metadata {
    pub(crate) issuer: String,
    pub(crate) token_endpoint: String,
    /// `dpop_signing_alg_values_supported`, when the server names them.
    pub(crate) dpop_algs: Option<Vec<String>>,
    /// `token_endpoint_auth_methods_supported`.
    pub(crate) auth_methods: Option<Vec<String>>,
    /// `token_endpoint_auth_signing_alg_values_supported`.
    pub(crate) auth_signing_algs: Option<Vec<String>>,
    /// `authorization_endpoint` (RFC 8414 §2; the sign-in needs it).
    pub(crate) authorization_endpoint: Option<String>,
    /// `pushed_authorization_request_endpoint` (RFC 9126 §5).
    pub(crate) par_endpoint: Option<String>,
    /// `require_pushed_authorization_requests` (RFC 9126 §5).
    pub(crate) require_par: bool,
    /// `authorization_response_iss_parameter_supported` (RFC 9207 §3): the redirect must then
    /// carry `iss`.
    pub(crate) iss_parameter: bool,
    /// `code_challenge_methods_supported` (RFC 8414 §2).
    pub(crate) code_challenge_methods: Option<Vec<String>>,
}

/// Metadata documents are small; a larger body is not one.
pub(crate) const MAX_METADATA: u64 = 1 << 20;

/// Where the metadata of `issuer` is looked for, in order: RFC 8414 §3.1 (the well-known
/// segment inserted between the host and the issuer's path), then OpenID Connect Discovery
/// §4 (appended to the issuer).
pub(crate) fn urls(issuer: &str) -> Result<[String; 2]> {
    let parsed = url::Url::parse(issuer)
        .map_err(|_| metadata_error(format!("the issuer '{}' is not a URL", redact::url(issuer))))?;
    let path = parsed.path().trim_end_matches('/');
    let origin = parsed.origin().ascii_serialization();
    Ok([
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ),
    ])
}

fn metadata_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Metadata, message)
}

/// Parses a metadata document fetched from `url` for the configured `issuer`.
pub(crate) fn parse(issuer: &str, url: &str, body: &[u8]) -> Result<Metadata> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| metadata_error(format!("the metadata at {} is not JSON", redact::url(url))))?;
    let Value::Object(doc) = value else {
        return Err(metadata_error(format!(
            "the metadata at {} is not a JSON object",
            redact::url(url)
        )));
    };
    let string = |name: &str| doc.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    let found = string("issuer")
        .ok_or_else(|| metadata_error(format!("the metadata at {} has no issuer", redact::url(url))))?;
    // RFC 8414 §3.3, OIDC Discovery §4.3: identical, character for character.
    if found != issuer {
        return Err(Error::new(
            ErrorKind::IssuerMismatch,
            format!(
                "the metadata at {} names the issuer '{}', but the settings name '{}': they must be identical \
                 (RFC 8414 §3.3); fix the 'issuer' setting if the server is the right one",
                redact::url(url),
                found.chars().take(200).collect::<String>(),
                issuer
            ),
        ));
    }
    let token_endpoint = string("token_endpoint")
        .ok_or_else(|| metadata_error(format!("the metadata of {issuer} has no token_endpoint")))?;
    let endpoint = |name: &str| -> Result<Option<String>> {
        let Some(value) = string(name) else {
            return Ok(None);
        };
        match url::Url::parse(value) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(Some(value.to_string())),
            _ => Err(metadata_error(format!(
                "the metadata of {issuer} gives a {name} that is not an absolute http(s) URL"
            ))),
        }
    };
    endpoint("token_endpoint")?;
    let flag = |name: &str| -> Result<bool> {
        match doc.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(metadata_error(format!(
                "the metadata of {issuer} has a {name} that is not true or false"
            ))),
        }
    };
    let list = |name: &str| -> Result<Option<Vec<String>>> {
        match doc.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| {
                    metadata_error(format!(
                        "the metadata of {issuer} has a {name} that holds a non-string"
                    ))
                }),
            Some(_) => Err(metadata_error(format!(
                "the metadata of {issuer} has a {name} that is not an array"
            ))),
        }
    };
    Ok(Metadata {
        issuer: found.to_string(),
        token_endpoint: token_endpoint.to_string(),
        dpop_algs: list("dpop_signing_alg_values_supported")?,
        auth_methods: list("token_endpoint_auth_methods_supported")?,
        auth_signing_algs: list("token_endpoint_auth_signing_alg_values_supported")?,
        authorization_endpoint: endpoint("authorization_endpoint")?,
        par_endpoint: endpoint("pushed_authorization_request_endpoint")?,
        require_par: flag("require_pushed_authorization_requests")?,
        iss_parameter: flag("authorization_response_iss_parameter_supported")?,
        code_challenge_methods: list("code_challenge_methods_supported")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_well_known_urls_follow_rfc_8414_and_oidc_discovery() {
        assert_eq!(
            urls("https://as.example").unwrap(),
            [
                "https://as.example/.well-known/oauth-authorization-server",
                "https://as.example/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            urls("https://as.example/tenant1/").unwrap(),
            [
                "https://as.example/.well-known/oauth-authorization-server/tenant1",
                "https://as.example/tenant1/.well-known/openid-configuration"
            ]
        );
    }

    #[test]
    fn metadata_is_checked() {
        let ok = br#"{"issuer":"https://as","token_endpoint":"https://as/token","dpop_signing_alg_values_supported":["ES256","PS256"]}"#;
        let m = parse("https://as", "https://as/.well-known/x", ok).unwrap();
        assert_eq!(m.token_endpoint, "https://as/token");
        assert_eq!(m.dpop_algs.as_deref().unwrap(), ["ES256", "PS256"]);
        assert_eq!(m.auth_methods, None);
        assert!(!m.require_par && !m.iss_parameter && m.authorization_endpoint.is_none());
        let signin = br#"{"issuer":"https://as","token_endpoint":"https://as/token","authorization_endpoint":"https://as/authorize",
            "pushed_authorization_request_endpoint":"https://as/par","require_pushed_authorization_requests":true,
            "authorization_response_iss_parameter_supported":true,"code_challenge_methods_supported":["S256"]}"#;
        let m = parse("https://as", "https://as/.well-known/x", signin).unwrap();
        assert_eq!(m.authorization_endpoint.as_deref(), Some("https://as/authorize"));
        assert_eq!(m.par_endpoint.as_deref(), Some("https://as/par"));
        assert!(m.require_par && m.iss_parameter);
        assert_eq!(m.code_challenge_methods.as_deref().unwrap(), ["S256"]);
        let kind = |issuer: &str, body: &[u8]| {
            parse(issuer, "https://as/m", body)
                .err()
                .map(|e| (e.kind(), e.message().to_string()))
        };
        let (k, msg) = kind("https://as/", ok).unwrap();
        assert_eq!(k, ErrorKind::IssuerMismatch);
        assert!(
            msg.contains("'https://as'") && msg.contains("'https://as/'"),
            "{msg}"
        );
        assert_eq!(kind("https://as", b"<html>").unwrap().0, ErrorKind::Metadata);
        assert_eq!(kind("https://as", b"[]").unwrap().0, ErrorKind::Metadata);
        let (k, msg) = kind("https://as", br#"{"issuer":"https://as"}"#).unwrap();
        assert_eq!(k, ErrorKind::Metadata);
        assert!(msg.contains("no token_endpoint"));
        assert!(kind(
            "https://as",
            br#"{"issuer":"https://as","token_endpoint":"/token"}"#
        )
        .unwrap()
        .1
        .contains("not an absolute"));
        assert!(kind("https://as", br#"{"issuer":"https://as","token_endpoint":"https://as/t","authorization_endpoint":"as/authorize"}"#)
            .unwrap()
            .1
            .contains("authorization_endpoint that is not an absolute"));
        assert!(kind("https://as", br#"{"issuer":"https://as","token_endpoint":"https://as/t","require_pushed_authorization_requests":"yes"}"#)
            .unwrap()
            .1
            .contains("not true or false"));
        assert!(kind("https://as", br#"{"issuer":"https://as","token_endpoint":"https://as/t","dpop_signing_alg_values_supported":"ES256"}"#)
            .unwrap()
            .1
            .contains("not an array"));
    }
}
