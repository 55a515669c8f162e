//! dpop-core: OAuth 2.0 DPoP (RFC 9449) for programs that cannot easily do it themselves.
//!
//! Keys ([`Key`]), proofs ([`Proof`]) and the DPoP HTTP client ([`Client`]: tokens, nonces,
//! retries, the session log, asynchronous calls as [`Task`]s), in safe Rust. This crate knows nothing of C or COM: libdpop's C
//! ABI (the `dpop` crate) and its COM objects are thin boundaries over it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod clock;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod json;
mod key;
mod proof;
mod redact;
mod task;
mod threads;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, ErrorKind, Result};
pub use http::{parse_header_lines, Client, ClientSettings, Response};
pub use http::{Protector, StateProtection};
pub use key::{Algorithm, Key, RSA_DEFAULT_BITS, RSA_MAX_BITS, RSA_MIN_BITS};
pub use proof::{ath, htu, Proof};
pub use task::{Task, TaskStatus, MAX_WORKERS as MAX_TASK_WORKERS};
pub use threads::background_threads;
