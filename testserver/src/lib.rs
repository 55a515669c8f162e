//! A strict local OAuth 2.0 DPoP (RFC 9449) authorization and resource server for testing
//! DPoP clients.
//!
//! It verifies proofs itself with `ring` (no code shared with the client library), names the
//! check a rejected request failed in `error_description`, and counts and records every request.
//! Endpoints: `POST /token` (client_credentials and refresh_token grants), `/dpop/*` (the
//! protected API; it echoes what it saw), `GET /plain` (no auth), `GET /stall` (never answers).
//! The token endpoint and the API can each be given a [`Fault`] (a 500, an HTML page, a hang, a
//! reset, a 200 MB or trickling body, a redirect, ...) to test clients against broken servers.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod authz;
mod client_auth;
mod clock;
mod config;
mod fault;
mod http;
mod jws;
mod metadata;
mod proof;
mod resource;
mod server;
mod state;
mod token;

pub use client_auth::ASSERTION_TYPE;
pub use config::{Client, ClientAuth, Config, RecordedRequest, Stats};
pub use fault::{Fault, RetryAfter, FAULT_SYNTAX, RETRY_AFTER_SYNTAX};
pub use jws::SUPPORTED_ALGS;
pub use metadata::{MetadataDocuments, MetadataFault};
pub use proof::VerifiedProof;
pub use server::Server;
