//! Checking a DPoP proof (RFC 9449 §4.3) against the request that carried it.
//!
//! Every error is a short text naming the check that failed; the server sends it as
//! `error_description`. Replay (`jti` seen before), `ath` and the nonce are checked by the caller,
//! which holds the state they need.

use crate::http::Request;
use crate::jws::{Alg, Compact, PublicJwk, SplitError};
use serde_json::{Map, Value};

/// A proof that passed every stateless check.
#[derive(Debug)]
pub struct VerifiedProof {
    /// The payload claims.
    pub claims: Map<String, Value>,
    /// RFC 7638 thumbprint of the proof's `jwk`.
    pub jkt: String,
    /// The `jti` claim.
    pub jti: String,
    /// The `iat` claim.
    pub iat: u64,
    /// The `alg` of the header, as sent (`EdDSA` and `Ed25519` are told apart).
    pub alg: String,
}

impl VerifiedProof {
    /// A string claim of the payload.
    pub fn claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }
}

/// What the request looked like, for `htm`, `htu` and `iat`.
pub struct Expected<'a> {
    /// The request method.
    pub method: &'a str,
    /// The request URL without query, normalised by [`normalize_url`].
    pub url: &'a str,
    /// Seconds since the Unix epoch.
    pub now: u64,
    /// Allowed difference between `iat` and `now`, in seconds.
    pub iat_window: u64,
}

/// Checks the `DPoP` headers of `request`, made for `url`, at time `now`.
pub fn verify_request(
    request: &Request,
    url: &str,
    now: u64,
    iat_window: u64,
) -> Result<VerifiedProof, &'static str> {
    let expected = Expected {
        method: &request.method,
        url,
        now,
        iat_window,
    };
    let dpop: Vec<&str> = request.header_values("dpop").collect();
    verify(&dpop, &expected)
}

/// Checks the `DPoP` header values of a request (all of them: there must be exactly one).
pub fn verify(headers: &[&str], expected: &Expected) -> Result<VerifiedProof, &'static str> {
    let jws = match headers {
        [] => return Err("missing DPoP header"),
        // A comma means two header fields were folded into one (RFC 9110 §5.3).
        [one] if !one.contains(',') => one.trim(),
        _ => return Err("more than one DPoP header"),
    };
    let jws = Compact::split(jws).map_err(|e| match e {
        SplitError::Parts => "DPoP proof is not a compact JWS with three parts",
        SplitError::Header => "DPoP proof header is not base64url-encoded JSON",
    })?;
    if jws.header_str("typ") != Some("dpop+jwt") {
        return Err("typ is not dpop+jwt");
    }
    let alg_name = jws.header_str("alg").unwrap_or_default().to_owned();
    let alg = Alg::from_name(&alg_name).ok_or("alg is not one of ES256 ES384 EdDSA Ed25519 PS256 RS256")?;
    let jwk = PublicJwk::parse(alg, jws.header.get("jwk").ok_or("jwk is missing")?)?;
    if !jws.verifies(&jwk) {
        return Err("signature is invalid");
    }
    let claims = jws
        .payload()
        .ok_or("DPoP proof payload is not base64url-encoded JSON")?;
    let text = |name| claims.get(name).and_then(Value::as_str);
    match text("htm") {
        None => return Err("htm is missing"),
        Some(htm) if htm != expected.method => return Err("htm does not match the request method"),
        Some(_) => {}
    }
    match text("htu").map(normalize_url) {
        None => return Err("htu is missing"),
        Some(htu) if htu.as_deref() != Some(expected.url) => {
            return Err("htu does not match the request URL")
        }
        Some(_) => {}
    }
    let iat = match claims.get("iat") {
        None => return Err("iat is missing"),
        Some(iat) => iat.as_u64().ok_or("iat is not an integer")?,
    };
    if iat.saturating_add(expected.iat_window) < expected.now {
        return Err("iat is too old");
    }
    if iat > expected.now.saturating_add(expected.iat_window) {
        return Err("iat is in the future");
    }
    let jti = match text("jti") {
        Some(jti) if !jti.is_empty() => jti.to_owned(),
        _ => return Err("jti is missing"),
    };
    if claims.get("nonce").is_some_and(|nonce| !nonce.is_string()) {
        return Err("nonce is not a string");
    }
    Ok(VerifiedProof {
        claims,
        jkt: jwk.thumbprint,
        jti,
        iat,
        alg: alg_name,
    })
}

/// Whether the proof's `alg` is in `allowed` (empty: every supported one); the refusal's
/// description otherwise.
pub fn alg_allowed(allowed: &[String], proof: &VerifiedProof) -> Result<(), String> {
    if allowed.is_empty() || allowed.contains(&proof.alg) {
        Ok(())
    } else {
        Err(format!("alg is not one of {}", allowed.join(" ")))
    }
}

/// Normalises an absolute http(s) URL for comparison (RFC 3986 §6.2.2.1, §6.2.3): scheme and
/// host lower-cased, the scheme's default port dropped, an empty path made "/". The path, and
/// any query or fragment, are kept as they are, so an `htu` with a query never matches.
pub fn normalize_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let path_start = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(path_start);
    let authority = normalize_authority(&scheme, authority)?;
    let path = if path.is_empty() || !path.starts_with('/') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    Some(format!("{scheme}://{authority}{path}"))
}

/// Lower-cases a `host[:port]` and drops the default port of `scheme`. None for user info, an
/// empty host or a port that is not a number.
pub fn normalize_authority(scheme: &str, authority: &str) -> Option<String> {
    if authority.contains('@') || !matches!(scheme, "http" | "https") {
        return None;
    }
    let host_end = if authority.starts_with('[') {
        authority.find(']')? + 1
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, port) = authority.split_at(host_end);
    if host.is_empty() {
        return None;
    }
    let host = host.to_ascii_lowercase();
    let port = match port.strip_prefix(':') {
        None if port.is_empty() => None,
        None => return None,
        Some("") => None,
        Some(port) => Some(port.parse::<u16>().ok()?),
    };
    let default = if scheme == "https" { 443 } else { 80 };
    Some(match port {
        Some(port) if port != default => format!("{host}:{port}"),
        _ => host,
    })
}

#[cfg(test)]
mod tests {
    use super::normalize_url;

    #[test]
    fn normalize_url_lowercases_scheme_and_host_and_drops_default_port() {
        let n = |url| normalize_url(url).unwrap();
        assert_eq!(n("HTTP://LocalHost:80/Token"), "http://localhost/Token");
        assert_eq!(n("https://Example.COM:443"), "https://example.com/");
        assert_eq!(n("https://example.com:8443/a/b"), "https://example.com:8443/a/b");
        assert_eq!(n("http://[::1]:8080/x"), "http://[::1]:8080/x");
        assert_eq!(n("http://h/p?q=1"), "http://h/p?q=1");
        assert!(normalize_url("http://user@h/p").is_none());
        assert!(normalize_url("ftp://h/p").is_none());
        assert!(normalize_url("http://h:x/p").is_none());
    }
}
