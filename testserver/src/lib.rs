//! A strict local OAuth 2.0 DPoP (RFC 9449) authorization and resource server for testing
//! DPoP clients.
//!
//! It verifies proofs itself with `ring` (no code shared with the client library), names the
//! check a rejected request failed in `error_description`, and counts and records every request.
//! Endpoints: `POST /token` (client_credentials, refresh_token, authorization_code, token
//! exchange and jwt-bearer grants; client_secret_basic/_post/_jwt, private_key_jwt and public
//! clients), `GET /authorize` (approves at once, PKCE S256, `dpop_jkt`) and `POST /par`
//! (RFC 9126), `/dpop/*` (the
//! protected API; it echoes what it saw), the metadata under `/.well-known/`, `GET /stats`,
//! `GET /plain` (no auth), `GET /stall` (never answers). Every answer has a `Date` of the
//! server's clock, which can be set off the real time.
//! The token endpoint and the API can each be given a [`Fault`] (a 500, an HTML page, a hang, a
//! reset, a 200 MB or trickling body, a redirect, ...) to test clients against broken servers.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod authorize;
mod authz;
mod client_auth;
mod clock;
mod config;
mod fault;
mod grants;
mod http;
mod jws;
mod metadata;
mod proof;
mod resource;
mod server;
mod state;
mod token;

pub use client_auth::ASSERTION_TYPE;
pub use config::{AuthorizationIss, Client, ClientAuth, Config, IdTokenFault, RecordedRequest, Stats};
pub use fault::{Fault, RetryAfter, FAULT_SYNTAX, RETRY_AFTER_SYNTAX};
pub use grants::{ACCESS_TOKEN_TYPE, JWT_BEARER, TOKEN_EXCHANGE};
pub use jws::SUPPORTED_ALGS;
pub use metadata::{MetadataDocuments, MetadataFault};
pub use proof::VerifiedProof;
pub use server::Server;
