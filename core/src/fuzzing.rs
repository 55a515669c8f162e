//! Entry points for the fuzz targets (`fuzz/`), behind the `fuzzing` feature: the parsers and
//! the log scrubber that the public API reaches only through a network exchange, and the saved
//! state's file without a client or its 600 000-iteration key derivations.

use crate::http::challenge;
use crate::http::log::{render, LoggedRequest};
use crate::http::state::{open_for_fuzzing, FuzzingSealer};
use crate::http::token::{AccessToken, AuthToken};
use crate::http::Response;
use crate::{Error, ErrorKind, Key, Protector, Result, StateProtection};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

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

/// The token settings the `state_file` target opens saved states for, and its seeds were saved
/// for: bound to a token endpoint (`[0]`) and to an issuer (`[1]`).
pub const STATE_SETTINGS: [&str; 2] = [
    r#"{"client_id":"fuzz-client","auth_method":"none","token_endpoint":"https://as.example/token"}"#,
    r#"{"client_id":"fuzz-client","auth_method":"none","issuer":"https://as.example"}"#,
];

/// The passphrase of the `state_file` target's passphrase states.
pub const STATE_PASSPHRASE: &str = "fuzz-state-passphrase-T4vQ";

/// The Ed25519 key (a private JWK, made for the fuzz target and used nowhere else) that the
/// `state_file` target seals its contents inputs with. Ed25519 is ring's C and assembly, which
/// the fuzz build does not instrument; loading a P-256 key (the p256 crate, instrumented) takes
/// milliseconds there.
pub const STATE_KEY: &str = r#"{"kty":"OKP","crv":"Ed25519","x":"MpGCjRbKD-MMeZpKhonu61aviYy0GAEYAVrzj9iLgLs","d":"gLJi7epyqXQ-j08SGUJpUKu1iF_o6N5ZcT0zSdmPuAA"}"#;

/// The `state_file` target's protector, named by its field: its blob is the context followed
/// by the data, so that the fuzzer reaches the protected bytes, and a blob made for another
/// context does not open (as DPAPI's for another entropy, user or computer).
pub struct StateProtector(pub &'static str);

impl Protector for StateProtector {
    fn name(&self) -> &str {
        self.0
    }

    fn protect(&self, data: &[u8], context: &[u8]) -> Result<Vec<u8>> {
        Ok([context, data].concat())
    }

    fn unprotect(&self, blob: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        blob.strip_prefix(context)
            .map(|data| Zeroizing::new(data.to_vec()))
            .ok_or_else(|| Error::new(ErrorKind::Crypto, "the data was protected in another context"))
    }
}

/// Token settings (the AuthToken JSON) that saved states are opened for, parsed once.
pub struct StateSettings(AuthToken);

impl StateSettings {
    /// Parses the settings as `Client::set_auth_token` does.
    pub fn new(json: &str) -> Result<StateSettings> {
        AuthToken::from_json(json).map(StateSettings)
    }
}

/// A saved state that [`state_open`] opened.
pub struct OpenedState {
    /// The key, with the saved algorithm.
    pub key: Key,
    /// The contents as JSON, as saving the state again writes them.
    pub contents: Zeroizing<String>,
    /// The file that saving the state again writes.
    pub saved_again: Vec<u8>,
}

/// Opens a saved state's file as `Client::load_state` does, for `settings`, with a passphrase's
/// two key derivations at one PBKDF2 iteration instead of 600 000.
pub fn state_open(
    file: &[u8],
    protection: &StateProtection<'_>,
    settings: &StateSettings,
) -> Result<OpenedState> {
    let (key, contents, saved_again) = open_for_fuzzing(file, protection, &settings.0)?;
    Ok(OpenedState {
        key,
        contents,
        saved_again,
    })
}

/// Seals saved states of one key and protection as `Client::save_state` does, at the cost
/// [`state_open`] opens with, around any contents.
pub struct StateSealer(FuzzingSealer);

impl StateSealer {
    /// Derives the passphrase's keys and encrypts the key, or exports it for the protector.
    pub fn new(key: &Key, protection: &StateProtection<'_>) -> Result<StateSealer> {
        FuzzingSealer::new(key, protection).map(StateSealer)
    }

    /// A saved state's file whose sealed contents are `payload` as given, JSON or not.
    pub fn seal(&self, payload: &[u8]) -> Result<Vec<u8>> {
        self.0.seal(payload)
    }
}
