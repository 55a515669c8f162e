//! The token endpoint (`POST /token`): client_credentials and refresh_token grants for
//! confidential clients, each bound to the key of a DPoP proof (RFC 9449 §5).

use crate::client_auth::{authenticate, record_assertion};
use crate::http::{Request, Response};
use crate::proof::{self, VerifiedProof};
use crate::state::{NonceCheck, Shared, NONCE_NOT_ISSUED};
use crate::token::RefreshGrant;
use serde_json::json;
use std::collections::HashMap;

/// Answers a token request. `url` is the normalised URL the request was sent to.
pub fn token_endpoint(shared: &Shared, request: &Request, url: &str) -> Response {
    let response = answer(shared, request, url).unwrap_or_else(|error| error);
    if shared.config.require_nonce_token || shared.config.token_nonce_every_request {
        response.with_header("DPoP-Nonce", shared.current_nonce())
    } else {
        response
    }
}

fn answer(shared: &Shared, request: &Request, url: &str) -> Result<Response, Response> {
    let invalid_request = |description| Response::error(400, "invalid_request", description);
    let form_type = request
        .header("content-type")
        .map(|v| v.split(';').next().unwrap_or_default().trim());
    if !form_type.is_some_and(|t| t.eq_ignore_ascii_case("application/x-www-form-urlencoded")) {
        return Err(invalid_request(
            "Content-Type is not application/x-www-form-urlencoded",
        ));
    }
    let form = parse_form(&request.body).ok_or_else(|| invalid_request("malformed form body"))?;
    let fresh_assertion = record_assertion(shared, &form);

    let now = shared.clock.now();
    let invalid_proof = |description: &str| invalid_proof(shared, description);
    let proof = proof::verify_request(request, url, now, shared.config.iat_window).map_err(invalid_proof)?;
    if let Err(description) = proof::alg_allowed(&shared.config.dpop_signing_alg_values_supported, &proof) {
        return Err(invalid_proof(&description));
    }
    if proof.claim("nonce").is_some() && !shared.issues_nonces() {
        return Err(invalid_proof(NONCE_NOT_ISSUED));
    }
    if shared.config.token_nonce_every_request {
        shared.stats().nonce_rejections_token += 1;
        shared.rotate_nonce();
        return Err(Response::error(
            400,
            "use_dpop_nonce",
            "a fresh nonce is required on every request",
        ));
    }
    if shared.config.require_nonce_token {
        let description = match shared.check_nonce(proof.claim("nonce")) {
            NonceCheck::Valid => None,
            NonceCheck::Missing => Some("nonce is missing"),
            NonceCheck::Stale => Some("nonce is stale"),
        };
        if let Some(description) = description {
            shared.stats().nonce_rejections_token += 1;
            return Err(Response::error(400, "use_dpop_nonce", description));
        }
    }
    if !shared.use_jti(&proof.jti, proof.iat, now) {
        return Err(invalid_proof("jti has been used before"));
    }

    let client = authenticate(shared, request, &form, fresh_assertion, url)?;
    let client_id = client.id;
    match form.get("grant_type").map(String::as_str) {
        None => Err(invalid_request("grant_type is missing")),
        Some("client_credentials") if client.public => Err(Response::error(
            400,
            "unauthorized_client",
            "client_credentials is for confidential clients",
        )),
        Some("client_credentials") => {
            let scope = form.get("scope").cloned();
            let response = issue(shared, &client_id, &proof, scope);
            shared.stats().client_credentials_grants += 1;
            Ok(response)
        }
        Some("refresh_token") => {
            let refresh_token = form
                .get("refresh_token")
                .ok_or_else(|| invalid_request("refresh_token is missing"))?;
            let grant = shared.tokens().refresh(refresh_token).cloned();
            let invalid_grant = |description| Response::error(400, "invalid_grant", description);
            let grant = grant.ok_or_else(|| invalid_grant("refresh token is unknown or already used"))?;
            if grant.client_id != client_id {
                return Err(invalid_grant("refresh token was issued to another client"));
            }
            if grant.jkt != proof.jkt {
                return Err(invalid_grant("refresh token is bound to another DPoP key"));
            }
            shared.tokens().remove_refresh(refresh_token);
            let scope = form.get("scope").cloned().or(grant.scope);
            let response = issue(shared, &client_id, &proof, scope);
            shared.stats().refresh_grants += 1;
            Ok(response)
        }
        Some(_) => Err(Response::error(
            400,
            "unsupported_grant_type",
            "grant_type is not client_credentials or refresh_token",
        )),
    }
}

/// 400 `invalid_dpop_proof`, without the description under `terse_errors`.
fn invalid_proof(shared: &Shared, description: &str) -> Response {
    if shared.config.terse_errors {
        Response::json(400, &json!({"error": "invalid_dpop_proof"}))
    } else {
        Response::error(400, "invalid_dpop_proof", description)
    }
}

/// Issues an access token (and a refresh token when configured) bound to the proof's key.
fn issue(shared: &Shared, client_id: &str, proof: &VerifiedProof, scope: Option<String>) -> Response {
    let iat = shared.clock.now();
    // Rounded up, so the token lasts at least token_ttl seconds from now (expires_in), not
    // up to a second less; a lifetime of 0 stays expired at once.
    let ttl = shared.config.token_ttl;
    let exp = if ttl == 0 {
        iat
    } else {
        shared.clock.now_ceil() + ttl
    };
    let jti = shared.random();
    let mut claims = json!({
        "iss": shared.issuer,
        "sub": client_id,
        "client_id": client_id,
        "iat": iat,
        "exp": exp,
        "jti": jti,
        "cnf": {"jkt": proof.jkt},
    });
    let mut body = json!({
        "access_token": "",
        "token_type": shared.config.token_type,
        "expires_in": shared.config.token_ttl,
    });
    if let Some(scope) = &scope {
        claims["scope"] = json!(scope);
        body["scope"] = json!(scope);
    }
    body["access_token"] = json!(shared.signer.mint(&claims));
    shared.tokens().add_access(jti);
    if shared.config.issue_refresh_tokens {
        let refresh_token = shared.random();
        let grant = RefreshGrant {
            client_id: client_id.to_owned(),
            jkt: proof.jkt.clone(),
            scope,
        };
        shared.tokens().add_refresh(refresh_token.clone(), grant);
        body["refresh_token"] = json!(refresh_token);
    }
    shared.stats().tokens_issued += 1;
    Response::json(200, &body)
}

/// Parses an application/x-www-form-urlencoded body. None if it is malformed or repeats a
/// parameter (RFC 6749 §3.2).
fn parse_form(body: &[u8]) -> Option<HashMap<String, String>> {
    let body = std::str::from_utf8(body).ok()?;
    let mut form = HashMap::new();
    for pair in body.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if form.insert(form_decode(name)?, form_decode(value)?).is_some() {
            return None;
        }
    }
    Some(form)
}

/// Decodes one form-urlencoded name or value: '+' is a space, %XX a byte.
pub fn form_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(b) = input.next() {
        bytes.push(match b {
            b'+' => b' ',
            b'%' => {
                let hex = [input.next()?, input.next()?];
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?
            }
            b => b,
        });
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::{form_decode, parse_form};

    #[test]
    fn form_decode_handles_plus_and_percent_escapes() {
        assert_eq!(form_decode("a+b%20c%3A%2b").as_deref(), Some("a b c:+"));
        assert_eq!(form_decode("%e2%82%ac").as_deref(), Some("€"));
        assert!(
            form_decode("%4").is_none()
                && form_decode("%zz").is_none()
                && form_decode("%+1").is_none()
                && form_decode("%ff").is_none()
        );
    }

    #[test]
    fn parse_form_rejects_repeated_parameters() {
        let form = parse_form(b"grant_type=client_credentials&scope=a+b&&flag").unwrap();
        assert_eq!(form["scope"], "a b");
        assert_eq!(form["flag"], "");
        assert!(parse_form(b"a=1&a=2").is_none());
    }
}
