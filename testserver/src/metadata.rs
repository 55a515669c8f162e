//! Authorization server metadata (RFC 8414) at `/.well-known/oauth-authorization-server` and
//! OpenID Connect discovery at `/.well-known/openid-configuration`, with the path forms of an
//! issuer that has a path (RFC 8414 §3.1 path insertion; OIDC Discovery §4 appending).

use crate::http::Response;
use crate::jws::SUPPORTED_ALGS;
use crate::state::Shared;
use serde_json::json;

/// Which metadata documents a server serves ([`Config::metadata_documents`]).
///
/// [`Config::metadata_documents`]: crate::Config::metadata_documents
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MetadataDocuments {
    /// Both documents (the default).
    #[default]
    Both,
    /// Only `/.well-known/openid-configuration` (the other answers 404).
    OpenIdOnly,
    /// Only `/.well-known/oauth-authorization-server`.
    OAuthOnly,
    /// Neither: every well-known path answers 404.
    None,
}

/// How the metadata documents are broken ([`Config::metadata_fault`]).
///
/// [`Config::metadata_fault`]: crate::Config::metadata_fault
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetadataFault {
    /// 200 `application/json` whose body is not JSON.
    NotJson,
    /// A JSON document without `token_endpoint`.
    NoTokenEndpoint,
}

/// The grant types the token endpoint supports.
pub const GRANT_TYPES: [&str; 5] = [
    "client_credentials",
    "refresh_token",
    "authorization_code",
    crate::grants::TOKEN_EXCHANGE,
    crate::grants::JWT_BEARER,
];

/// Whether `path` is a well-known metadata path (counted in `metadata_requests`).
pub fn is_metadata_path(path: &str) -> bool {
    path.contains("/.well-known/")
}

/// The answer to `GET path` for a well-known path.
pub fn metadata(shared: &Shared, path: &str) -> Response {
    shared.stats().metadata_requests += 1;
    let issuer_path = shared.config.issuer_path.as_deref().unwrap_or_default();
    let oauth = path == format!("/.well-known/oauth-authorization-server{issuer_path}");
    let openid = path == format!("{issuer_path}/.well-known/openid-configuration");
    let served = match shared.config.metadata_documents {
        MetadataDocuments::Both => oauth || openid,
        MetadataDocuments::OpenIdOnly => openid,
        MetadataDocuments::OAuthOnly => oauth,
        MetadataDocuments::None => false,
    };
    if !served {
        return Response::error(404, "not_found", "no such metadata document");
    }
    let algs: Vec<&str> = match &shared.config.dpop_signing_alg_values_supported {
        algs if algs.is_empty() => SUPPORTED_ALGS.split(' ').collect(),
        algs => algs.iter().map(String::as_str).collect(),
    };
    let issuer = shared.config.issuer_override.as_ref().unwrap_or(&shared.issuer);
    let mut document = json!({
        "issuer": issuer,
        "token_endpoint": shared.token_endpoint(),
        "dpop_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported":
            ["HS256", "ES256", "ES384", "EdDSA", "Ed25519", "PS256", "RS256"],
        "grant_types_supported": GRANT_TYPES,
        "authorization_endpoint": format!("{}/authorize", shared.base_url),
        "pushed_authorization_request_endpoint": format!("{}/par", shared.base_url),
        "require_pushed_authorization_requests": shared.config.require_par,
        "authorization_response_iss_parameter_supported": shared.config.advertise_iss_parameter,
        "code_challenge_methods_supported": ["S256"],
        "response_types_supported": ["code"],
    });
    match shared.config.metadata_fault {
        None => Response::json(200, &document),
        Some(MetadataFault::NotJson) => {
            Response::text(200, "<html>metadata</html>").with_content_type("application/json")
        }
        Some(MetadataFault::NoTokenEndpoint) => {
            document.as_object_mut().map(|d| d.remove("token_endpoint"));
            Response::json(200, &document)
        }
    }
}
