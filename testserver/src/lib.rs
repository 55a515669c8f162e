//! A strict local OAuth 2.0 DPoP (RFC 9449) authorization and resource server for testing
//! DPoP clients.
//!
//! It verifies proofs itself with `ring` (no code shared with the client library), names the
//! check a rejected request failed in `error_description`, and counts and records every request.
//! Endpoints: `POST /token` (client_credentials and refresh_token grants), `/dpop/*` (the
//! protected API; it echoes what it saw), `GET /plain` (no auth), `GET /stall` (never answers).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod authz;
mod config;
mod http;
mod jws;
mod proof;
mod resource;
mod server;
mod state;
mod token;

pub use config::{Config, RecordedRequest, Stats};
pub use jws::SUPPORTED_ALGS;
pub use server::Server;
