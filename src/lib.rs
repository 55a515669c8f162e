//! libdpop: OAuth 2.0 DPoP (RFC 9449) for programs that cannot easily do it themselves.
//!
//! The safe core ([`Key`], [`Proof`], [`Client`]) knows nothing of C; the `ffi` module is the thin C ABI
//! over it, described by the generated `include/dpop.h`.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod error;
pub mod ffi;
mod http;
mod key;
mod proof;
mod secret;

pub use error::{Error, ErrorKind, Result};
pub use http::{parse_header_lines, Client, Response};
pub use key::{Algorithm, Key};
pub use proof::{ath, htu, Proof};
