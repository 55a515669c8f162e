//! Client authentication at the token endpoint: client_secret_basic and client_secret_post
//! (RFC 6749 §2.3.1), client_secret_jwt and private_key_jwt (RFC 7523 §2.2, OpenID Connect
//! Core §9), and public clients (`none`).

use crate::authz::form_decode;
use crate::config::ClientAuth;
use crate::http::{Request, Response};
use crate::jws::{Alg, Compact, PublicJwk};
use crate::state::Shared;
use base64ct::{Base64, Encoding};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The `WWW-Authenticate` challenge for failed HTTP Basic client authentication.
const BASIC_CHALLENGE: &str = r#"Basic realm="dpop-test-server""#;

/// The only `client_assertion_type` (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The longest lifetime (`exp - iat`) of a client assertion, in seconds.
pub const MAX_ASSERTION_LIFETIME: u64 = 300;

/// A client that passed authentication.
pub struct Authenticated {
    /// Its client_id.
    pub id: String,
    /// Whether it is a public client (auth method `none`).
    pub public: bool,
}

/// How the client was registered: its secret, its key, or nothing.
enum Registration<'a> {
    /// client_secret_basic, _post and _jwt.
    Secret(&'a str),
    /// client_secret_jwt only.
    SecretJwt(&'a str),
    /// private_key_jwt with this public JWK.
    Key(&'a Value),
    /// A public client.
    Public,
}

impl Registration<'_> {
    fn method(&self) -> &'static str {
        match self {
            Registration::Secret(_) => "client_secret_basic",
            Registration::SecretJwt(_) => "client_secret_jwt",
            Registration::Key(_) => "private_key_jwt",
            Registration::Public => "none",
        }
    }
}

fn registration<'a>(shared: &'a Shared, id: &str) -> Option<Registration<'a>> {
    let config = &shared.config;
    if let Some((_, secret)) = config.clients.iter().find(|(i, _)| i == id) {
        return Some(Registration::Secret(secret));
    }
    let client = config.registered_clients.iter().find(|c| c.id == id)?;
    Some(match &client.auth {
        ClientAuth::SecretJwt(secret) => Registration::SecretJwt(secret),
        ClientAuth::PrivateKeyJwt(jwk) => Registration::Key(jwk),
        ClientAuth::None => Registration::Public,
    })
}

fn invalid_client(description: &str) -> Response {
    Response::error(401, "invalid_client", description)
}

/// Records the `client_assertion` of a token request in the stats (its `jti` and `aud`, also
/// when the request fails later) and marks its `jti` as seen. Returns whether the `jti` was
/// new; None when the request has no readable assertion.
pub fn record_assertion(shared: &Shared, form: &HashMap<String, String>) -> Option<bool> {
    let claims = Compact::split(form.get("client_assertion")?).ok()?.payload()?;
    let jti = claims.get("jti").and_then(Value::as_str).unwrap_or_default();
    let fresh = !jti.is_empty() && shared.use_assertion_jti(jti);
    let mut stats = shared.stats();
    stats.assertion_jtis.push(jti.to_owned());
    stats
        .assertion_auds
        .push(claims.get("aud").cloned().unwrap_or(Value::Null));
    Some(fresh)
}

/// The authenticated client, by exactly one method. `fresh` is what [`record_assertion`] said
/// about the request's assertion; `url` is the URL the request was sent to.
pub fn authenticate(
    shared: &Shared,
    request: &Request,
    form: &HashMap<String, String>,
    fresh: Option<bool>,
    url: &str,
) -> Result<Authenticated, Response> {
    let basic = basic_credentials(request)?;
    let assertion = form.contains_key("client_assertion") || form.contains_key("client_assertion_type");
    let methods = [basic.is_some(), form.contains_key("client_secret"), assertion];
    if methods.iter().filter(|used| **used).count() > 1 {
        return Err(Response::error(
            400,
            "invalid_request",
            "more than one client authentication method",
        ));
    }
    if assertion {
        let id = check_assertion(shared, form, fresh.unwrap_or(false), url)?;
        return Ok(Authenticated { id, public: false });
    }
    let (id, secret, is_basic) = match (basic, form.get("client_secret")) {
        (Some((id, secret)), _) => {
            if form.get("client_id").is_some_and(|form_id| *form_id != id) {
                return Err(invalid_client("client_id does not match the Basic credentials"));
            }
            (id, Some(secret), true)
        }
        (None, secret) => {
            let Some(id) = form.get("client_id") else {
                return Err(invalid_client(if secret.is_some() {
                    "client_id is missing"
                } else {
                    "client authentication is missing"
                }));
            };
            (id.clone(), secret.cloned(), false)
        }
    };
    let failed = |description: &str| {
        let response = invalid_client(description);
        if is_basic {
            response.with_header("WWW-Authenticate", BASIC_CHALLENGE)
        } else {
            response
        }
    };
    match (registration(shared, &id), secret) {
        (Some(Registration::Secret(registered)), Some(secret)) if registered == secret => {
            Ok(Authenticated { id, public: false })
        }
        (Some(Registration::Public), None) => Ok(Authenticated { id, public: true }),
        (Some(Registration::Public), Some(_)) => Err(failed("client is public and has no secret")),
        (Some(Registration::Secret(_)), None) => Err(invalid_client("client authentication is missing")),
        (Some(r @ (Registration::SecretJwt(_) | Registration::Key(_))), _) => {
            Err(failed(&format!("client is registered for {}", r.method())))
        }
        _ => Err(failed("client authentication failed")),
    }
}

/// The (client_id, client_secret) of an `Authorization: Basic` header.
fn basic_credentials(request: &Request) -> Result<Option<(String, String)>, Response> {
    let Some(value) = request.header("authorization") else {
        return Ok(None);
    };
    let challenge =
        |description| invalid_client(description).with_header("WWW-Authenticate", BASIC_CHALLENGE);
    let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(challenge("Authorization header is not Basic"));
    }
    let malformed = || challenge("malformed Basic credentials");
    let decoded = Base64::decode_vec(credentials.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    Ok(Some((
        form_decode(id).ok_or_else(malformed)?,
        form_decode(secret).ok_or_else(malformed)?,
    )))
}

/// Checks a client_secret_jwt or private_key_jwt assertion; the client_id it authenticates.
fn check_assertion(
    shared: &Shared,
    form: &HashMap<String, String>,
    fresh: bool,
    url: &str,
) -> Result<String, Response> {
    if form.get("client_assertion_type").map(String::as_str) != Some(ASSERTION_TYPE) {
        return Err(invalid_client(&format!(
            "client_assertion_type is not {ASSERTION_TYPE}"
        )));
    }
    let text = form
        .get("client_assertion")
        .ok_or_else(|| invalid_client("client_assertion is missing"))?;
    let jws = Compact::split(text).map_err(|_| invalid_client("client_assertion is not a JWT"))?;
    let claims = jws
        .payload()
        .ok_or_else(|| invalid_client("client_assertion is not a JWT"))?;
    let string = |name| claims.get(name).and_then(Value::as_str);
    let id = match (string("iss"), string("sub")) {
        (Some(iss), Some(sub)) if iss == sub => iss.to_owned(),
        _ => {
            return Err(invalid_client(
                "client_assertion iss and sub are not both the client_id",
            ))
        }
    };
    if form.get("client_id").is_some_and(|form_id| *form_id != id) {
        return Err(invalid_client("client_id does not match the client_assertion"));
    }
    let alg = jws.header_str("alg").unwrap_or_default();
    let verified = match registration(shared, &id) {
        None => return Err(invalid_client("client_assertion iss is not a registered client")),
        Some(Registration::Public) => return Err(invalid_client("client is public and has no credentials")),
        Some(Registration::Secret(secret) | Registration::SecretJwt(secret)) => {
            if alg != "HS256" {
                return Err(invalid_client(
                    "client_assertion alg is not HS256 (client_secret_jwt)",
                ));
            }
            jws.verifies_hs256(secret.as_bytes())
        }
        Some(Registration::Key(jwk)) => {
            // A JWK with an `alg` member is for that algorithm only (RFC 7517 §4.4).
            let pinned = jwk.get("alg").and_then(Value::as_str);
            let key = Alg::from_name(alg)
                .filter(|_| pinned.map_or(true, |pinned| pinned == alg))
                .and_then(|alg| PublicJwk::parse(alg, jwk).ok())
                .ok_or_else(|| invalid_client("client_assertion alg does not fit the client's key"))?;
            jws.verifies(&key)
        }
    };
    if !verified {
        return Err(invalid_client("client_assertion signature is invalid"));
    }
    check_aud(shared, &claims, url)?;
    check_times(shared, &claims)?;
    match string("jti") {
        None | Some("") => Err(invalid_client("client_assertion jti is missing")),
        Some(_) if !fresh => Err(invalid_client("client_assertion jti has been used before")),
        Some(_) => Ok(id),
    }
}

/// `aud`: the issuer or the token endpoint URL (a string, or an array holding one); only the
/// issuer as a single string under `assertion_aud_issuer_only`.
fn check_aud(shared: &Shared, claims: &Map<String, Value>, url: &str) -> Result<(), Response> {
    let issuer = shared.issuer.as_str();
    let aud = claims.get("aud");
    if shared.config.assertion_aud_issuer_only {
        return match aud {
            Some(Value::String(aud)) if aud == issuer => Ok(()),
            _ => Err(invalid_client(
                "client_assertion aud is not the issuer (a single string)",
            )),
        };
    }
    let token_endpoint = shared.token_endpoint();
    let fits = |value: &Value| {
        value
            .as_str()
            .is_some_and(|aud| [issuer, &token_endpoint, url].contains(&aud))
    };
    let ok = match aud {
        Some(Value::Array(values)) => values.iter().any(fits),
        Some(value) => fits(value),
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(invalid_client(
            "client_assertion aud is not the issuer or the token endpoint",
        ))
    }
}

/// `exp` in the future, `iat` not in the future, and at most 300 s between them.
fn check_times(shared: &Shared, claims: &Map<String, Value>) -> Result<(), Response> {
    let now = shared.clock.now();
    let exp = claims
        .get("exp")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid_client("client_assertion exp is missing"))?;
    if exp <= now {
        return Err(invalid_client("client_assertion has expired"));
    }
    let iat = match claims.get("iat") {
        None => now,
        Some(iat) => iat
            .as_u64()
            .ok_or_else(|| invalid_client("client_assertion iat is not an integer"))?,
    };
    if iat > now.saturating_add(shared.config.iat_window) {
        return Err(invalid_client("client_assertion iat is in the future"));
    }
    if exp.saturating_sub(iat) > MAX_ASSERTION_LIFETIME {
        return Err(invalid_client(
            "client_assertion lifetime (exp - iat) is over 300 s",
        ));
    }
    Ok(())
}
