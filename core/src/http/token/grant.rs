//! The grants at the token endpoint: the configured one (client_credentials, token exchange,
//! JWT bearer, or a refresh token the host gave), and refresh_token whenever a refresh token
//! is at hand. Each attempt builds its form anew, with a fresh client assertion when the client
//! authenticates with a JWT, and is sent with a fresh DPoP proof. One retry each: when the
//! server asks for a nonce, when it asks to come back after `Retry-After`, and when it rejects
//! the proof's time and the server's clock is now known better.

use super::auth_token::{ClientAuth, GrantType};
use super::{assertion, describe_error, error_code, AccessToken, AuthToken};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::http::cancel::Cancel;
use crate::http::exchange::{Exchange, Target};
use crate::http::{challenge, diagnose, retry, skew, Response};
use crate::key::Key;
use crate::redact;
use base64ct::{Base64, Encoding};
use std::sync::Arc;
use zeroize::{Zeroize, Zeroizing};

/// Token responses are small; anything larger is not one.
const MAX_TOKEN_RESPONSE: u64 = 1 << 20;

/// What a grant needs from the client that runs it.
pub(crate) struct GrantContext<'a> {
    pub(crate) settings: &'a AuthToken,
    /// The token endpoint: the settings' own, or the issuer's metadata's.
    pub(crate) token_endpoint: &'a str,
    /// The `aud` of client assertions: the issuer when known, else the token endpoint.
    pub(crate) audience: &'a str,
    /// The algorithms the server's metadata lists for DPoP proofs, for diagnostics.
    pub(crate) server_algs: Option<&'a [String]>,
    pub(crate) dpop_key: Option<Arc<Key>>,
    pub(crate) accept_bearer: bool,
    pub(crate) allow_insecure_http: bool,
    pub(crate) clock: &'a dyn Clock,
    /// When the request that needs the token must be done.
    pub(crate) deadline: std::time::Instant,
    /// The cancel flag of the request that needs the token.
    pub(crate) cancel: &'a Cancel,
    /// Sends one request (with a fresh proof carrying the origin's latest nonce) and learns
    /// the nonce and the clock of its answer.
    pub(crate) send: &'a dyn Fn(&Exchange<'_>) -> Result<Response>,
    /// The seconds to add to this computer's clock for an origin (see `Client::time_correction`).
    pub(crate) correction: &'a dyn Fn(&str) -> i64,
}

/// Which form an attempt sends.
#[derive(Clone, Copy)]
enum Which<'a> {
    Refresh(&'a str),
    Configured,
}

/// A new token: the refresh_token grant when a refresh token is at hand (the latest one
/// issued, else one the settings give), falling back to the configured grant if the server
/// refuses it and the settings have one; else the configured grant.
pub(crate) fn fetch(cx: &GrantContext<'_>, refresh_token: Option<Zeroizing<String>>) -> Result<AccessToken> {
    let given = match &cx.settings.grant {
        GrantType::RefreshToken(rt) => Some(rt.clone()),
        _ => None,
    };
    let only_refresh = given.is_some();
    if let Some(rt) = refresh_token.or(given) {
        match grant(cx, Which::Refresh(&rt)) {
            Ok(token) => return Ok(token),
            Err(e) if e.kind() == ErrorKind::TokenEndpoint && !only_refresh => {}
            Err(e) => return Err(e),
        }
    }
    grant(cx, Which::Configured)
}

/// One grant, with its retries.
fn grant(cx: &GrantContext<'_>, which: Which<'_>) -> Result<AccessToken> {
    let settings = cx.settings;
    let target = Target::new(cx.token_endpoint, cx.allow_insecure_http)?;
    let what = match which {
        Which::Refresh(_) => "refresh_token",
        Which::Configured => settings.grant.name(),
    };
    let mut nonce_retried = false;
    let mut waited = false;
    let mut clock_retried = false;
    loop {
        let now = skew::unix_now().saturating_add((cx.correction)(&target.origin));
        let client_assertion = assertion::make(
            settings,
            cx.audience,
            cx.dpop_key.as_deref(),
            u64::try_from(now).unwrap_or(0),
        )?;
        let (body, basic) = form(settings, which, client_assertion.as_deref().map(String::as_str));
        let mut headers = vec![
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
        ];
        if let Some(basic) = &basic {
            headers.push(("Authorization", basic.as_str()));
        }
        let mut secrets: Vec<&str> = settings.secrets();
        if let Which::Refresh(rt) = which {
            secrets.push(rt);
        }
        secrets.extend(client_assertion.as_deref().map(String::as_str));
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
            proof: true,
            cancel: cx.cancel,
        };
        let mut response = (cx.send)(&exchange)?;
        if response.is_success() {
            let parsed = AccessToken::from_response(&response.body, cx.accept_bearer, cx.clock.now());
            // The body held the new token (and perhaps a refresh token).
            response.body.zeroize();
            let mut token = parsed?;
            if let (None, Which::Refresh(rt)) = (&token.refresh_token, which) {
                // RFC 6749 §6: without a new refresh token the old one stays valid.
                token.refresh_token = Some(Zeroizing::new(rt.to_string()));
            }
            return Ok(token);
        }
        if !waited {
            if let Some(wait) = retry::after(&response, settings.retry_after_max, cx.deadline) {
                waited = true;
                cx.cancel.sleep(wait)?;
                continue;
            }
        }
        let code = error_code(&response.body);
        let wants_nonce = code.as_deref() == Some("use_dpop_nonce")
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
                    redact::url(cx.token_endpoint)
                ),
            ));
        }
        if code.as_deref() == Some("invalid_dpop_proof") {
            let sent = response.proof.as_ref().map_or(0, |p| p.correction);
            if !clock_retried && (cx.correction)(&target.origin) != sent {
                // The answer taught the server's clock: once more with its time.
                clock_retried = true;
                continue;
            }
            return Err(Error::new(
                ErrorKind::ProofRejected,
                format!(
                    "the {what} grant at {} failed: {}. {}",
                    redact::url(cx.token_endpoint),
                    describe_error(response.status, &response.body, &secrets),
                    diagnose::rejected_proof(
                        &response,
                        &diagnose::Known {
                            url: cx.token_endpoint,
                            server_algs: cx.server_algs,
                            token: None,
                            secrets: &secrets,
                            clock_correction: settings.clock_correction,
                        }
                    )
                ),
            ));
        }
        return Err(Error::new(
            ErrorKind::TokenEndpoint,
            format!(
                "the {what} grant at {} failed: {}",
                redact::url(cx.token_endpoint),
                describe_error(response.status, &response.body, &secrets)
            ),
        ));
    }
}

/// The grant's form body, and the `Authorization: Basic` value for client_secret_basic.
fn form(
    settings: &AuthToken,
    which: Which<'_>,
    client_assertion: Option<&str>,
) -> (Zeroizing<String>, Option<Zeroizing<String>>) {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    match (which, &settings.grant) {
        (Which::Refresh(rt), _) => {
            form.append_pair("grant_type", "refresh_token")
                .append_pair("refresh_token", rt);
        }
        (Which::Configured, GrantType::ClientCredentials | GrantType::RefreshToken(_)) => {
            form.append_pair("grant_type", "client_credentials");
        }
        (
            Which::Configured,
            GrantType::TokenExchange {
                subject_token,
                subject_token_type,
                actor_token,
                actor_token_type,
                requested_token_type,
            },
        ) => {
            form.append_pair("grant_type", settings.grant.name())
                .append_pair("subject_token", subject_token)
                .append_pair("subject_token_type", subject_token_type);
            if let (Some(token), Some(kind)) = (actor_token, actor_token_type) {
                form.append_pair("actor_token", token)
                    .append_pair("actor_token_type", kind);
            }
            if let Some(kind) = requested_token_type {
                form.append_pair("requested_token_type", kind);
            }
        }
        (Which::Configured, GrantType::JwtBearer { assertion }) => {
            form.append_pair("grant_type", settings.grant.name())
                .append_pair("assertion", assertion);
        }
    }
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
    let mut basic = None;
    match &settings.client_auth {
        ClientAuth::SecretPost(secret) => {
            form.append_pair("client_id", &settings.client_id);
            form.append_pair("client_secret", secret);
        }
        ClientAuth::SecretBasic(secret) => {
            let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = Zeroizing::new(format!(
                "{}:{}",
                encode(&settings.client_id),
                Zeroizing::new(encode(secret)).as_str()
            ));
            basic = Some(Zeroizing::new(format!(
                "Basic {}",
                Base64::encode_string(pair.as_bytes())
            )));
        }
        ClientAuth::SecretJwt(_) | ClientAuth::PrivateKeyJwt { .. } => {
            form.append_pair("client_id", &settings.client_id);
            form.append_pair("client_assertion_type", assertion::ASSERTION_TYPE);
            form.append_pair("client_assertion", client_assertion.unwrap_or_default());
        }
        ClientAuth::None => {
            form.append_pair("client_id", &settings.client_id);
        }
    }
    (Zeroizing::new(form.finish()), basic)
}
