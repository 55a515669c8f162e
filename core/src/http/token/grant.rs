//! The grants at the token endpoint: client_credentials, and refresh_token when the token
//! being replaced has a refresh token. Each builds its form with the client's authentication,
//! sends it with a DPoP proof, and is retried once when the server asks for a nonce.

use super::{describe_error, error_code, AccessToken, AuthMethod, AuthToken};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::http::exchange::{Exchange, Target};
use crate::http::{challenge, Response};
use crate::redact;
use base64ct::{Base64, Encoding};
use std::sync::Arc;
use zeroize::{Zeroize, Zeroizing};

/// Token responses are small; anything larger is not one.
const MAX_TOKEN_RESPONSE: u64 = 1 << 20;

/// What a grant needs from the client that runs it.
pub(crate) struct GrantContext<'a> {
    pub(crate) settings: &'a AuthToken,
    pub(crate) accept_bearer: bool,
    pub(crate) allow_insecure_http: bool,
    pub(crate) clock: &'a dyn Clock,
    /// When the request that needs the token must be done.
    pub(crate) deadline: std::time::Instant,
    /// Sends one request (with a fresh proof carrying the origin's latest nonce) and learns
    /// the nonce of its answer.
    pub(crate) send: &'a dyn Fn(&Exchange<'_>) -> Result<Response>,
}

/// A new token to replace `old`: the refresh_token grant when `old` has a refresh token
/// (falling back to client_credentials if the server refuses it), else client_credentials.
pub(crate) fn fetch(cx: &GrantContext<'_>, old: Option<Arc<AccessToken>>) -> Result<AccessToken> {
    if let Some(refresh) = old.as_ref().and_then(|t| t.refresh_token.as_ref()) {
        match grant(cx, Some(refresh)) {
            Ok(token) => return Ok(token),
            Err(e) if e.kind() == ErrorKind::TokenEndpoint => {}
            Err(e) => return Err(e),
        }
    }
    grant(cx, None)
}

/// One grant, with one retry when the token endpoint asks for a DPoP nonce.
fn grant(cx: &GrantContext<'_>, refresh_token: Option<&Zeroizing<String>>) -> Result<AccessToken> {
    let settings = cx.settings;
    let target = Target::new(&settings.token_endpoint, cx.allow_insecure_http)?;
    let (body, basic) = form(settings, refresh_token);
    let mut headers = vec![
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "application/json"),
    ];
    if let Some(basic) = &basic {
        headers.push(("Authorization", basic.as_str()));
    }
    let mut secrets: Vec<&str> = vec![settings.client_secret.as_str()];
    secrets.extend(refresh_token.map(|rt| rt.as_str()));
    // The Basic credential, should a server echo the header back.
    secrets.extend(basic.as_deref().and_then(|b| b.strip_prefix("Basic ")));
    let exchange = Exchange {
        method: "POST",
        target: &target,
        token: None,
        headers: &headers,
        body: body.as_bytes(),
        secrets: &secrets,
        max_body: MAX_TOKEN_RESPONSE,
        deadline: cx.deadline,
    };
    let what = if refresh_token.is_some() {
        "refresh_token"
    } else {
        "client_credentials"
    };
    let mut nonce_retried = false;
    loop {
        let mut response = (cx.send)(&exchange)?;
        if response.is_success() {
            let parsed = AccessToken::from_response(&response.body, cx.accept_bearer, cx.clock.now());
            // The body held the new token (and perhaps a refresh token).
            response.body.zeroize();
            let mut token = parsed?;
            if token.refresh_token.is_none() {
                // RFC 6749 §6: without a new refresh token the old one stays valid.
                token.refresh_token = refresh_token.cloned();
            }
            return Ok(token);
        }
        let wants_nonce = error_code(&response.body).as_deref() == Some("use_dpop_nonce")
            || challenge::dpop_error(response.header_values("www-authenticate")).as_deref()
                == Some("use_dpop_nonce");
        if wants_nonce && response.header("dpop-nonce").is_some() {
            if !nonce_retried {
                nonce_retried = true;
                continue;
            }
            return Err(Error::new(
                ErrorKind::NonceRejected,
                format!(
                    "the token endpoint {} demanded a new DPoP nonce again right after a retry with its nonce",
                    redact::url(&settings.token_endpoint)
                ),
            ));
        }
        return Err(Error::new(
            ErrorKind::TokenEndpoint,
            format!(
                "the {what} grant at {} failed: {}",
                redact::url(&settings.token_endpoint),
                describe_error(response.status, &response.body, &secrets)
            ),
        ));
    }
}

/// The grant's form body, and the `Authorization: Basic` value for client_secret_basic.
fn form(
    settings: &AuthToken,
    refresh_token: Option<&Zeroizing<String>>,
) -> (Zeroizing<String>, Option<Zeroizing<String>>) {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    match refresh_token {
        Some(rt) => form
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", rt),
        None => form.append_pair("grant_type", "client_credentials"),
    };
    if let Some(scope) = &settings.scope {
        form.append_pair("scope", scope);
    }
    if let Some(audience) = &settings.audience {
        form.append_pair("audience", audience);
    }
    for resource in &settings.resources {
        form.append_pair("resource", resource);
    }
    for (name, value) in &settings.extra_params {
        form.append_pair(name, value);
    }
    let basic = match settings.auth_method {
        AuthMethod::ClientSecretPost => {
            form.append_pair("client_id", &settings.client_id);
            form.append_pair("client_secret", &settings.client_secret);
            None
        }
        AuthMethod::ClientSecretBasic => {
            let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = Zeroizing::new(format!(
                "{}:{}",
                encode(&settings.client_id),
                Zeroizing::new(encode(&settings.client_secret)).as_str()
            ));
            Some(Zeroizing::new(format!(
                "Basic {}",
                Base64::encode_string(pair.as_bytes())
            )))
        }
    };
    (Zeroizing::new(form.finish()), basic)
}
