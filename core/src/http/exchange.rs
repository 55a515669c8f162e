//! One request/response of the client: a fresh proof with the origin's latest nonce, the
//! access token, the nonce learned from the answer, and the session log entry.

use super::cancel::Cancel;
use super::log::LoggedRequest;
use super::response::SentProof;
use super::skew;
use super::token::{check_fapi2_alg, AccessToken, Profile};
use super::transport::{self, Transport};
use super::{Client, Response};
use crate::error::{Error, ErrorKind, Result};
use crate::Proof;
use std::sync::Arc;
use zeroize::Zeroizing;

/// A request URL that passed the transport policy, and its origin (which keys its nonce).
pub(crate) struct Target<'a> {
    pub(crate) url: &'a str,
    pub(crate) origin: String,
}

impl<'a> Target<'a> {
    /// Checks `url` against the policy: absolute http(s), plain http only to loopback unless
    /// `allow_insecure_http`.
    pub(crate) fn new(url: &'a str, allow_insecure_http: bool) -> Result<Self> {
        let parsed = transport::check_url(url, allow_insecure_http)?;
        Ok(Self {
            url,
            origin: parsed.origin().ascii_serialization(),
        })
    }
}

/// One request as the client sends it.
pub(crate) struct Exchange<'a> {
    pub(crate) method: &'a str,
    pub(crate) target: &'a Target<'a>,
    /// The access token to send (and bind the proof to), if any.
    pub(crate) token: Option<&'a AccessToken>,
    /// Extra headers, already checked.
    pub(crate) headers: &'a [(&'a str, &'a str)],
    pub(crate) body: &'a [u8],
    /// Strings the session log must hide besides the token, the proof and the client secret
    /// (a grant's refresh token, say).
    pub(crate) secrets: &'a [&'a str],
    /// The largest response body accepted.
    pub(crate) max_body: u64,
    /// When the whole request (token fetch and retries included) must be done.
    pub(crate) deadline: std::time::Instant,
    /// Whether the request carries a DPoP proof (all but metadata requests do).
    pub(crate) proof: bool,
    /// The call's cancel flag: looked at before the exchange, and lent to its connection.
    pub(crate) cancel: &'a Cancel,
}

impl Client {
    /// Sends `request` once over `transport`, unless the call was cancelled.
    pub(crate) fn exchange(&self, transport: &Transport, request: &Exchange<'_>) -> Result<Response> {
        let Exchange {
            method,
            target,
            token,
            cancel,
            ..
        } = *request;
        cancel.check()?;
        let key = self.key.read().clone();
        let settings = self.auth_token.read().clone();
        let needs_proof = request.proof && token.is_none_or(AccessToken::is_dpop);
        let mut sent = None;
        let proof = match (&key, needs_proof) {
            (Some(key), true) => {
                if settings.as_ref().is_some_and(|s| s.profile == Profile::Fapi2) {
                    check_fapi2_alg(key.alg(), "DPoP key")?;
                }
                let nonce = self.nonces.get(&target.origin);
                let correction = self.correction_for(settings.as_deref(), &target.origin);
                let iat = skew::unix_now().saturating_add(correction);
                let proof = Proof::new(method, target.url)
                    .access_token(token.map(|t| t.value.as_str()))
                    .nonce(nonce.as_deref())
                    .issued_at(Some(u64::try_from(iat).unwrap_or(0)))
                    .sign(key)?;
                sent = Some(SentProof {
                    alg: key.alg().name(),
                    iat,
                    correction,
                    nonce,
                    key: Arc::clone(key),
                });
                Some(proof)
            }
            (None, true) if token.is_some() || settings.is_some() => {
                return Err(Error::new(
                    ErrorKind::KeyNotLoaded,
                    "no DPoP key is set on this HTTP object: set one before requesting tokens or APIs",
                ));
            }
            _ => None,
        };
        let authorization = token.map(|t| {
            let scheme = if t.is_dpop() { "DPoP" } else { "Bearer" };
            Zeroizing::new(format!("{scheme} {}", t.value.as_str()))
        });
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(request.headers.len() + 2);
        if let Some(proof) = &proof {
            headers.push(("DPoP", proof));
        }
        if let Some(authorization) = &authorization {
            headers.push(("Authorization", authorization));
        }
        headers.extend_from_slice(request.headers);

        let started = std::time::Instant::now();
        let mut outcome = transport::send(
            transport,
            &transport::Outgoing {
                method,
                url: target.url,
                headers: &headers,
                body: request.body,
                max_body: request.max_body,
                deadline: request.deadline,
                cancel,
            },
        );
        if let Ok(response) = &mut outcome {
            if let Some(nonce) = response.header_values("dpop-nonce").next() {
                // A nonce goes into every later proof: an overlong one is ignored (the session
                // log shows it in the response's headers).
                if nonce.len() <= MAX_NONCE && crate::proof::is_valid_nonce(nonce) {
                    self.nonces.put(&target.origin, nonce);
                }
            }
            if let Some(date) = response.header_values("date").next() {
                self.skew.observe(&target.origin, date, skew::unix_now());
            }
            response.proof = sent;
        }
        if self.log.enabled() {
            let mut secrets: Vec<&str> = request.secrets.to_vec();
            secrets.extend(proof.as_deref());
            secrets.extend(token.map(|t| t.value.as_str()));
            secrets.extend(token.and_then(|t| t.refresh_token.as_deref()).map(String::as_str));
            if let Some(settings) = &settings {
                secrets.extend(settings.secrets());
            }
            let logged = LoggedRequest {
                method,
                url: target.url,
                headers: &headers,
                body: request.body,
            };
            self.log
                .record(&logged, outcome.as_ref(), started.elapsed(), &secrets);
        }
        outcome
    }

    /// The seconds to add to this computer's clock for proofs and assertions sent to
    /// `origin`: the server's offset when it is followed (see [`skew`]), else 0.
    pub(crate) fn time_correction(&self, origin: &str) -> i64 {
        self.correction_for(self.auth_token.read().as_deref(), origin)
    }

    /// [`Client::time_correction`] under `settings`, for a caller that holds them already.
    fn correction_for(&self, settings: Option<&super::token::AuthToken>, origin: &str) -> i64 {
        match settings {
            Some(s) if !s.clock_correction => 0,
            Some(s) => self.skew.correction(origin, s.strict_time()),
            None => self.skew.correction(origin, false),
        }
    }
}

/// The longest `DPoP-Nonce` libdpop keeps and sends back.
const MAX_NONCE: usize = 1024;

/// Headers libdpop sets itself; extra headers may not set them.
const RESERVED_HEADERS: [&str; 5] = [
    "authorization",
    "dpop",
    "host",
    "content-length",
    "transfer-encoding",
];

/// Extra request headers: valid names and values, none of those libdpop sets itself.
pub(crate) fn check_headers(headers: &[(&str, &str)]) -> Result<()> {
    for (name, value) in headers {
        if RESERVED_HEADERS.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("the header '{name}' is set by libdpop and cannot be given"),
            ));
        }
        if ureq::http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || ureq::http::HeaderValue::from_str(value).is_err()
        {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("the header '{}' is not a valid HTTP header", name.escape_debug()),
            ));
        }
    }
    Ok(())
}
