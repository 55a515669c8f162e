//! The token endpoint (`POST /token`): the form, the DPoP proof and its nonce, client
//! authentication; the grants are in [`crate::grants`].

use crate::client_auth::{authenticate, record_assertion};
use crate::grants;
use crate::http::{Request, Response};
use crate::proof::{self, VerifiedProof};
use crate::state::{NonceCheck, Shared, NONCE_NOT_ISSUED};
use serde_json::json;
use std::collections::HashMap;

/// Answers a token request. `url` is the normalised URL the request was sent to.
pub fn token_endpoint(shared: &Shared, request: &Request, url: &str) -> Response {
    with_nonce(shared, answer(shared, request, url).unwrap_or_else(|error| error))
}

/// Adds the current nonce to an answer of the token or PAR endpoint when nonces are demanded
/// there.
pub fn with_nonce(shared: &Shared, response: Response) -> Response {
    if shared.config.require_nonce_token || shared.config.token_nonce_every_request {
        response.with_header("DPoP-Nonce", shared.current_nonce())
    } else {
        response
    }
}

fn answer(shared: &Shared, request: &Request, url: &str) -> Result<Response, Response> {
    let form = form_body(request)?;
    let fresh_assertion = record_assertion(shared, &form);
    let proof = checked_proof(shared, request, url)?;
    let client = authenticate(shared, request, &form, fresh_assertion, url)?;
    grants::grant(shared, &client, &form, &proof)
}

/// The form body of a POST to the token or PAR endpoint.
pub fn form_body(request: &Request) -> Result<HashMap<String, String>, Response> {
    let invalid_request = |description| Response::error(400, "invalid_request", description);
    let form_type = request
        .header("content-type")
        .map(|v| v.split(';').next().unwrap_or_default().trim());
    if !form_type.is_some_and(|t| t.eq_ignore_ascii_case("application/x-www-form-urlencoded")) {
        return Err(invalid_request(
            "Content-Type is not application/x-www-form-urlencoded",
        ));
    }
    parse_form(&request.body).ok_or_else(|| invalid_request("malformed form body"))
}

/// The request's DPoP proof, checked as the token endpoint checks it (RFC 9449 §4.3, §8):
/// signature and claims, the allowed algorithms, the nonce the server demands, replay.
pub fn checked_proof(shared: &Shared, request: &Request, url: &str) -> Result<VerifiedProof, Response> {
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
    Ok(proof)
}

/// 400 `invalid_dpop_proof`, without the description under `terse_errors`.
fn invalid_proof(shared: &Shared, description: &str) -> Response {
    if shared.config.terse_errors {
        Response::json(400, &json!({"error": "invalid_dpop_proof"}))
    } else {
        Response::error(400, "invalid_dpop_proof", description)
    }
}

/// Parses an application/x-www-form-urlencoded body. None if it is malformed or repeats a
/// parameter (RFC 6749 §3.2).
pub fn parse_form(body: &[u8]) -> Option<HashMap<String, String>> {
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
