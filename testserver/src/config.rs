//! What a test server does: its clients, token lifetime, which DPoP behaviours it demands and
//! how its endpoints misbehave.

use crate::fault::{Fault, RetryAfter};
use crate::metadata::{MetadataDocuments, MetadataFault};
use crate::proof::{self, Expected, VerifiedProof};

/// Settings of a [`Server`](crate::Server). Start from [`Config::default`] and change fields.
#[derive(Clone, Debug)]
pub struct Config {
    /// Registered clients as (client_id, client_secret). Default: `("m2m.dpop", "secret")`.
    /// Each may authenticate by client_secret_basic, client_secret_post or client_secret_jwt
    /// (an HS256 assertion signed with the secret).
    pub clients: Vec<(String, String)>,
    /// More clients, each with the one authentication method it is registered for:
    /// client_secret_jwt, private_key_jwt or none (a public client). Default none. An id here
    /// that is also in `clients` is shadowed by it.
    pub registered_clients: Vec<Client>,
    /// Whether a client assertion's `aud` must be the issuer as a single string (FAPI 2.0).
    /// Default false: the issuer or the token endpoint URL, alone or in an array.
    pub assertion_aud_issuer_only: bool,
    /// Access token lifetime in seconds (`expires_in` and the JWT `exp`). Default 300; 0 issues
    /// tokens that are already expired (a token counts as expired once `now >= exp`). The JWT's
    /// `exp` is the issue time rounded up to a whole second plus the lifetime, so a token is
    /// good for at least `token_ttl` seconds after it was issued, as `expires_in` says.
    pub token_ttl: u64,
    /// Whether client_credentials responses carry a `refresh_token`. Default false. Refresh
    /// tokens are bound to the key of the proof of the grant that issued them (another key:
    /// 400 `invalid_grant` "refresh token is bound to another DPoP key").
    pub issue_refresh_tokens: bool,
    /// Whether each refresh_token grant uses up its refresh token and answers with a new one
    /// (reuse: 400 `invalid_grant` "refresh token is unknown or already used"). Default true;
    /// false keeps refresh tokens valid and answers without a new one. A `use_dpop_nonce`
    /// answer (or any refusal) leaves the refresh token as it was.
    pub rotate_refresh_tokens: bool,
    /// An `assertion` the jwt-bearer grant accepts as it is. Default None.
    pub jwt_bearer_assertion: Option<String>,
    /// A public JWK whose signed JWTs (with an `exp` in the future, if any) the jwt-bearer grant
    /// accepts as `assertion`. Default None. With neither this nor `jwt_bearer_assertion`,
    /// every assertion is refused (400 `invalid_grant` "assertion is not accepted").
    pub jwt_bearer_jwk: Option<serde_json::Value>,
    /// Whether the token endpoint demands a DPoP nonce (400 `use_dpop_nonce`). Default false.
    /// A server with none of the nonce settings refuses every proof that carries a nonce
    /// (`invalid_dpop_proof`): it issued none, so the client took it from another origin.
    pub require_nonce_token: bool,
    /// Whether the API demands a DPoP nonce (401 `use_dpop_nonce`). Default false.
    pub require_nonce_api: bool,
    /// Whether the API rejects every request with a fresh nonce (to test that clients retry once,
    /// never in a loop). Default false.
    pub api_nonce_every_request: bool,
    /// Whether the token endpoint rejects every request with a fresh nonce (400
    /// `use_dpop_nonce`), the token endpoint's counterpart of `api_nonce_every_request`.
    /// Default false.
    pub token_nonce_every_request: bool,
    /// The `token_type` of token responses. Default "DPoP"; "Bearer" tests downgrade detection.
    pub token_type: String,
    /// Allowed difference between a proof's `iat` and the server clock, in seconds. Default 60.
    pub iat_window: u64,
    /// Serve HTTPS with this (certificate chain, private key), each PEM text or a PEM file path.
    pub tls: Option<(String, String)>,
    /// How `POST /token` misbehaves. Default none.
    pub token_fault: Option<Fault>,
    /// How the API (`/dpop/*`) misbehaves. Default none.
    pub api_fault: Option<Fault>,
    /// Replaces the nonce after every this many requests to the token endpoint and the API
    /// together (the one before stays valid until the next rotation). Default 0: never.
    pub rotate_nonce_every: u64,
    /// Whether each request is kept in [`Stats::requests`]. Default true; a long run turns it
    /// off so the server's memory stays flat (the counters are kept either way).
    pub record_requests: bool,
    /// Seconds added to the real time to make the server's clock (proof and assertion `iat`
    /// and `exp` checks, token `iat`/`exp`, the `Date` header of every answer). Default 0; ±300
    /// shows a client that corrects its clock from `Date`.
    pub clock_offset_secs: i64,
    /// The proof `alg`s the API (`/dpop/*`) accepts, by the name in the header (`EdDSA` and
    /// `Ed25519` are separate names). Others get 401 `invalid_dpop_proof` with
    /// "alg is not one of ..." and the challenge's `algs` lists these. Default empty: every
    /// algorithm the server verifies ([`SUPPORTED_ALGS`](crate::SUPPORTED_ALGS)).
    pub api_algs: Vec<String>,
    /// The proof `alg`s the token endpoint accepts, also served as
    /// `dpop_signing_alg_values_supported` in the metadata. Others get 400
    /// `invalid_dpop_proof`. Default empty: every algorithm the server verifies.
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// Whether `invalid_dpop_proof` answers (token endpoint and API) leave out
    /// `error_description`, in the JSON body and in the challenge, as terse servers do.
    /// Default false.
    pub terse_errors: bool,
    /// The base URL (`https://gateway.example`) the server believes it is reached at, as behind
    /// a gateway that rewrites URLs: proofs must have `htu` = this base + the request path, so
    /// proofs with the loopback URL fail with "htu does not match the request URL". Default
    /// None: the URL from the request's Host.
    pub public_base_url: Option<String>,
    /// A path of the issuer (`/tenant1`): the issuer (metadata `issuer`, token `iss`, the
    /// assertion `aud`) is the base URL + this path, and the metadata is served at
    /// `/.well-known/oauth-authorization-server/tenant1` and
    /// `/tenant1/.well-known/openid-configuration`. The token endpoint stays `/token`.
    /// Default None.
    pub issuer_path: Option<String>,
    /// Which metadata documents are served. Default both.
    pub metadata_documents: MetadataDocuments,
    /// An `issuer` the metadata claims instead of the real one (to test a client's issuer
    /// check); tokens and assertions still use the real one. Default None.
    pub issuer_override: Option<String>,
    /// How the metadata documents are broken. Default none.
    pub metadata_fault: Option<MetadataFault>,
    /// The first requests to `POST /token` get a 503 or 429 with `Retry-After`. Default none.
    pub token_retry_after: Option<RetryAfter>,
    /// The first requests to the API get a 503 or 429 with `Retry-After`. Default none.
    pub api_retry_after: Option<RetryAfter>,
    /// The redirect URIs the authorization endpoint accepts, for every registered client. A
    /// loopback one (`http://127.0.0.1/...`, `http://[::1]/...`) matches on any port (RFC 8252
    /// §7.3); others must be identical. Default `["http://127.0.0.1/callback"]`.
    pub redirect_uris: Vec<String>,
    /// Whether the authorization endpoint answers every valid request with `access_denied`
    /// (the user said no). Default false.
    pub deny_authorization: bool,
    /// The `iss` of authorization responses (RFC 9207). Default [`AuthorizationIss::Correct`].
    pub authorization_iss: AuthorizationIss,
    /// Whether the metadata says `authorization_response_iss_parameter_supported`, whatever
    /// [`Config::authorization_iss`] does. Default true.
    pub advertise_iss_parameter: bool,
    /// Whether authorization requests must be pushed first (RFC 9126): served as
    /// `require_pushed_authorization_requests`, and `/authorize` without a `request_uri` is
    /// answered with `invalid_request`. Default false.
    pub require_par: bool,
    /// Seconds an authorization code (and a pushed request's `request_uri`) stays valid.
    /// Default 60.
    pub code_ttl: u64,
    /// How the `id_token` of an OpenID Connect sign-in is broken. Default none.
    pub id_token_fault: Option<IdTokenFault>,
}

/// The `iss` of the authorization endpoint's redirects ([`Config::authorization_iss`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthorizationIss {
    /// The issuer.
    #[default]
    Correct,
    /// No `iss` parameter.
    Omitted,
    /// Another issuer's (`https://other-issuer.example`): a mix-up.
    Wrong,
}

/// How the `id_token` of a code grant is broken ([`Config::id_token_fault`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdTokenFault {
    /// Another nonce than the authorization request's.
    WrongNonce,
    /// `aud` is another client.
    WrongAudience,
    /// `iss` is another issuer.
    WrongIssuer,
    /// No `id_token` in the token response.
    Missing,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            clients: vec![("m2m.dpop".into(), "secret".into())],
            registered_clients: Vec::new(),
            assertion_aud_issuer_only: false,
            token_ttl: 300,
            issue_refresh_tokens: false,
            rotate_refresh_tokens: true,
            jwt_bearer_assertion: None,
            jwt_bearer_jwk: None,
            require_nonce_token: false,
            require_nonce_api: false,
            api_nonce_every_request: false,
            token_nonce_every_request: false,
            token_type: "DPoP".into(),
            iat_window: 60,
            tls: None,
            token_fault: None,
            api_fault: None,
            rotate_nonce_every: 0,
            record_requests: true,
            clock_offset_secs: 0,
            api_algs: Vec::new(),
            dpop_signing_alg_values_supported: Vec::new(),
            terse_errors: false,
            public_base_url: None,
            issuer_path: None,
            metadata_documents: MetadataDocuments::Both,
            issuer_override: None,
            metadata_fault: None,
            token_retry_after: None,
            api_retry_after: None,
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            deny_authorization: false,
            authorization_iss: AuthorizationIss::Correct,
            advertise_iss_parameter: true,
            require_par: false,
            code_ttl: 60,
            id_token_fault: None,
        }
    }
}

/// A client in [`Config::registered_clients`].
#[derive(Clone, Debug, PartialEq)]
pub struct Client {
    /// The client_id.
    pub id: String,
    /// How it authenticates.
    pub auth: ClientAuth,
}

/// The one way a [`Client`] authenticates at the token endpoint.
///
/// An assertion (`client_assertion_type` =
/// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, `client_assertion` = the JWT;
/// `client_id` optional, equal when present) passes when its signature verifies, `iss` and
/// `sub` are the client_id, `aud` is the issuer or the token endpoint (see
/// [`Config::assertion_aud_issuer_only`]), `exp` is in the future, `exp - iat` is at most
/// 300 s and its `jti` was never seen before (also not in a request refused for another
/// reason, such as `use_dpop_nonce`). Every failure is 401 `invalid_client`.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientAuth {
    /// client_secret_jwt: an HS256 assertion signed with this secret (no other method).
    SecretJwt(String),
    /// private_key_jwt: an assertion signed by the private key of this public JWK (EC P-256
    /// with ES256, P-384 with ES384, Ed25519 with EdDSA/Ed25519, RSA with PS256 or RS256; a JWK
    /// with an `alg` member accepts that alg only).
    PrivateKeyJwt(serde_json::Value),
    /// A public client: `client_id` alone, no credentials. Refused for client_credentials
    /// (400 `unauthorized_client`).
    None,
}

/// Counters and the request log of a running server, as returned by
/// [`Server::stats`](crate::Server::stats).
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// TCP connections accepted.
    pub connections: u64,
    /// Every `POST /token` received, valid or not.
    pub token_requests: u64,
    /// Access tokens issued.
    pub tokens_issued: u64,
    /// Successful client_credentials grants.
    pub client_credentials_grants: u64,
    /// Successful refresh_token grants.
    pub refresh_grants: u64,
    /// Successful token exchange grants.
    pub token_exchange_grants: u64,
    /// Successful jwt-bearer grants.
    pub jwt_bearer_grants: u64,
    /// 400 `use_dpop_nonce` answers of the token endpoint.
    pub nonce_rejections_token: u64,
    /// Every GET of a well-known metadata path, served or not.
    pub metadata_requests: u64,
    /// Answers of the token endpoint under [`Config::token_retry_after`].
    pub retry_after_token: u64,
    /// Answers of the API under [`Config::api_retry_after`].
    pub retry_after_api: u64,
    /// Every request to `/dpop/*` received.
    pub api_requests: u64,
    /// 200 answers of the API.
    pub api_ok: u64,
    /// 401 `use_dpop_nonce` answers of the API.
    pub nonce_rejections_api: u64,
    /// 401 `invalid_token` answers of the API.
    pub invalid_token_rejections: u64,
    /// The `jti` of every client assertion received, in order ("" when it had none), also of
    /// requests refused later (a nonce retry shows as two entries).
    pub assertion_jtis: Vec<String>,
    /// The `aud` of every client assertion received, as sent (null when it had none).
    pub assertion_auds: Vec<serde_json::Value>,
    /// Every `GET /authorize` received, valid or not.
    pub authorization_requests: u64,
    /// Every `POST /par` received, valid or not.
    pub par_requests: u64,
    /// Successful authorization_code grants.
    pub authorization_code_grants: u64,
    /// Every request, in the order the server answered them.
    pub requests: Vec<RecordedRequest>,
}

/// One request as the server saw it. Holds the headers as sent, tokens and proofs included: it
/// exists for tests and is never logged.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The method.
    pub method: String,
    /// The path, without query.
    pub path: String,
    /// The header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (invalid UTF-8 replaced).
    pub body: String,
    /// The status answered; 0 for a request never answered (`/stall`, [`Fault::Hang`],
    /// [`Fault::Reset`]).
    pub status: u16,
    /// The `DPoP-Nonce` of the answer, if it had one.
    pub nonce: Option<String>,
}

impl RecordedRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Checks the request's DPoP proof as the server does (RFC 9449 §4.3): one `DPoP` header,
    /// `typ`, `alg`, a public `jwk`, the signature, `htm` (this request's method), `htu` (`url`,
    /// normalised, without query) and `iat` within `iat_window` seconds of now. Replay, `ath` and
    /// `nonce` need state the caller holds (the `jti`s seen, the token, the nonces sent) and are
    /// left to it: the claims are in the result. "Now" is the real time, whatever
    /// [`Config::clock_offset_secs`] the server had.
    pub fn verify_proof(&self, url: &str, iat_window: u64) -> Result<VerifiedProof, &'static str> {
        let expected = Expected {
            method: &self.method,
            url,
            now: crate::state::now(),
            iat_window,
        };
        let headers: Vec<&str> = self
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("dpop"))
            .map(|(_, value)| value.as_str())
            .collect();
        proof::verify(&headers, &expected)
    }
}
