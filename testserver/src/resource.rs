//! The protected API (`/dpop/*`): DPoP-bound access tokens checked per RFC 9449 §4.3 and §7.

use crate::fault::Fault;
use crate::http::{Request, Response};
use crate::jws::{sha256_b64, SUPPORTED_ALGS};
use crate::proof::{self, VerifiedProof};
use crate::state::{NonceCheck, Shared, NONCE_NOT_ISSUED};
use crate::token::TokenState;
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// Request headers left out of the echo in a 200 answer.
const SENSITIVE_HEADERS: [&str; 4] = ["authorization", "dpop", "cookie", "proxy-authorization"];

/// The `invalid_token` description for a DPoP-bound token whose `cnf.jkt` is not the
/// thumbprint of the proof's key.
pub const KEY_MISMATCH: &str = "the proof key does not match the token's cnf.jkt";

/// Why the API refused a request.
struct Refusal {
    /// `invalid_dpop_proof`, `invalid_token` or `use_dpop_nonce`; None when no credentials came.
    error: Option<&'static str>,
    description: Cow<'static, str>,
    /// Whether to add a Bearer challenge (the client sent a Bearer token).
    bearer: bool,
}

fn refuse(error: &'static str, description: impl Into<Cow<'static, str>>) -> Refusal {
    Refusal {
        error: Some(error),
        description: description.into(),
        bearer: false,
    }
}

fn invalid_proof(description: impl Into<Cow<'static, str>>) -> Refusal {
    refuse("invalid_dpop_proof", description)
}

fn invalid_token(description: &'static str) -> Refusal {
    refuse("invalid_token", description)
}

/// Answers an API request. `url` is the normalised URL the request was sent to, without query.
pub fn api(shared: &Shared, request: &Request, url: &str) -> Response {
    let nonce_mode = shared.config.require_nonce_api || shared.config.api_nonce_every_request;
    match check(shared, request, url) {
        Ok((token, proof)) => {
            shared.stats().api_ok += 1;
            let response = Response::json(200, &echo(request, token, proof.claims));
            if nonce_mode {
                response.with_header("DPoP-Nonce", shared.current_nonce())
            } else {
                response
            }
        }
        Err(refusal) => {
            let algs = match shared.config.api_algs.join(" ") {
                algs if algs.is_empty() => SUPPORTED_ALGS.to_owned(),
                algs => algs,
            };
            let terse = shared.config.terse_errors && refusal.error == Some("invalid_dpop_proof");
            let mut challenge = match refusal.error {
                None => format!("DPoP algs=\"{algs}\""),
                Some(error) if terse => format!("DPoP error=\"{error}\", algs=\"{algs}\""),
                Some(error) => format!(
                    "DPoP error=\"{error}\", error_description=\"{}\", algs=\"{algs}\"",
                    refusal.description
                ),
            };
            if refusal.bearer {
                challenge.push_str(", Bearer realm=\"dpop-test-server\"");
            }
            let error = refusal.error.unwrap_or("invalid_token");
            let response = if terse {
                Response::json(401, &json!({"error": error}))
            } else {
                Response::error(401, error, &refusal.description)
            };
            let mut response = response.with_header("WWW-Authenticate", challenge);
            match error {
                "use_dpop_nonce" => {
                    shared.stats().nonce_rejections_api += 1;
                    let nonce = if shared.config.api_nonce_every_request {
                        shared.rotate_nonce()
                    } else {
                        shared.current_nonce()
                    };
                    response = response.with_header("DPoP-Nonce", nonce);
                }
                "invalid_token" => shared.stats().invalid_token_rejections += 1,
                _ if nonce_mode => response = response.with_header("DPoP-Nonce", shared.current_nonce()),
                _ => {}
            }
            response
        }
    }
}

/// Runs every check; the token claims and the proof when all pass.
fn check(
    shared: &Shared,
    request: &Request,
    url: &str,
) -> Result<(Map<String, Value>, VerifiedProof), Refusal> {
    let token = access_token(request)?;
    let now = shared.clock.now();
    let proof = proof::verify_request(request, url, now, shared.config.iat_window).map_err(invalid_proof)?;
    proof::alg_allowed(&shared.config.api_algs, &proof).map_err(invalid_proof)?;
    match proof.claim("ath") {
        None => return Err(invalid_proof("ath is missing")),
        Some(ath) if ath != sha256_b64(token.as_bytes()) => {
            return Err(invalid_proof("ath does not match the access token"))
        }
        Some(_) => {}
    }

    let claims = shared.signer.verify(token).map_err(invalid_token)?;
    let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
    if now >= exp {
        return Err(invalid_token("access token has expired"));
    }
    let jti = claims.get("jti").and_then(Value::as_str).unwrap_or_default();
    match shared.tokens().access_state(jti) {
        TokenState::Active => {}
        TokenState::Revoked => return Err(invalid_token("access token has been revoked")),
        TokenState::Unknown => return Err(invalid_token("access token is unknown")),
    }
    let jkt = claims
        .get("cnf")
        .and_then(|cnf| cnf.get("jkt"))
        .and_then(Value::as_str);
    if jkt != Some(proof.jkt.as_str()) {
        return Err(invalid_token(KEY_MISMATCH));
    }
    if shared.config.api_fault == Some(Fault::EndlessInvalidToken) {
        return Err(invalid_token("every access token is refused (fault mode)"));
    }

    if proof.claim("nonce").is_some() && !shared.issues_nonces() {
        return Err(invalid_proof(NONCE_NOT_ISSUED));
    }
    if shared.config.api_nonce_every_request {
        return Err(refuse(
            "use_dpop_nonce",
            "a fresh nonce is required on every request",
        ));
    }
    if shared.config.require_nonce_api {
        match shared.check_nonce(proof.claim("nonce")) {
            NonceCheck::Valid => {}
            NonceCheck::Missing => return Err(refuse("use_dpop_nonce", "nonce is missing")),
            NonceCheck::Stale => return Err(refuse("use_dpop_nonce", "nonce is stale")),
        }
    }
    if !shared.use_jti(&proof.jti, proof.iat, now) {
        return Err(invalid_proof("jti has been used before"));
    }
    Ok((claims, proof))
}

/// The access token of `Authorization: DPoP <token>`.
fn access_token(request: &Request) -> Result<&str, Refusal> {
    let mut values = request.header_values("authorization");
    let value = values.next().ok_or(Refusal {
        error: None,
        description: "missing Authorization header".into(),
        bearer: false,
    })?;
    if values.next().is_some() {
        return Err(invalid_token("more than one Authorization header"));
    }
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let token = token.trim_start_matches(' ');
    if scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refusal {
            bearer: true,
            ..invalid_token("Authorization scheme is Bearer, DPoP is required")
        });
    }
    if !scheme.eq_ignore_ascii_case("dpop") {
        return Err(invalid_token("Authorization scheme is not DPoP"));
    }
    if token.is_empty() || token.contains([' ', ',']) {
        return Err(invalid_token("access token is missing or malformed"));
    }
    Ok(token)
}

/// The body of a 200 answer: what the server saw.
fn echo(request: &Request, token: Map<String, Value>, proof: Map<String, Value>) -> Value {
    let mut headers = Map::new();
    for (name, value) in &request.headers {
        let name = name.to_ascii_lowercase();
        if SENSITIVE_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let joined = match headers.get(&name).and_then(Value::as_str) {
            Some(before) => format!("{before}, {value}"),
            None => value.clone(),
        };
        headers.insert(name, Value::String(joined));
    }
    json!({
        "ok": true,
        "method": request.method,
        "path": request.path,
        "query": request.query.as_deref().unwrap_or_default(),
        "body": String::from_utf8_lossy(&request.body),
        "headers": headers,
        "token": token,
        "proof": proof,
    })
}
