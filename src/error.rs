//! Status codes, their names, and the thread-local last error.

use crate::boundary;
use dpop_core::ErrorKind;
use dpop_macros::system_abi;
use std::ffi::c_char;

/// The result of a libdpop call: `DPOP_OK` (0) or one of the `DPOP_ERR_*` codes.
///
/// Codes are grouped (1-99 general, 100-199 keys, 200-299 proofs, 300-399 HTTP transport,
/// 400-499 tokens and nonces, 500-599 sign-in, tasks and saved state) and never renumbered or
/// reused; new codes are only added.
pub type dpop_status = i32;

/// The call succeeded.
pub const DPOP_OK: dpop_status = 0;
/// A required pointer argument is NULL.
pub const DPOP_ERR_NULL_POINTER: dpop_status = 1;
/// A string argument is not valid UTF-8.
pub const DPOP_ERR_INVALID_UTF8: dpop_status = 2;
/// The output buffer is too small (or NULL); `*out_size` tells the size needed.
pub const DPOP_ERR_BUFFER_TOO_SMALL: dpop_status = 3;
/// An argument is out of range or malformed.
pub const DPOP_ERR_INVALID_ARGUMENT: dpop_status = 4;
/// libdpop hit an internal error (a caught panic); please report it.
pub const DPOP_ERR_PANIC: dpop_status = 5;
/// A file could not be opened or read.
pub const DPOP_ERR_IO: dpop_status = 6;
/// The key handle holds no key yet (load or generate one first).
pub const DPOP_ERR_KEY_NOT_LOADED: dpop_status = 7;
/// The system random source or a signing primitive failed.
pub const DPOP_ERR_CRYPTO: dpop_status = 8;
/// The requested item (e.g. a response header) is not there.
pub const DPOP_ERR_NOT_FOUND: dpop_status = 9;

/// The data is not a PEM, DER or JWK key, or holds no private key block.
pub const DPOP_ERR_KEY_UNRECOGNIZED: dpop_status = 100;
/// The key data ends early (cut-off file, missing PEM END line).
pub const DPOP_ERR_KEY_TRUNCATED: dpop_status = 101;
/// The key container is recognised but its content is invalid.
pub const DPOP_ERR_KEY_MALFORMED: dpop_status = 102;
/// An RSA key libdpop refuses: under 2048 or over 4096 bits, more than two primes, a public
/// exponent under 65537, or an RSASSA-PSS-restricted key.
pub const DPOP_ERR_KEY_RSA: dpop_status = 103;
/// A key type that cannot sign proofs (DSA, X25519, symmetric, OpenSSH files, ...).
pub const DPOP_ERR_KEY_UNSUPPORTED_TYPE: dpop_status = 104;
/// An elliptic curve other than P-256, P-384 or Ed25519 (e.g. secp256k1, P-521).
pub const DPOP_ERR_KEY_UNSUPPORTED_CURVE: dpop_status = 105;
/// A public key or certificate where a private key is needed.
pub const DPOP_ERR_KEY_PUBLIC_ONLY: dpop_status = 106;
/// The key is encrypted and no password was given.
pub const DPOP_ERR_KEY_PASSWORD_REQUIRED: dpop_status = 107;
/// The password does not decrypt the key.
pub const DPOP_ERR_KEY_WRONG_PASSWORD: dpop_status = 108;
/// The key is encrypted with an unsupported scheme (legacy PEM encryption, PKCS#12 PBE).
pub const DPOP_ERR_KEY_UNSUPPORTED_ENCRYPTION: dpop_status = 109;

/// The HTTP method is not a valid method token.
pub const DPOP_ERR_PROOF_METHOD: dpop_status = 200;
/// The URL is not an absolute http or https URL.
pub const DPOP_ERR_PROOF_URL: dpop_status = 201;
/// The extra claims are not a JSON object, or try to replace a claim libdpop sets.
pub const DPOP_ERR_PROOF_CLAIMS: dpop_status = 202;
/// The nonce is not a valid DPoP-Nonce value.
pub const DPOP_ERR_PROOF_NONCE: dpop_status = 203;

/// The request URL is not an absolute http or https URL.
pub const DPOP_ERR_HTTP_URL: dpop_status = 300;
/// A plain http:// URL to a host that is not loopback (see dpop_http_set_allow_insecure_http).
pub const DPOP_ERR_HTTP_INSECURE: dpop_status = 301;
/// The server could not be reached (DNS, connection refused, proxy).
pub const DPOP_ERR_HTTP_CONNECT: dpop_status = 302;
/// Connecting, or waiting for the response, took longer than the timeout.
pub const DPOP_ERR_HTTP_TIMEOUT: dpop_status = 303;
/// The TLS handshake failed (untrusted certificate, wrong host name, ...).
pub const DPOP_ERR_HTTP_TLS: dpop_status = 304;
/// The server's answer is not valid HTTP.
pub const DPOP_ERR_HTTP_PROTOCOL: dpop_status = 305;
/// Another network I/O error.
pub const DPOP_ERR_HTTP_IO: dpop_status = 306;
/// The response body is larger than the limit.
pub const DPOP_ERR_HTTP_BODY_TOO_LARGE: dpop_status = 307;
/// A transport setting is unusable (CA file, proxy URL, user agent, extra header).
pub const DPOP_ERR_HTTP_CONFIG: dpop_status = 308;

/// The token settings (AuthToken JSON) are invalid or incomplete.
pub const DPOP_ERR_TOKEN_CONFIG: dpop_status = 400;
/// The token endpoint answered with an error (the text names its status and error code).
pub const DPOP_ERR_TOKEN_ENDPOINT: dpop_status = 401;
/// The token endpoint's answer is not a usable token response.
pub const DPOP_ERR_TOKEN_RESPONSE: dpop_status = 402;
/// The token endpoint issued a Bearer token to a DPoP request (see dpop_http_set_accept_bearer).
pub const DPOP_ERR_TOKEN_BEARER: dpop_status = 403;
/// A server demanded a new DPoP nonce again right after a retry with its nonce.
pub const DPOP_ERR_NONCE_REJECTED: dpop_status = 404;
/// The `private_key_jwt` assertion key (`client_assertion_key`) does not load.
pub const DPOP_ERR_ASSERTION_KEY: dpop_status = 405;
/// The authorization server's metadata cannot be fetched or is unusable (not JSON, no
/// `token_endpoint`).
pub const DPOP_ERR_METADATA: dpop_status = 406;
/// The metadata's `issuer` differs from the configured `issuer`.
pub const DPOP_ERR_ISSUER_MISMATCH: dpop_status = 407;
/// A server does not accept the key's signature algorithm; the message lists what it accepts.
pub const DPOP_ERR_ALG_UNSUPPORTED: dpop_status = 408;
/// The settings or the key break the requested profile (`"profile":"fapi2"`).
pub const DPOP_ERR_PROFILE_VIOLATION: dpop_status = 409;
/// The token endpoint rejected the DPoP proof (`invalid_dpop_proof`); the last error text says
/// what the proof carried and what is probably wrong.
pub const DPOP_ERR_PROOF_REJECTED: dpop_status = 410;

/// The sign-in failed: the authorization server answered the redirect with an error
/// (`access_denied`, ...), or the redirect's `state` or `iss` did not match.
pub const DPOP_ERR_SIGN_IN: dpop_status = 500;
/// No token is at hand and none can be had without the user signing in (no refresh token, or
/// the server refused it).
pub const DPOP_ERR_SIGN_IN_REQUIRED: dpop_status = 501;
/// The host cancelled the call (a task, a sign-in wait).
pub const DPOP_ERR_CANCELLED: dpop_status = 502;
/// Not finished yet: a wait ran out before the task or sign-in ended; wait or poll again.
pub const DPOP_ERR_PENDING: dpop_status = 503;
/// A saved state file is not libdpop's, or is damaged or cut off.
pub const DPOP_ERR_STATE_CORRUPT: dpop_status = 504;
/// A saved state cannot be decrypted: the wrong passphrase, or (DPAPI) another Windows user.
pub const DPOP_ERR_STATE_LOCKED: dpop_status = 505;
/// A saved state belongs to other settings (another issuer, token endpoint or client).
pub const DPOP_ERR_STATE_FOREIGN: dpop_status = 506;

/// Every code with its name, for `dpop_error_name` and the tests.
///
/// cbindgen:ignore
pub(crate) const CODES: [(dpop_status, &std::ffi::CStr); 51] = [
    (DPOP_OK, c"DPOP_OK"),
    (DPOP_ERR_NULL_POINTER, c"DPOP_ERR_NULL_POINTER"),
    (DPOP_ERR_INVALID_UTF8, c"DPOP_ERR_INVALID_UTF8"),
    (DPOP_ERR_BUFFER_TOO_SMALL, c"DPOP_ERR_BUFFER_TOO_SMALL"),
    (DPOP_ERR_INVALID_ARGUMENT, c"DPOP_ERR_INVALID_ARGUMENT"),
    (DPOP_ERR_PANIC, c"DPOP_ERR_PANIC"),
    (DPOP_ERR_IO, c"DPOP_ERR_IO"),
    (DPOP_ERR_KEY_NOT_LOADED, c"DPOP_ERR_KEY_NOT_LOADED"),
    (DPOP_ERR_CRYPTO, c"DPOP_ERR_CRYPTO"),
    (DPOP_ERR_NOT_FOUND, c"DPOP_ERR_NOT_FOUND"),
    (DPOP_ERR_KEY_UNRECOGNIZED, c"DPOP_ERR_KEY_UNRECOGNIZED"),
    (DPOP_ERR_KEY_TRUNCATED, c"DPOP_ERR_KEY_TRUNCATED"),
    (DPOP_ERR_KEY_MALFORMED, c"DPOP_ERR_KEY_MALFORMED"),
    (DPOP_ERR_KEY_RSA, c"DPOP_ERR_KEY_RSA"),
    (DPOP_ERR_KEY_UNSUPPORTED_TYPE, c"DPOP_ERR_KEY_UNSUPPORTED_TYPE"),
    (DPOP_ERR_KEY_UNSUPPORTED_CURVE, c"DPOP_ERR_KEY_UNSUPPORTED_CURVE"),
    (DPOP_ERR_KEY_PUBLIC_ONLY, c"DPOP_ERR_KEY_PUBLIC_ONLY"),
    (DPOP_ERR_KEY_PASSWORD_REQUIRED, c"DPOP_ERR_KEY_PASSWORD_REQUIRED"),
    (DPOP_ERR_KEY_WRONG_PASSWORD, c"DPOP_ERR_KEY_WRONG_PASSWORD"),
    (
        DPOP_ERR_KEY_UNSUPPORTED_ENCRYPTION,
        c"DPOP_ERR_KEY_UNSUPPORTED_ENCRYPTION",
    ),
    (DPOP_ERR_PROOF_METHOD, c"DPOP_ERR_PROOF_METHOD"),
    (DPOP_ERR_PROOF_URL, c"DPOP_ERR_PROOF_URL"),
    (DPOP_ERR_PROOF_CLAIMS, c"DPOP_ERR_PROOF_CLAIMS"),
    (DPOP_ERR_PROOF_NONCE, c"DPOP_ERR_PROOF_NONCE"),
    (DPOP_ERR_HTTP_URL, c"DPOP_ERR_HTTP_URL"),
    (DPOP_ERR_HTTP_INSECURE, c"DPOP_ERR_HTTP_INSECURE"),
    (DPOP_ERR_HTTP_CONNECT, c"DPOP_ERR_HTTP_CONNECT"),
    (DPOP_ERR_HTTP_TIMEOUT, c"DPOP_ERR_HTTP_TIMEOUT"),
    (DPOP_ERR_HTTP_TLS, c"DPOP_ERR_HTTP_TLS"),
    (DPOP_ERR_HTTP_PROTOCOL, c"DPOP_ERR_HTTP_PROTOCOL"),
    (DPOP_ERR_HTTP_IO, c"DPOP_ERR_HTTP_IO"),
    (DPOP_ERR_HTTP_BODY_TOO_LARGE, c"DPOP_ERR_HTTP_BODY_TOO_LARGE"),
    (DPOP_ERR_HTTP_CONFIG, c"DPOP_ERR_HTTP_CONFIG"),
    (DPOP_ERR_TOKEN_CONFIG, c"DPOP_ERR_TOKEN_CONFIG"),
    (DPOP_ERR_TOKEN_ENDPOINT, c"DPOP_ERR_TOKEN_ENDPOINT"),
    (DPOP_ERR_TOKEN_RESPONSE, c"DPOP_ERR_TOKEN_RESPONSE"),
    (DPOP_ERR_TOKEN_BEARER, c"DPOP_ERR_TOKEN_BEARER"),
    (DPOP_ERR_NONCE_REJECTED, c"DPOP_ERR_NONCE_REJECTED"),
    (DPOP_ERR_ASSERTION_KEY, c"DPOP_ERR_ASSERTION_KEY"),
    (DPOP_ERR_METADATA, c"DPOP_ERR_METADATA"),
    (DPOP_ERR_ISSUER_MISMATCH, c"DPOP_ERR_ISSUER_MISMATCH"),
    (DPOP_ERR_ALG_UNSUPPORTED, c"DPOP_ERR_ALG_UNSUPPORTED"),
    (DPOP_ERR_PROFILE_VIOLATION, c"DPOP_ERR_PROFILE_VIOLATION"),
    (DPOP_ERR_PROOF_REJECTED, c"DPOP_ERR_PROOF_REJECTED"),
    (DPOP_ERR_SIGN_IN, c"DPOP_ERR_SIGN_IN"),
    (DPOP_ERR_SIGN_IN_REQUIRED, c"DPOP_ERR_SIGN_IN_REQUIRED"),
    (DPOP_ERR_CANCELLED, c"DPOP_ERR_CANCELLED"),
    (DPOP_ERR_PENDING, c"DPOP_ERR_PENDING"),
    (DPOP_ERR_STATE_CORRUPT, c"DPOP_ERR_STATE_CORRUPT"),
    (DPOP_ERR_STATE_LOCKED, c"DPOP_ERR_STATE_LOCKED"),
    (DPOP_ERR_STATE_FOREIGN, c"DPOP_ERR_STATE_FOREIGN"),
];

/// The status code for a core error kind.
pub(crate) fn code_of(kind: ErrorKind) -> dpop_status {
    match kind {
        ErrorKind::InvalidArgument => DPOP_ERR_INVALID_ARGUMENT,
        ErrorKind::Io => DPOP_ERR_IO,
        ErrorKind::KeyUnrecognized => DPOP_ERR_KEY_UNRECOGNIZED,
        ErrorKind::KeyTruncated => DPOP_ERR_KEY_TRUNCATED,
        ErrorKind::KeyMalformed => DPOP_ERR_KEY_MALFORMED,
        ErrorKind::KeyRsa => DPOP_ERR_KEY_RSA,
        ErrorKind::KeyUnsupportedType => DPOP_ERR_KEY_UNSUPPORTED_TYPE,
        ErrorKind::KeyUnsupportedCurve => DPOP_ERR_KEY_UNSUPPORTED_CURVE,
        ErrorKind::KeyPublicOnly => DPOP_ERR_KEY_PUBLIC_ONLY,
        ErrorKind::KeyPasswordRequired => DPOP_ERR_KEY_PASSWORD_REQUIRED,
        ErrorKind::KeyWrongPassword => DPOP_ERR_KEY_WRONG_PASSWORD,
        ErrorKind::KeyUnsupportedEncryption => DPOP_ERR_KEY_UNSUPPORTED_ENCRYPTION,
        ErrorKind::ProofMethod => DPOP_ERR_PROOF_METHOD,
        ErrorKind::ProofUrl => DPOP_ERR_PROOF_URL,
        ErrorKind::ProofClaims => DPOP_ERR_PROOF_CLAIMS,
        ErrorKind::ProofNonce => DPOP_ERR_PROOF_NONCE,
        ErrorKind::Crypto => DPOP_ERR_CRYPTO,
        ErrorKind::KeyNotLoaded => DPOP_ERR_KEY_NOT_LOADED,
        ErrorKind::HttpUrl => DPOP_ERR_HTTP_URL,
        ErrorKind::HttpInsecure => DPOP_ERR_HTTP_INSECURE,
        ErrorKind::HttpConnect => DPOP_ERR_HTTP_CONNECT,
        ErrorKind::HttpTimeout => DPOP_ERR_HTTP_TIMEOUT,
        ErrorKind::HttpTls => DPOP_ERR_HTTP_TLS,
        ErrorKind::HttpProtocol => DPOP_ERR_HTTP_PROTOCOL,
        ErrorKind::HttpIo => DPOP_ERR_HTTP_IO,
        ErrorKind::HttpBodyTooLarge => DPOP_ERR_HTTP_BODY_TOO_LARGE,
        ErrorKind::HttpConfig => DPOP_ERR_HTTP_CONFIG,
        ErrorKind::TokenConfig => DPOP_ERR_TOKEN_CONFIG,
        ErrorKind::TokenEndpoint => DPOP_ERR_TOKEN_ENDPOINT,
        ErrorKind::TokenResponse => DPOP_ERR_TOKEN_RESPONSE,
        ErrorKind::TokenBearer => DPOP_ERR_TOKEN_BEARER,
        ErrorKind::NonceRejected => DPOP_ERR_NONCE_REJECTED,
        ErrorKind::AssertionKey => DPOP_ERR_ASSERTION_KEY,
        ErrorKind::Metadata => DPOP_ERR_METADATA,
        ErrorKind::IssuerMismatch => DPOP_ERR_ISSUER_MISMATCH,
        ErrorKind::AlgorithmUnsupported => DPOP_ERR_ALG_UNSUPPORTED,
        ErrorKind::ProfileViolation => DPOP_ERR_PROFILE_VIOLATION,
        ErrorKind::ProofRejected => DPOP_ERR_PROOF_REJECTED,
        ErrorKind::SignIn => DPOP_ERR_SIGN_IN,
        ErrorKind::SignInRequired => DPOP_ERR_SIGN_IN_REQUIRED,
        ErrorKind::Cancelled => DPOP_ERR_CANCELLED,
        ErrorKind::Pending => DPOP_ERR_PENDING,
        ErrorKind::StateCorrupt => DPOP_ERR_STATE_CORRUPT,
        ErrorKind::StateLocked => DPOP_ERR_STATE_LOCKED,
        ErrorKind::StateForeign => DPOP_ERR_STATE_FOREIGN,
        ErrorKind::Internal => DPOP_ERR_PANIC,
    }
}

/// The name of a status code, `"DPOP_ERR_UNKNOWN"` for a code that is none of libdpop's.
pub(crate) fn name_of(code: dpop_status) -> &'static std::ffi::CStr {
    CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(c"DPOP_ERR_UNKNOWN", |(_, name)| name)
}

/// The name of a status code (`"DPOP_ERR_KEY_RSA"`), or `"DPOP_ERR_UNKNOWN"`.
///
/// The string is static: never free it.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_error_name(code: dpop_status) -> *const c_char {
    boundary::read_only(c"DPOP_ERR_UNKNOWN".as_ptr(), || name_of(code).as_ptr())
}

/// The status code of the last failed libdpop call on this thread (`DPOP_OK` if none failed).
///
/// Successful calls leave it unchanged, like `errno`.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_last_error_code() -> dpop_status {
    boundary::read_only(DPOP_ERR_PANIC, boundary::thread_error_code)
}

/// The message of the last failed libdpop call on this thread (`""` if none failed).
///
/// The string belongs to libdpop and stays valid until the next failing libdpop call on this
/// thread; copy it to keep it. Calls that fail before any handle exists (a NULL handle, a
/// caught panic) are reported here only. The getters that only read (`*_last_error_text`,
/// `dpop_http_last_status`, `dpop_response_status`, `dpop_response_body`) record nothing,
/// not even for a NULL handle: they answer with their own fallback value.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_last_error_message() -> *const c_char {
    boundary::read_only(c"".as_ptr(), boundary::thread_error_message)
}
