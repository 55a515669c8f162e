//! The grants of the token endpoint, for a client already authenticated and a proof already
//! checked: client_credentials, refresh_token (DPoP-bound, rotating), token exchange
//! (RFC 8693) and JWT bearer (RFC 7523 §2.1). Each issues an access token bound to the proof's
//! key (RFC 9449 §5).

use crate::client_auth::Authenticated;
use crate::config::IdTokenFault;
use crate::http::Response;
use crate::jws::{sha256_b64, Alg, Compact, PublicJwk};
use crate::proof::VerifiedProof;
use crate::state::Shared;
use crate::token::RefreshGrant;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The token exchange grant type (RFC 8693 §2.1).
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The JWT bearer grant type (RFC 7523 §2.1).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The token type the token exchange issues (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

type Form = HashMap<String, String>;

fn invalid_request(description: &str) -> Response {
    Response::error(400, "invalid_request", description)
}

fn invalid_grant(description: &str) -> Response {
    Response::error(400, "invalid_grant", description)
}

/// Answers the grant of `form`.
pub fn grant(
    shared: &Shared,
    client: &Authenticated,
    form: &Form,
    proof: &VerifiedProof,
) -> Result<Response, Response> {
    let scope = form.get("scope").cloned();
    let (body, counter): (Value, fn(&mut crate::Stats) -> &mut u64) =
        match form.get("grant_type").map(String::as_str) {
            None => return Err(invalid_request("grant_type is missing")),
            Some("client_credentials") if client.public => {
                return Err(Response::error(
                    400,
                    "unauthorized_client",
                    "client_credentials is for confidential clients",
                ))
            }
            Some("client_credentials") => (
                issue(
                    shared,
                    &client.id,
                    proof,
                    scope,
                    shared.config.issue_refresh_tokens,
                ),
                |s| &mut s.client_credentials_grants,
            ),
            Some("refresh_token") => (refresh(shared, client, form, proof)?, |s| &mut s.refresh_grants),
            Some("authorization_code") => (authorization_code(shared, client, form, proof)?, |s| {
                &mut s.authorization_code_grants
            }),
            Some(TOKEN_EXCHANGE) => (token_exchange(shared, client, form, proof)?, |s| {
                &mut s.token_exchange_grants
            }),
            Some(JWT_BEARER) => (jwt_bearer(shared, client, form, proof)?, |s| {
                &mut s.jwt_bearer_grants
            }),
            Some(_) => {
                return Err(Response::error(
                    400,
                    "unsupported_grant_type",
                    "grant_type is not client_credentials, refresh_token, authorization_code, \
                     token-exchange or jwt-bearer",
                ))
            }
        };
    *counter(&mut shared.stats()) += 1;
    Ok(Response::json(200, &body))
}

/// The refresh_token grant: the token must be live, the client's, and bound to the proof's key;
/// under `rotate_refresh_tokens` it is used up and replaced by a new one, else it stays valid
/// and the answer has none.
fn refresh(
    shared: &Shared,
    client: &Authenticated,
    form: &Form,
    proof: &VerifiedProof,
) -> Result<Value, Response> {
    let refresh_token = form
        .get("refresh_token")
        .ok_or_else(|| invalid_request("refresh_token is missing"))?;
    let rotate = shared.config.rotate_refresh_tokens;
    let grant = {
        // One lock for the check and the removal, so two requests cannot both use it.
        let mut tokens = shared.tokens();
        let grant = tokens
            .refresh(refresh_token)
            .cloned()
            .ok_or_else(|| invalid_grant("refresh token is unknown or already used"))?;
        if grant.client_id != client.id {
            return Err(invalid_grant("refresh token was issued to another client"));
        }
        if grant.jkt != proof.jkt {
            return Err(invalid_grant("refresh token is bound to another DPoP key"));
        }
        if rotate {
            tokens.remove_refresh(refresh_token);
        }
        grant
    };
    let scope = form.get("scope").cloned().or(grant.scope);
    Ok(issue(shared, &client.id, proof, scope, rotate))
}

/// The authorization_code grant (RFC 6749 §4.1.3): the code is used up at once, whatever
/// follows; it must be live and the client's, `redirect_uri` identical to the authorization
/// request's, `code_verifier` its S256 PKCE verifier (RFC 7636 §4.6), and the proof's key the
/// one the code is bound to (`dpop_jkt` or the PAR proof's key, RFC 9449 §10). The answer has
/// an access token and a refresh token bound to that key, and an `id_token` when the scope
/// has `openid`.
fn authorization_code(
    shared: &Shared,
    client: &Authenticated,
    form: &Form,
    proof: &VerifiedProof,
) -> Result<Value, Response> {
    let code = form
        .get("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| invalid_request("code is missing"))?;
    let grant = shared
        .codes()
        .remove(code)
        .ok_or_else(|| invalid_grant("code is unknown or already used"))?;
    if grant.expires <= shared.clock.now() {
        return Err(invalid_grant("code has expired"));
    }
    if grant.client_id != client.id {
        return Err(invalid_grant("code was issued to another client"));
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return Err(invalid_grant(
            "redirect_uri is not the one of the authorization request",
        ));
    }
    let verifier = form
        .get("code_verifier")
        .ok_or_else(|| invalid_grant("code_verifier is missing (PKCE)"))?;
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    if !(43..=128).contains(&verifier.len()) || !verifier.bytes().all(unreserved) {
        return Err(invalid_grant(
            "code_verifier is not 43 to 128 unreserved characters (RFC 7636 §4.1)",
        ));
    }
    if sha256_b64(verifier.as_bytes()) != grant.code_challenge {
        return Err(invalid_grant(
            "code_verifier does not match the code_challenge (PKCE)",
        ));
    }
    if grant.jkt.as_ref().is_some_and(|jkt| *jkt != proof.jkt) {
        return Err(invalid_grant(
            "the DPoP proof's key is not the one the code is bound to (dpop_jkt)",
        ));
    }
    let mut body = issue(shared, &client.id, proof, grant.scope.clone(), true);
    let openid = grant
        .scope
        .as_deref()
        .is_some_and(|s| s.split(' ').any(|x| x == "openid"));
    if openid && shared.config.id_token_fault != Some(IdTokenFault::Missing) {
        body["id_token"] = json!(id_token(shared, &client.id, grant.nonce.as_deref()));
    }
    Ok(body)
}

/// The ID token of a code grant, broken as [`Config::id_token_fault`] says.
///
/// [`Config::id_token_fault`]: crate::Config::id_token_fault
fn id_token(shared: &Shared, client_id: &str, nonce: Option<&str>) -> String {
    let fault = shared.config.id_token_fault;
    let now = shared.clock.now();
    let mut claims = json!({
        "iss": if fault == Some(IdTokenFault::WrongIssuer) { "https://other-issuer.example" } else { shared.issuer.as_str() },
        "sub": "user-1",
        "aud": if fault == Some(IdTokenFault::WrongAudience) { "another-client" } else { client_id },
        "iat": now,
        "exp": now + 300,
        "auth_time": now,
    });
    match (nonce, fault) {
        (Some(_), Some(IdTokenFault::WrongNonce)) => claims["nonce"] = json!("a-nonce-of-another-sign-in"),
        (Some(nonce), _) => claims["nonce"] = json!(nonce),
        (None, _) => {}
    }
    shared.signer.mint_id_token(&claims)
}

/// The token exchange grant: `subject_token` and `subject_token_type` required, an
/// `actor_token` needs its `actor_token_type`; the answer names its `issued_token_type`.
fn token_exchange(
    shared: &Shared,
    client: &Authenticated,
    form: &Form,
    proof: &VerifiedProof,
) -> Result<Value, Response> {
    for required in ["subject_token", "subject_token_type"] {
        if missing(form, required) {
            return Err(invalid_request(&format!("{required} is missing")));
        }
    }
    if form.contains_key("actor_token") && missing(form, "actor_token_type") {
        return Err(invalid_request("actor_token_type is missing"));
    }
    if form.contains_key("actor_token_type") && !form.contains_key("actor_token") {
        return Err(invalid_request("actor_token_type without actor_token"));
    }
    match form.get("requested_token_type").map(String::as_str) {
        None | Some(ACCESS_TOKEN_TYPE) => {}
        Some(_) => {
            return Err(invalid_request(
                "requested_token_type is not urn:ietf:params:oauth:token-type:access_token",
            ))
        }
    }
    let mut body = issue(shared, &client.id, proof, form.get("scope").cloned(), false);
    body["issued_token_type"] = json!(ACCESS_TOKEN_TYPE);
    Ok(body)
}

/// The JWT bearer grant: `assertion` must be [`Config::jwt_bearer_assertion`] exactly, or a
/// JWT signed by [`Config::jwt_bearer_jwk`] whose `exp`, if any, has not passed.
///
/// [`Config::jwt_bearer_assertion`]: crate::Config::jwt_bearer_assertion
/// [`Config::jwt_bearer_jwk`]: crate::Config::jwt_bearer_jwk
fn jwt_bearer(
    shared: &Shared,
    client: &Authenticated,
    form: &Form,
    proof: &VerifiedProof,
) -> Result<Value, Response> {
    let assertion = form
        .get("assertion")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid_request("assertion is missing"))?;
    let config = &shared.config;
    let exact = config.jwt_bearer_assertion.as_deref() == Some(assertion.as_str());
    let signed = || -> Option<bool> {
        let jws = Compact::split(assertion).ok()?;
        let key = PublicJwk::parse(
            Alg::from_name(jws.header_str("alg")?)?,
            config.jwt_bearer_jwk.as_ref()?,
        )
        .ok()?;
        let exp = jws.payload()?.get("exp").map(Value::as_u64);
        let live = match exp {
            None => true,
            Some(exp) => exp.is_some_and(|exp| exp > shared.clock.now()),
        };
        Some(live && jws.verifies(&key))
    };
    if !exact && signed() != Some(true) {
        return Err(invalid_grant("assertion is not accepted"));
    }
    Ok(issue(
        shared,
        &client.id,
        proof,
        form.get("scope").cloned(),
        false,
    ))
}

/// Whether a form parameter is absent or empty.
fn missing(form: &Form, name: &str) -> bool {
    form.get(name).map_or(true, String::is_empty)
}

/// The body of a token response: an access token bound to the proof's key, and a refresh
/// token (bound to the same key) when `refresh`.
fn issue(
    shared: &Shared,
    client_id: &str,
    proof: &VerifiedProof,
    scope: Option<String>,
    refresh: bool,
) -> Value {
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
    if refresh {
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
    body
}
