//! The error type of the core: a kind that callers match on, and a message for people.

use std::fmt;

/// What went wrong, in a form a program can act on.
///
/// The C ABI maps every kind to a stable numeric status code, so new kinds are only ever
/// added, never renumbered. The enum is exhaustive on purpose: a kind without a code does not
/// compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// An argument is out of its allowed range or shape.
    InvalidArgument,
    /// A file could not be read.
    Io,
    /// The input is not PEM, DER or JWK, or holds no private key block.
    KeyUnrecognized,
    /// The key data ends early (cut-off file, missing PEM end line).
    KeyTruncated,
    /// The key container is recognised but its content is invalid.
    KeyMalformed,
    /// An RSA key libdpop refuses: under 2048 or over 4096 bits, more than two primes, a
    /// public exponent ring cannot use, or an RSASSA-PSS-restricted key.
    KeyRsa,
    /// A key type libdpop cannot sign with (DSA, X25519, symmetric, ...).
    KeyUnsupportedType,
    /// An elliptic curve other than P-256, P-384 or Ed25519.
    KeyUnsupportedCurve,
    /// A public key or certificate where a private key is needed.
    KeyPublicOnly,
    /// The key is encrypted and no password was given.
    KeyPasswordRequired,
    /// The password does not decrypt the key.
    KeyWrongPassword,
    /// The key is encrypted with a scheme libdpop does not implement.
    KeyUnsupportedEncryption,
    /// The HTTP method is not a valid method token.
    ProofMethod,
    /// The URL cannot serve as a DPoP `htu`.
    ProofUrl,
    /// The extra claims are not a JSON object, or try to replace a claim libdpop sets.
    ProofClaims,
    /// The nonce is not a valid `DPoP-Nonce` value.
    ProofNonce,
    /// The system random source or the signing primitive failed.
    Crypto,
    /// No key is there to sign with (an HTTP object without a key, an empty key handle).
    KeyNotLoaded,
    /// A request URL is not an absolute http(s) URL.
    HttpUrl,
    /// A plain `http://` URL to a host that is not loopback, without the opt-in.
    HttpInsecure,
    /// The server could not be reached (DNS, refused connection, proxy).
    HttpConnect,
    /// Connecting or waiting for the response took longer than the timeout.
    HttpTimeout,
    /// The TLS handshake failed (certificate not trusted, wrong host name, ...).
    HttpTls,
    /// The server's answer is not valid HTTP.
    HttpProtocol,
    /// Another network I/O error.
    HttpIo,
    /// The response body is larger than the limit.
    HttpBodyTooLarge,
    /// A transport setting is unusable (CA file, proxy URL, user agent, header).
    HttpConfig,
    /// The token settings (AuthToken JSON) are invalid or incomplete.
    TokenConfig,
    /// The token endpoint answered with an error.
    TokenEndpoint,
    /// The token endpoint's answer is not a usable token response.
    TokenResponse,
    /// The token endpoint issued a Bearer token to a DPoP request.
    TokenBearer,
    /// A server demanded a new DPoP nonce again right after a retry with its nonce.
    NonceRejected,
    /// The client assertion key of `private_key_jwt` does not load (its message says why).
    AssertionKey,
    /// The authorization server's metadata (RFC 8414 / OpenID Connect Discovery) cannot be
    /// fetched or is unusable: not JSON, no `token_endpoint`, an endpoint that is no URL.
    Metadata,
    /// The metadata's `issuer` is not the configured issuer.
    IssuerMismatch,
    /// A server does not accept the key's signature algorithm (metadata or an API's `algs`).
    AlgorithmUnsupported,
    /// The settings or the key break the requested security profile (FAPI 2.0).
    ProfileViolation,
    /// The token endpoint rejected the DPoP proof (`invalid_dpop_proof`); the message says
    /// what the proof carried and what is probably wrong.
    ProofRejected,
    /// The sign-in failed: the authorization server answered the redirect with an error
    /// (`access_denied`, ...), or the redirect's `state` or `iss` did not match.
    SignIn,
    /// No token is at hand and none can be had without the user: the settings use the
    /// authorization code flow and there is no refresh token, or the server refused it.
    SignInRequired,
    /// The host cancelled the call (a task, a sign-in wait).
    Cancelled,
    /// The call has not finished yet: a wait ran out before the task or sign-in ended.
    Pending,
    /// A saved state file is not libdpop's, or is damaged or cut off.
    StateCorrupt,
    /// A saved state cannot be decrypted: the wrong passphrase, or (DPAPI) another Windows user.
    StateLocked,
    /// A saved state belongs to other settings (another issuer, token endpoint or client).
    StateForeign,
    /// libdpop failed internally (a caught panic); please report it.
    Internal,
}

/// An error: its kind and a message that names the problem.
///
/// Messages never contain key material, passwords or tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// Creates an error of `kind` with a message for people.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The result type of the core.
pub type Result<T> = std::result::Result<T, Error>;
