//! The authorization endpoint (`GET /authorize`, RFC 6749 §4.1.1), which approves at once as if
//! the user had signed in and consented, and the pushed authorization request endpoint
//! (`POST /par`, RFC 9126). Both demand PKCE with S256 (RFC 7636) and bind the code to a DPoP
//! key when the request names one (`dpop_jkt`, or the key of the PAR request's proof, RFC 9449
//! §10). The code itself is redeemed by the authorization_code grant in [`crate::grants`].

use crate::authz::{checked_proof, form_body, parse_form, with_nonce};
use crate::client_auth::{authenticate, record_assertion};
use crate::config::AuthorizationIss;
use crate::http::{Request, Response};
use crate::state::Shared;
use serde_json::json;
use std::collections::HashMap;

type Params = HashMap<String, String>;

/// The `iss` of a redirect under [`AuthorizationIss::Wrong`].
const OTHER_ISSUER: &str = "https://other-issuer.example";

/// The prefix of PAR `request_uri`s (RFC 9126 §2.2).
const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// What an issued code stands for.
#[derive(Clone, Debug)]
pub struct CodeGrant {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect_uri of the authorization request, which the token request must repeat.
    pub redirect_uri: String,
    /// The S256 code challenge.
    pub code_challenge: String,
    /// The DPoP key thumbprint the code is bound to, if any.
    pub jkt: Option<String>,
    /// The scope requested.
    pub scope: Option<String>,
    /// The OpenID Connect nonce, for the id_token.
    pub nonce: Option<String>,
    /// The server time after which the code is refused.
    pub expires: u64,
}

/// A pushed authorization request, until its `request_uri` is used.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// The client that pushed it.
    pub client_id: String,
    /// Its parameters.
    pub params: Params,
    /// The key of the PAR request's DPoP proof (or `dpop_jkt`), if any.
    pub jkt: Option<String>,
    /// The server time after which the `request_uri` is refused.
    pub expires: u64,
}

/// Whether `given` is one of the registered redirect URIs: identical, or for a loopback IP
/// literal over http, identical but for the port (RFC 8252 §7.3).
pub fn redirect_uri_registered(registered: &[String], given: &str) -> bool {
    let without_port = |uri: &str| -> Option<String> {
        let rest = uri.strip_prefix("http://")?;
        let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let host = if authority.starts_with("[::1]") {
            "[::1]"
        } else if authority == "127.0.0.1" || authority.starts_with("127.0.0.1:") {
            "127.0.0.1"
        } else {
            return None;
        };
        let port = &authority[host.len()..];
        if !(port.is_empty() || port.strip_prefix(':').is_some_and(|p| p.parse::<u16>().is_ok())) {
            return None;
        }
        let path = if path.is_empty() { "/" } else { path };
        Some(format!("http://{host}{path}"))
    };
    registered
        .iter()
        .any(|r| r == given || matches!((without_port(r), without_port(given)), (Some(a), Some(b)) if a == b))
}

/// A page for an authorization request that cannot be answered by redirect (unknown client,
/// bad redirect_uri: RFC 6749 §4.1.2.1 forbids redirecting those).
fn page(status: u16, text: &str) -> Response {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    Response {
        status,
        headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
        body: crate::http::Body::Bytes(
            format!("<!DOCTYPE html><title>dpop-test-server</title><p>{escaped}</p>\n").into_bytes(),
        ),
    }
}

/// A redirect to `redirect_uri` with `params` added to its query.
fn redirect(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let mut location = redirect_uri.to_owned();
    for (i, (name, value)) in params.iter().enumerate() {
        let first = i == 0 && !redirect_uri.contains('?');
        location.push(if first { '?' } else { '&' });
        location.push_str(&encode(name));
        location.push('=');
        location.push_str(&encode(value));
    }
    Response {
        status: 302,
        headers: vec![("Location".into(), location)],
        body: crate::http::Body::Bytes(Vec::new()),
    }
}

/// Percent-encodes everything but the unreserved characters (RFC 3986 §2.3).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `iss` parameter of a redirect, per [`Config::authorization_iss`](crate::Config).
fn iss(shared: &Shared) -> Option<&str> {
    match shared.config.authorization_iss {
        AuthorizationIss::Correct => Some(&shared.issuer),
        AuthorizationIss::Omitted => None,
        AuthorizationIss::Wrong => Some(OTHER_ISSUER),
    }
}

/// An error redirect (RFC 6749 §4.1.2.1), with `state` and `iss` (RFC 9207 §2).
fn error_redirect(
    shared: &Shared,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    params.extend(state.map(|s| ("state", s)));
    params.extend(iss(shared).map(|i| ("iss", i)));
    redirect(redirect_uri, &params)
}

/// Whether `client_id` is a registered client (any authentication method).
fn registered(shared: &Shared, client_id: &str) -> bool {
    let config = &shared.config;
    config.clients.iter().any(|(id, _)| id == client_id)
        || config.registered_clients.iter().any(|c| c.id == client_id)
}

/// The checks of an authorization request's parameters that are answered by redirect: the
/// error code and description.
fn check_params(params: &Params) -> Result<(), (&'static str, &'static str)> {
    match params.get("response_type").map(String::as_str) {
        Some("code") => {}
        _ => return Err(("unsupported_response_type", "response_type is not code")),
    }
    match (
        params.get("code_challenge"),
        params.get("code_challenge_method").map(String::as_str),
    ) {
        (None, _) => return Err(("invalid_request", "code_challenge is required (PKCE)")),
        (Some(c), _) if c.len() != 43 => {
            return Err(("invalid_request", "code_challenge is not an S256 challenge"))
        }
        (Some(_), Some("S256")) => {}
        (Some(_), _) => return Err(("invalid_request", "code_challenge_method is not S256")),
    }
    if let Some(jkt) = params.get("dpop_jkt") {
        if jkt.len() != 43
            || !jkt
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(("invalid_request", "dpop_jkt is not a JWK SHA-256 thumbprint"));
        }
    }
    Ok(())
}

/// `GET /authorize`: approves the request, or denies it under `deny_authorization`.
pub fn authorization_endpoint(shared: &Shared, request: &Request) -> Response {
    shared.stats().authorization_requests += 1;
    let Some(query) = parse_form(request.query.as_deref().unwrap_or_default().as_bytes()) else {
        return page(
            400,
            "The authorization request is malformed or repeats a parameter.",
        );
    };
    let Some(client_id) = query.get("client_id").filter(|id| registered(shared, id)) else {
        return page(400, "The authorization request names no registered client_id.");
    };
    let now = shared.clock.now();
    let (params, pushed_jkt) = match query.get("request_uri") {
        Some(request_uri) => {
            let pushed = shared.pushed().remove(request_uri);
            match pushed {
                Some(p) if p.client_id == *client_id && p.expires > now => (p.params, p.jkt),
                Some(p) if p.client_id != *client_id => {
                    return page(400, "The request_uri was pushed by another client.")
                }
                Some(_) => return page(400, "The request_uri has expired."),
                None => return page(400, "The request_uri is unknown or already used."),
            }
        }
        None => (query.clone(), None),
    };
    let Some(redirect_uri) = params
        .get("redirect_uri")
        .filter(|uri| redirect_uri_registered(&shared.config.redirect_uris, uri))
    else {
        return page(400, "The redirect_uri is missing or not registered.");
    };
    let state = params.get("state").map(String::as_str);
    if shared.config.require_par && !query.contains_key("request_uri") {
        return error_redirect(
            shared,
            redirect_uri,
            state,
            "invalid_request",
            "pushed authorization requests are required (RFC 9126)",
        );
    }
    if let Err((error, description)) = check_params(&params) {
        return error_redirect(shared, redirect_uri, state, error, description);
    }
    if shared.config.deny_authorization {
        return error_redirect(
            shared,
            redirect_uri,
            state,
            "access_denied",
            "the user denied the request",
        );
    }
    let code = shared.random();
    let grant = CodeGrant {
        client_id: client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        code_challenge: params["code_challenge"].clone(),
        jkt: params.get("dpop_jkt").cloned().or(pushed_jkt),
        scope: params.get("scope").cloned(),
        nonce: params.get("nonce").cloned(),
        expires: now + shared.config.code_ttl,
    };
    shared.codes().insert(code.clone(), grant);
    let mut answer = vec![("code", code.as_str())];
    answer.extend(state.map(|s| ("state", s)));
    answer.extend(iss(shared).map(|i| ("iss", i)));
    redirect(redirect_uri, &answer)
}

/// `POST /par`: authenticates the client, checks the DPoP proof when there is one (RFC 9449
/// §10.1) and the parameters, and answers 201 with a `request_uri`.
pub fn par_endpoint(shared: &Shared, request: &Request, url: &str) -> Response {
    shared.stats().par_requests += 1;
    with_nonce(shared, push(shared, request, url).unwrap_or_else(|error| error))
}

fn push(shared: &Shared, request: &Request, url: &str) -> Result<Response, Response> {
    let invalid = |description: &str| Response::error(400, "invalid_request", description);
    let form = form_body(request)?;
    let fresh_assertion = record_assertion(shared, &form);
    let proof = match request.header("dpop") {
        Some(_) => Some(checked_proof(shared, request, url)?),
        None => None,
    };
    let client = authenticate(shared, request, &form, fresh_assertion, url)?;
    if form.contains_key("request_uri") {
        return Err(invalid(
            "request_uri is not allowed in a pushed authorization request",
        ));
    }
    if form.get("client_id").is_some_and(|id| *id != client.id) {
        return Err(invalid("client_id is not the authenticated client"));
    }
    let registered = form
        .get("redirect_uri")
        .is_some_and(|uri| redirect_uri_registered(&shared.config.redirect_uris, uri));
    if !registered {
        return Err(invalid("redirect_uri is missing or not registered"));
    }
    check_params(&form).map_err(|(error, description)| Response::error(400, error, description))?;
    let proof_jkt = proof.map(|p| p.jkt);
    if let (Some(given), Some(key)) = (form.get("dpop_jkt"), &proof_jkt) {
        if given != key {
            return Err(Response::error(
                400,
                "invalid_dpop_proof",
                "dpop_jkt does not match the key of the DPoP proof",
            ));
        }
    }
    let request_uri = format!("{REQUEST_URI_PREFIX}{}", shared.random());
    let pushed = Pushed {
        client_id: client.id,
        jkt: form.get("dpop_jkt").cloned().or(proof_jkt),
        params: form,
        expires: shared.clock.now() + shared.config.code_ttl,
    };
    shared.pushed().insert(request_uri.clone(), pushed);
    Ok(Response::json(
        201,
        &json!({"request_uri": request_uri, "expires_in": shared.config.code_ttl}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirect_uris_match_on_any_port_and_others_exactly() {
        let registered = [
            "http://127.0.0.1/callback".to_string(),
            "https://app.example/cb".to_string(),
        ];
        for given in [
            "http://127.0.0.1:51234/callback",
            "http://127.0.0.1/callback",
            "https://app.example/cb",
        ] {
            assert!(redirect_uri_registered(&registered, given), "{given}");
        }
        for given in [
            "http://127.0.0.1:51234/other",
            "http://localhost:51234/callback",
            "https://127.0.0.1:5/callback",
            "https://app.example:8443/cb",
            "http://127.0.0.1:x/callback",
            "http://127.0.0.1.evil/callback",
        ] {
            assert!(!redirect_uri_registered(&registered, given), "{given}");
        }
    }

    #[test]
    fn redirects_encode_their_parameters() {
        let r = redirect("http://127.0.0.1:1/cb", &[("code", "a+b"), ("iss", "http://x/")]);
        assert_eq!(
            r.header("location"),
            Some("http://127.0.0.1:1/cb?code=a%2Bb&iss=http%3A%2F%2Fx%2F")
        );
    }
}
