//! Entry points for the fuzz targets (`fuzz/`), behind the `fuzzing` feature: the parsers and
//! the log scrubber that the public API reaches only through a network exchange.

use crate::http::challenge;
use crate::http::log::{render, LoggedRequest};
use crate::http::token::{AccessToken, AuthToken};
use crate::http::Response;
use crate::Result;
use std::time::{Duration, Instant};

/// Parses a token endpoint's success body (Bearer tokens accepted, so every branch is reached).
pub fn token_response(body: &[u8]) -> Result<()> {
    AccessToken::from_response(body, true, Instant::now()).map(drop)
}

/// Parses a `WWW-Authenticate` value and asks what the client asks of it.
pub fn www_authenticate(value: &str) -> (usize, Option<String>, bool) {
    let challenges = challenge::parse(value);
    (
        challenges.len(),
        challenge::dpop_error([value]),
        challenge::any_error([value], "invalid_token"),
    )
}

/// Parses the AuthToken settings JSON.
pub fn auth_token(json: &str) -> Result<()> {
    AuthToken::from_json(json).map(drop)
}

/// One exchange as the session log writes it, with `secrets` to scrub.
#[allow(clippy::too_many_arguments)]
pub fn session_log_entry(
    method: &str,
    url: &str,
    request_headers: &[(&str, &str)],
    request_body: &[u8],
    status: u16,
    response_headers: &[(String, String)],
    response_body: &[u8],
    secrets: &[&str],
) -> String {
    let request = LoggedRequest {
        method,
        url,
        headers: request_headers,
        body: request_body,
    };
    let response = Response::new(status, response_headers.to_vec(), response_body.to_vec());
    render(&request, Ok(&response), Duration::ZERO, secrets)
}

/// The fast `htu` (when it answers) and the URL parser's, for the fuzz target to compare.
pub fn htu_both(url: &str) -> (Option<String>, Result<String>) {
    (
        crate::proof::htu_fast(url).map(str::to_string),
        crate::proof::htu_parsed(url),
    )
}
