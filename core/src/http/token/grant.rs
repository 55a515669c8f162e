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
    Code(&'a CodeExchange<'a>),
}

/// What the authorization_code grant sends besides the client's authentication (RFC 6749
/// §4.1.3, RFC 7636 §4.5).
pub(crate) struct CodeExchange<'a> {
    pub(crate) code: &'a str,
    pub(crate) code_verifier: &'a str,
    /// As sent in the authorization request, with the port the listener was bound to.
    pub(crate) redirect_uri: &'a str,
}

/// A new token: the refresh_token grant when a refresh token is at hand (the latest one
/// issued, else one the settings give), falling back to the configured grant if the server
/// refuses it and the settings have one; else the configured grant. Under the authorization
/// code flow, only a refresh token can give a token without the user: without one (or when
/// the server refuses it) the error is `SignInRequired`.
pub(crate) fn fetch(cx: &GrantContext<'_>, refresh_token: Option<Zeroizing<String>>) -> Result<AccessToken> {
    if let GrantType::AuthorizationCode(_) = &cx.settings.grant {
        let Some(rt) = refresh_token else {
            return Err(Error::new(
                ErrorKind::SignInRequired,
                "there is no access token yet and no refresh token: the user must sign in first",
            ));
        };
        return grant(cx, Which::Refresh(&rt)).map(|(token, _)| token);
    }
    let given = match &cx.settings.grant {
        GrantType::RefreshToken(rt) => Some(rt.clone()),
        _ => None,
    };
    let only_refresh = given.is_some();
    if let Some(rt) = refresh_token.or(given) {
        match grant(cx, Which::Refresh(&rt)) {
            Ok((token, _)) => return Ok(token),
            Err(e) if e.kind() == ErrorKind::TokenEndpoint && !only_refresh => {}
            Err(e) => return Err(e),
        }
    }
    grant(cx, Which::Configured).map(|(token, _)| token)
}

/// The authorization_code grant of a sign-in: the token, and the `id_token` the response
/// carried, if any.
pub(crate) fn exchange_code(
    cx: &GrantContext<'_>,
    code: &CodeExchange<'_>,
) -> Result<(AccessToken, Option<Zeroizing<String>>)> {
    grant(cx, Which::Code(code))
}

/// One grant, with its retries: the token and the response's `id_token`.
fn grant(cx: &GrantContext<'_>, which: Which<'_>) -> Result<(AccessToken, Option<Zeroizing<String>>)> {
    let settings = cx.settings;
    let what = match which {
        Which::Refresh(_) => "refresh_token",
        Which::Configured => settings.grant.name(),
        Which::Code(_) => super::auth_token::AUTHORIZATION_CODE,
    };
    let params = grant_params(settings, which);
    let mut secrets: Vec<&str> = Vec::new();
    match which {
        Which::Refresh(rt) => secrets.push(rt),
        Which::Code(c) => secrets.extend([c.code, c.code_verifier]),
        Which::Configured => {}
    }
    // A refresh token refused under the authorization code flow leaves only the user.
    let sign_in_flow = matches!(settings.grant, GrantType::AuthorizationCode(_));
    let post = Post {
        url: cx.token_endpoint,
        what: &format!("the {what} grant"),
        params: &params,
        secrets: &secrets,
        max_body: MAX_TOKEN_RESPONSE,
        invalid_grant: (sign_in_flow && matches!(which, Which::Refresh(_)))
            .then_some(ErrorKind::SignInRequired),
    };
    let mut response = post_form(cx, &post)?;
    let parsed = AccessToken::from_response(&response.body, cx.accept_bearer, cx.clock.now());
    let id_token = match (parsed.is_ok(), which) {
        (true, Which::Code(_)) => super::id_token(&response.body),
        _ => None,
    };
    // The body held the new token (and perhaps a refresh token).
    response.body.zeroize();
    let mut token = parsed?;
    if let (None, Which::Refresh(rt)) = (&token.refresh_token, which) {
        // RFC 6749 §6: without a new refresh token the old one stays valid.
        token.refresh_token = Some(Zeroizing::new(rt.to_string()));
    }
    Ok((token, id_token))
}

/// A form POST to an endpoint of the authorization server that authenticates the client: a
/// grant at the token endpoint, or a pushed authorization request (RFC 9126).
pub(crate) struct Post<'a> {
    pub(crate) url: &'a str,
    /// What the request is, for error texts: "the refresh_token grant".
    pub(crate) what: &'a str,
    /// The parameters besides the client's authentication.
    pub(crate) params: &'a [(&'a str, &'a str)],
    /// Strings of the request that must never reach the log or an error text, besides the
    /// settings' secrets, the client assertion and the Basic credential.
    pub(crate) secrets: &'a [&'a str],
    pub(crate) max_body: u64,
    /// The error kind of an `invalid_grant` answer, when it is not `TokenEndpoint`.
    pub(crate) invalid_grant: Option<ErrorKind>,
}

/// Sends `post` with a fresh DPoP proof and the client's authentication (a fresh assertion for
/// every attempt), with one retry each for a nonce demand, a short `Retry-After` and a proof
/// rejected for its time; the successful (2xx) response, else the error.
pub(crate) fn post_form(cx: &GrantContext<'_>, post: &Post<'_>) -> Result<Response> {
    let settings = cx.settings;
    let target = Target::new(post.url, cx.allow_insecure_http)?;
    let what = post.what;
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
        let (body, basic) = form(
            settings,
            post.params,
            client_assertion.as_deref().map(String::as_str),
        );
        let mut headers = vec![
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
        ];
        if let Some(basic) = &basic {
            headers.push(("Authorization", basic.as_str()));
        }
        let mut secrets: Vec<&str> = settings.secrets();
        secrets.extend_from_slice(post.secrets);
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
            max_body: post.max_body,
            deadline: cx.deadline,
            proof: true,
            cancel: cx.cancel,
        };
        let response = (cx.send)(&exchange)?;
        if response.is_success() {
            return Ok(response);
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
                    "{what} at {}: the server demanded a new DPoP nonce again right after a retry with its nonce",
                    redact::url(post.url)
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
                    "{what} at {} failed: {}. {}",
                    redact::url(post.url),
                    describe_error(response.status, &response.body, &secrets),
                    diagnose::rejected_proof(
                        &response,
                        &diagnose::Known {
                            url: post.url,
                            server_algs: cx.server_algs,
                            token: None,
                            secrets: &secrets,
                            clock_correction: settings.clock_correction,
                        }
                    )
                ),
            ));
        }
        let kind = match (code.as_deref(), post.invalid_grant) {
            (Some("invalid_grant"), Some(kind)) => kind,
            _ => ErrorKind::TokenEndpoint,
        };
        let hint = if kind == ErrorKind::SignInRequired {
            ": the user must sign in again"
        } else {
            ""
        };
        return Err(Error::new(
            kind,
            format!(
                "{what} at {} failed: {}{hint}",
                redact::url(post.url),
                describe_error(response.status, &response.body, &secrets)
            ),
        ));
    }
}

/// The parameters of a grant besides the client's authentication.
fn grant_params<'a>(settings: &'a AuthToken, which: Which<'a>) -> Vec<(&'a str, &'a str)> {
    let mut params: Vec<(&str, &str)> = Vec::new();
    match (which, &settings.grant) {
        (Which::Refresh(rt), _) => {
            params.extend([("grant_type", "refresh_token"), ("refresh_token", rt)]);
        }
        (Which::Code(c), _) => {
            params.extend([
                ("grant_type", super::auth_token::AUTHORIZATION_CODE),
                ("code", c.code),
                ("redirect_uri", c.redirect_uri),
                ("code_verifier", c.code_verifier),
            ]);
        }
        (
            Which::Configured,
            GrantType::ClientCredentials | GrantType::RefreshToken(_) | GrantType::AuthorizationCode(_),
        ) => {
            params.push(("grant_type", "client_credentials"));
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
            params.extend([
                ("grant_type", settings.grant.name()),
                ("subject_token", subject_token.as_str()),
                ("subject_token_type", subject_token_type.as_str()),
            ]);
            if let (Some(token), Some(kind)) = (actor_token, actor_token_type) {
                params.extend([
                    ("actor_token", token.as_str()),
                    ("actor_token_type", kind.as_str()),
                ]);
            }
            if let Some(kind) = requested_token_type {
                params.push(("requested_token_type", kind));
            }
        }
        (Which::Configured, GrantType::JwtBearer { assertion }) => {
            params.extend([
                ("grant_type", settings.grant.name()),
                ("assertion", assertion.as_str()),
            ]);
        }
    }
    // The scope of a code is the one the user granted in the authorization request.
    if let (Some(scope), false) = (&settings.scope, matches!(which, Which::Code(_))) {
        params.push(("scope", scope));
    }
    if let Some(audience) = &settings.audience {
        params.push(("audience", audience));
    }
    for resource in &settings.resources {
        params.push(("resource", resource));
    }
    for (name, value) in &settings.extra_params {
        params.push((name, value));
    }
    params
}

/// The form body of `params` with the client's authentication, and the `Authorization: Basic`
/// value for client_secret_basic.
fn form(
    settings: &AuthToken,
    params: &[(&str, &str)],
    client_assertion: Option<&str>,
) -> (Zeroizing<String>, Option<Zeroizing<String>>) {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        form.append_pair(name, value);
    }
    // A pushed authorization request names the client among its parameters already.
    let client_id = |form: &mut url::form_urlencoded::Serializer<'_, String>| {
        if !params.iter().any(|(name, _)| *name == "client_id") {
            form.append_pair("client_id", &settings.client_id);
        }
    };
    let mut basic = None;
    match &settings.client_auth {
        ClientAuth::SecretPost(secret) => {
            client_id(&mut form);
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
            client_id(&mut form);
            form.append_pair("client_assertion_type", assertion::ASSERTION_TYPE);
            form.append_pair("client_assertion", client_assertion.unwrap_or_default());
        }
        ClientAuth::None => client_id(&mut form),
    }
    (Zeroizing::new(form.finish()), basic)
}
