//! Exit codes, and the failure a command ends with: its code and one line for stderr.

use dpop_core::{Error, ErrorKind};
use std::process::ExitCode;

/// The exit status of `dpop` (documented in `dpop --help` and cli/README.md; never renumbered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Done; for get/post/request, a 2xx response.
    Success = 0,
    /// The server answered with a status other than 2xx (the body is still printed).
    HttpStatus = 1,
    /// The command line is wrong: unknown command or option, a missing or invalid value, a
    /// URL, method, header or body the request cannot use, an input file that cannot be read,
    /// invalid token settings.
    Usage = 2,
    /// The key: missing, unreadable, not a supported private key, or its password is missing
    /// or wrong.
    Key = 3,
    /// The network: the server cannot be reached, TLS fails, a timeout, an invalid or
    /// oversized response.
    Network = 4,
    /// The token endpoint refused the client or gave no usable DPoP token.
    Token = 5,
    /// Anything else: an output file that cannot be written, the random source, ...
    Other = 6,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// Why a command stopped. The message names the problem and never holds a secret.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    /// Whether `--help` would help: a mistake in the command line's form, not in a value the
    /// core refused.
    pub see_help: bool,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            see_help: false,
        }
    }

    /// A mistake in the command line's form.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            see_help: true,
            ..Self::new(Exit::Usage, message)
        }
    }

    /// A core error, with the exit code its kind calls for. The core's messages name the
    /// problem and are already free of secrets.
    pub fn core(error: &Error) -> Self {
        Self::new(exit_for(error.kind()), error.message())
    }

    /// The same failure with `context` in front of its message.
    pub fn context(mut self, context: impl std::fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::core(&error)
    }
}

/// The exit code of each kind of core error. The match has no wildcard on purpose: a new kind
/// in the core does not compile here until it has a code.
pub fn exit_for(kind: ErrorKind) -> Exit {
    use ErrorKind::*;
    match kind {
        InvalidArgument | ProofMethod | ProofUrl | ProofClaims | ProofNonce | HttpUrl | HttpInsecure
        | HttpConfig | TokenConfig | ProfileViolation => Exit::Usage,
        KeyUnrecognized
        | KeyTruncated
        | KeyMalformed
        | KeyRsa
        | KeyUnsupportedType
        | KeyUnsupportedCurve
        | KeyPublicOnly
        | KeyPasswordRequired
        | KeyWrongPassword
        | KeyUnsupportedEncryption
        | KeyNotLoaded
        | AssertionKey => Exit::Key,
        HttpConnect | HttpTimeout | HttpTls | HttpProtocol | HttpIo | HttpBodyTooLarge => Exit::Network,
        TokenEndpoint | TokenResponse | TokenBearer | NonceRejected | Metadata | IssuerMismatch
        | AlgorithmUnsupported | ProofRejected | SignIn | SignInRequired => Exit::Token,
        Io | Crypto | Internal | Cancelled | Pending | StateCorrupt | StateLocked | StateForeign => {
            Exit::Other
        }
    }
}
