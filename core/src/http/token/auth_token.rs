//! The token settings: Chilkat's `AuthToken` JSON, which says how to obtain tokens: the grant,
//! the client's authentication, the endpoint (or the issuer to discover it from) and the
//! policies (profile, clock correction, Retry-After).

use crate::error::{Error, ErrorKind, Result};
use crate::http::metadata::Metadata;
use crate::http::sign_in::SignInSettings;
use crate::key::{Algorithm, Key};
use parking_lot::Mutex;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// How the client authenticates at the token endpoint.
pub(crate) enum ClientAuth {
    /// `client_id` and `client_secret` in the form body.
    SecretPost(Zeroizing<String>),
    /// HTTP Basic with the form-urlencoded id and secret (RFC 6749 §2.3.1).
    SecretBasic(Zeroizing<String>),
    /// An HS256 assertion signed with the client secret (RFC 7523 §2.2, OIDC Core §9).
    SecretJwt(Zeroizing<String>),
    /// An assertion signed with a private key (RFC 7523 §2.2, OIDC Core §9).
    PrivateKeyJwt { key: AssertionKey, kid: Option<String> },
    /// A public client: `client_id` only.
    None,
}

impl ClientAuth {
    /// The `token_endpoint_auth_methods_supported` name.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            ClientAuth::SecretPost(_) => "client_secret_post",
            ClientAuth::SecretBasic(_) => "client_secret_basic",
            ClientAuth::SecretJwt(_) => "client_secret_jwt",
            ClientAuth::PrivateKeyJwt { .. } => "private_key_jwt",
            ClientAuth::None => "none",
        }
    }

    pub(crate) fn secret(&self) -> Option<&str> {
        match self {
            ClientAuth::SecretPost(s) | ClientAuth::SecretBasic(s) | ClientAuth::SecretJwt(s) => Some(s),
            _ => None,
        }
    }
}

/// The key that signs `private_key_jwt` assertions.
pub(crate) enum AssertionKey {
    /// A key of its own (`client_assertion_key`).
    Own(Arc<Key>),
    /// The DPoP key (`"client_assertion_use_dpop_key": true`).
    DpopKey,
}

/// The grant the token endpoint is asked for (a refresh token, once there is one, is always
/// tried first).
pub(crate) enum GrantType {
    ClientCredentials,
    /// Only a refresh token the host obtained (e.g. a public client after the user signed in).
    RefreshToken(Zeroizing<String>),
    /// RFC 8693.
    TokenExchange {
        subject_token: Zeroizing<String>,
        subject_token_type: String,
        actor_token: Option<Zeroizing<String>>,
        actor_token_type: Option<String>,
        requested_token_type: Option<String>,
    },
    /// RFC 7523 §2.1.
    JwtBearer {
        assertion: Zeroizing<String>,
    },
    /// The authorization code flow with PKCE through the browser: no token without the user
    /// (a sign-in), then refresh tokens.
    AuthorizationCode(Box<SignInSettings>),
}

pub(crate) const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub(crate) const AUTHORIZATION_CODE: &str = "authorization_code";

impl GrantType {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::RefreshToken(_) => "refresh_token",
            GrantType::TokenExchange { .. } => TOKEN_EXCHANGE,
            GrantType::JwtBearer { .. } => JWT_BEARER,
            GrantType::AuthorizationCode(_) => AUTHORIZATION_CODE,
        }
    }
}

/// A security profile the settings follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Profile {
    None,
    /// FAPI 2.0 Security Profile: metadata, private_key_jwt, PS256/ES256/EdDSA, aud = issuer,
    /// the server's time.
    Fapi2,
}

/// The signature algorithms FAPI 2.0 allows (Security Profile §5.4.1).
pub(crate) const FAPI2_ALGS: [Algorithm; 3] = [Algorithm::Ps256, Algorithm::Es256, Algorithm::EdDsa];

/// The AuthToken settings.
pub(crate) struct AuthToken {
    pub(crate) client_id: String,
    pub(crate) client_auth: ClientAuth,
    /// The token endpoint as given; `None` when it comes from the issuer's metadata.
    pub(crate) token_endpoint: Option<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) grant: GrantType,
    pub(crate) scope: Option<String>,
    pub(crate) audience: Option<String>,
    pub(crate) resources: Vec<String>,
    pub(crate) extra_params: Vec<(String, String)>,
    pub(crate) profile: Profile,
    /// Whether proofs and assertions follow the server's clock (from its `Date` header).
    pub(crate) clock_correction: bool,
    /// The longest `Retry-After` waited for before the one retry of a 429 or 503.
    pub(crate) retry_after_max: Duration,
    /// The issuer's metadata once fetched; dropped after a token-endpoint failure.
    pub(crate) metadata: Mutex<Option<Arc<Metadata>>>,
    /// The settings as JSON without the secrets, for hosts that read them back.
    pub(crate) public_json: String,
}

/// The default of `retry_after_max`, in seconds.
pub(crate) const RETRY_AFTER_MAX_DEFAULT: u64 = 10;
/// The largest `retry_after_max` accepted, in seconds.
const RETRY_AFTER_MAX_LIMIT: u64 = 300;

const KNOWN_MEMBERS: [&str; 31] = [
    "client_id",
    "client_secret",
    "token_endpoint",
    "issuer",
    "scope",
    "audience",
    "resource",
    "auth_method",
    "extra_params",
    "client_assertion_key",
    "client_assertion_key_password",
    "client_assertion_kid",
    "client_assertion_use_dpop_key",
    "grant_type",
    "refresh_token",
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
    "assertion",
    "profile",
    "clock_correction",
    "retry_after_max",
    "client_assertion_alg",
    // grant_type authorization_code (sign_in::settings::MEMBERS)
    "redirect_uri",
    "authorization_endpoint",
    "par",
    "pushed_authorization_request_endpoint",
    "authorization_params",
    "sign_in_timeout",
];

/// Members that hold a secret: never read back, never in an error text.
const SECRET_MEMBERS: [&str; 7] = [
    "client_secret",
    "client_assertion_key_password",
    "refresh_token",
    "subject_token",
    "actor_token",
    "assertion",
    "client_assertion_key",
];

pub(crate) fn config_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::TokenConfig, message)
}

fn profile_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::ProfileViolation, message)
}

/// Reads the members of the settings object.
pub(crate) struct Members<'a>(&'a Map<String, Value>);

impl Members<'_> {
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    pub(crate) fn text(&self, name: &str) -> Result<Option<String>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(config_error(format!(
                "the token setting '{name}' is not a string"
            ))),
        }
    }

    pub(crate) fn secret(&self, name: &str) -> Result<Option<Zeroizing<String>>> {
        Ok(self.text(name)?.map(Zeroizing::new))
    }

    pub(crate) fn required(&self, name: &str, why: &str) -> Result<String> {
        self.text(name)?
            .ok_or_else(|| config_error(format!("the token settings lack '{name}'{why}")))
    }

    pub(crate) fn flag(&self, name: &str) -> Result<Option<bool>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(config_error(format!(
                "the token setting '{name}' is not true or false"
            ))),
        }
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        !matches!(self.0.get(name), None | Some(Value::Null))
    }
}

fn absolute_url(name: &str, value: &str) -> Result<()> {
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        _ => Err(config_error(format!(
            "the {name} '{}' is not an absolute http(s) URL",
            crate::redact::url(value)
        ))),
    }
}

impl AuthToken {
    /// Parses the AuthToken JSON (the members are documented in the README's settings table
    /// and in the C header). A `client_assertion_key` file is read here.
    pub(crate) fn from_json(json: &str) -> Result<Self> {
        let value = serde_json::from_str(json)
            .map(crate::json::SecretJson::new)
            .map_err(|e| config_error(format!("the token settings are not valid JSON: {e}")))?;
        let Value::Object(object) = &*value else {
            return Err(config_error("the token settings are not a JSON object"));
        };
        if let Some(unknown) = object.keys().find(|k| !KNOWN_MEMBERS.contains(&k.as_str())) {
            return Err(config_error(format!(
                "unknown token setting '{unknown}' (known: {})",
                KNOWN_MEMBERS.join(", ")
            )));
        }
        let m = Members(object);
        let profile = match m.text("profile")?.as_deref() {
            None => Profile::None,
            Some(p) if p.eq_ignore_ascii_case("fapi2") => Profile::Fapi2,
            Some(other) => return Err(config_error(format!("unknown profile '{other}': use fapi2"))),
        };
        let issuer = m.text("issuer")?;
        if let Some(issuer) = &issuer {
            absolute_url("issuer", issuer)?;
        }
        let token_endpoint = m.text("token_endpoint")?;
        match (&token_endpoint, &issuer) {
            (Some(endpoint), _) => absolute_url("token_endpoint", endpoint)?,
            (None, Some(_)) => {}
            (None, None) => {
                return Err(config_error(
                    "the token settings lack 'token_endpoint' (or 'issuer', to take it from the server's metadata)",
                ))
            }
        }
        let client_auth = client_auth(&m)?;
        let grant = grant_type(&m, issuer.is_some(), profile == Profile::Fapi2)?;
        let resources = match object.get("resource") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| config_error("the token setting 'resource' holds a non-string"))?,
            Some(_) => {
                return Err(config_error(
                    "the token setting 'resource' is not a string or an array",
                ))
            }
        };
        let extra_params = match object.get("extra_params") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(map)) => string_pairs(map)?,
            Some(_) => return Err(config_error("the token setting 'extra_params' is not an object")),
        };
        let retry_after_max = match object.get("retry_after_max") {
            None | Some(Value::Null) => Duration::from_secs(RETRY_AFTER_MAX_DEFAULT),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(secs) if secs <= RETRY_AFTER_MAX_LIMIT => Duration::from_secs(secs),
                _ => {
                    return Err(config_error(format!(
                        "the token setting 'retry_after_max' must be whole seconds from 0 to {RETRY_AFTER_MAX_LIMIT}"
                    )))
                }
            },
            Some(_) => return Err(config_error("the token setting 'retry_after_max' is not a number")),
        };
        let clock_correction = m.flag("clock_correction")?.unwrap_or(true);
        let scope = m.text("scope")?;
        let openid = scope
            .as_deref()
            .is_some_and(|s| s.split(' ').any(|x| x == "openid"));
        if openid && issuer.is_none() && matches!(grant, GrantType::AuthorizationCode(_)) {
            return Err(config_error(
                "scope 'openid' makes libdpop check the id_token's issuer: give 'issuer'",
            ));
        }
        let settings = Self {
            public_json: public_json(object),
            client_id: m.required("client_id", "")?,
            client_auth,
            token_endpoint,
            issuer,
            grant,
            scope,
            audience: m.text("audience")?,
            resources,
            extra_params,
            profile,
            clock_correction,
            retry_after_max,
            metadata: Mutex::new(None),
        };
        if profile == Profile::Fapi2 {
            settings.check_fapi2()?;
        }
        Ok(settings)
    }

    /// FAPI 2.0 rules that the settings alone decide (the DPoP key is checked when it signs).
    fn check_fapi2(&self) -> Result<()> {
        if self.issuer.is_none() {
            return Err(profile_error(
                "the FAPI 2.0 profile takes the endpoints from the server's metadata: give 'issuer'",
            ));
        }
        if !self.clock_correction {
            return Err(profile_error(
                "the FAPI 2.0 profile follows the server's clock: 'clock_correction' cannot be false",
            ));
        }
        match &self.client_auth {
            ClientAuth::PrivateKeyJwt { key, .. } => {
                if let AssertionKey::Own(key) = key {
                    check_fapi2_alg(key.alg(), "client assertion key")?;
                }
                Ok(())
            }
            other => Err(profile_error(format!(
                "the FAPI 2.0 profile allows only private_key_jwt client authentication (or mTLS, \
                 which libdpop does not offer): '{}' is refused",
                other.name()
            ))),
        }
    }

    /// The strings of the settings that must never reach a log or an error text.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.client_auth.secret().into_iter().collect();
        match &self.grant {
            GrantType::ClientCredentials => {}
            GrantType::RefreshToken(rt) => out.push(rt),
            GrantType::TokenExchange {
                subject_token,
                actor_token,
                ..
            } => {
                out.push(subject_token);
                out.extend(actor_token.as_deref().map(String::as_str));
            }
            GrantType::JwtBearer { assertion } => out.push(assertion),
            GrantType::AuthorizationCode(_) => {}
        }
        out
    }

    /// The refresh token the host gave with `grant_type` refresh_token, if any.
    pub(crate) fn given_refresh_token(&self) -> Option<&Zeroizing<String>> {
        match &self.grant {
            GrantType::RefreshToken(rt) => Some(rt),
            _ => None,
        }
    }

    /// Whether proofs follow the server's clock even for a small offset.
    pub(crate) fn strict_time(&self) -> bool {
        self.profile == Profile::Fapi2
    }
}

/// Refuses, under FAPI 2.0, an algorithm outside PS256, ES256 and EdDSA.
pub(crate) fn check_fapi2_alg(alg: Algorithm, what: &str) -> Result<()> {
    if FAPI2_ALGS.contains(&alg) {
        return Ok(());
    }
    Err(profile_error(format!(
        "the FAPI 2.0 profile allows PS256, ES256 and EdDSA only: the {what} signs with {}",
        alg.name()
    )))
}

fn client_auth(m: &Members<'_>) -> Result<ClientAuth> {
    let method = m.text("auth_method")?;
    let assertion_members = [
        "client_assertion_key",
        "client_assertion_key_password",
        "client_assertion_kid",
        "client_assertion_use_dpop_key",
        "client_assertion_alg",
    ];
    if method.as_deref() != Some("private_key_jwt") {
        if let Some(name) = assertion_members.iter().find(|n| m.has(n)) {
            return Err(config_error(format!(
                "the token setting '{name}' belongs to auth_method private_key_jwt"
            )));
        }
    }
    let secret = |why: &str| -> Result<Zeroizing<String>> {
        m.secret("client_secret")?
            .ok_or_else(|| config_error(format!("the token settings lack 'client_secret'{why}")))
    };
    let no_secret = |method: &str| -> Result<()> {
        if m.has("client_secret") {
            return Err(config_error(format!(
                "auth_method {method} sends no client secret: remove 'client_secret'"
            )));
        }
        Ok(())
    };
    let public_by_default =
        m.text("grant_type")?.as_deref() == Some(AUTHORIZATION_CODE) && !m.has("client_secret");
    Ok(match method.as_deref() {
        // A desktop application signing a user in is usually a public client (RFC 8252 §8.4).
        None if public_by_default => ClientAuth::None,
        None | Some("client_secret_post") => ClientAuth::SecretPost(secret("")?),
        Some("client_secret_basic") => ClientAuth::SecretBasic(secret("")?),
        Some("client_secret_jwt") => ClientAuth::SecretJwt(secret(" (client_secret_jwt signs with it)")?),
        Some("none") => {
            no_secret("none")?;
            ClientAuth::None
        }
        Some("private_key_jwt") => {
            no_secret("private_key_jwt")?;
            let use_dpop_key = m.flag("client_assertion_use_dpop_key")?.unwrap_or(false);
            let key = match (m.0.get("client_assertion_key"), use_dpop_key) {
                (None | Some(Value::Null), true) => AssertionKey::DpopKey,
                (Some(v), false) if !v.is_null() => {
                    let password = m.secret("client_assertion_key_password")?;
                    let key = load_assertion_key(v, password.as_deref().map(String::as_str))?;
                    let key = match m.text("client_assertion_alg")? {
                        None => key,
                        Some(name) => key
                            .with_alg(Algorithm::from_name(&name).map_err(|e| {
                                config_error(format!("client_assertion_alg: {}", e.message()))
                            })?)
                            .map_err(|e| config_error(format!("client_assertion_alg: {}", e.message())))?,
                    };
                    AssertionKey::Own(Arc::new(key))
                }
                (_, true) => {
                    return Err(config_error(
                        "give either 'client_assertion_key' or 'client_assertion_use_dpop_key', not both",
                    ))
                }
                _ => {
                    return Err(config_error(
                        "auth_method private_key_jwt needs 'client_assertion_key' (a key file, PEM or JWK) \
                         or 'client_assertion_use_dpop_key': true",
                    ))
                }
            };
            if use_dpop_key && m.has("client_assertion_alg") {
                return Err(config_error(
                    "'client_assertion_alg' applies to 'client_assertion_key'; the DPoP key signs with its own algorithm",
                ));
            }
            ClientAuth::PrivateKeyJwt {
                key,
                kid: m.text("client_assertion_kid")?,
            }
        }
        Some(other) => {
            return Err(config_error(format!(
                "unsupported auth_method '{other}': use client_secret_post, client_secret_basic, \
                 client_secret_jwt, private_key_jwt or none"
            )))
        }
    })
}

/// The assertion key from a file path, PEM or JWK text, or a JWK object.
fn load_assertion_key(value: &Value, password: Option<&str>) -> Result<Key> {
    let loaded = match value {
        Value::String(s) => {
            let trimmed = s.trim_start();
            if trimmed.starts_with("-----BEGIN") || trimmed.starts_with('{') {
                Key::load_memory(s.as_bytes(), password)
            } else {
                Key::load(std::path::Path::new(s), password)
            }
        }
        Value::Object(_) => {
            let text = Zeroizing::new(value.to_string());
            Key::load_memory(text.as_bytes(), password)
        }
        _ => {
            return Err(config_error(
                "the token setting 'client_assertion_key' is not a string or a JWK object",
            ))
        }
    };
    loaded.map_err(|e| {
        Error::new(
            ErrorKind::AssertionKey,
            format!("the client_assertion_key does not load: {}", e.message()),
        )
    })
}

fn grant_type(m: &Members<'_>, issuer: bool, fapi2: bool) -> Result<GrantType> {
    let grant = m.text("grant_type")?;
    let owned: [(&str, &[&str]); 4] = [
        ("refresh_token", &["refresh_token"]),
        (
            TOKEN_EXCHANGE,
            &[
                "subject_token",
                "subject_token_type",
                "actor_token",
                "actor_token_type",
                "requested_token_type",
            ],
        ),
        (JWT_BEARER, &["assertion"]),
        (AUTHORIZATION_CODE, &crate::http::sign_in::MEMBERS),
    ];
    for (owner, members) in owned {
        if grant.as_deref() != Some(owner) {
            if let Some(name) = members.iter().find(|n| m.has(n)) {
                return Err(config_error(format!(
                    "the token setting '{name}' belongs to grant_type {owner}"
                )));
            }
        }
    }
    let secret = |name: &str| -> Result<Zeroizing<String>> {
        m.secret(name)?
            .ok_or_else(|| config_error(format!("the token settings lack '{name}' for their grant_type")))
    };
    Ok(match grant.as_deref() {
        None | Some("client_credentials") => GrantType::ClientCredentials,
        Some("refresh_token") => GrantType::RefreshToken(secret("refresh_token")?),
        Some(TOKEN_EXCHANGE) => {
            let actor_token = m.secret("actor_token")?;
            let actor_token_type = m.text("actor_token_type")?;
            if actor_token.is_some() != actor_token_type.is_some() {
                return Err(config_error(
                    "'actor_token' and 'actor_token_type' go together (RFC 8693 §2.1)",
                ));
            }
            GrantType::TokenExchange {
                subject_token: secret("subject_token")?,
                subject_token_type: m.required("subject_token_type", " (RFC 8693 §2.1)")?,
                actor_token,
                actor_token_type,
                requested_token_type: m.text("requested_token_type")?,
            }
        }
        Some(JWT_BEARER) => GrantType::JwtBearer {
            assertion: secret("assertion")?,
        },
        Some(AUTHORIZATION_CODE) => {
            GrantType::AuthorizationCode(Box::new(crate::http::sign_in::parse_settings(m, issuer, fapi2)?))
        }
        Some(other) => {
            return Err(config_error(format!(
                "unsupported grant_type '{other}': use client_credentials, refresh_token, \
                 {AUTHORIZATION_CODE}, {TOKEN_EXCHANGE} or {JWT_BEARER}"
            )))
        }
    })
}

/// The settings without their secrets. A `client_assertion_key` that is a file path stays
/// (it says which key is used); key material does not.
fn public_json(object: &Map<String, Value>) -> String {
    let is_path = |v: &Value| {
        v.as_str().is_some_and(|s| {
            let t = s.trim_start();
            !t.starts_with("-----BEGIN") && !t.starts_with('{')
        })
    };
    let public: Map<String, Value> = object
        .iter()
        .filter(|(k, v)| {
            !SECRET_MEMBERS.contains(&k.as_str()) || (k.as_str() == "client_assertion_key" && is_path(v))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(public).to_string()
}

fn string_pairs(map: &Map<String, Value>) -> Result<Vec<(String, String)>> {
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(config_error(format!("the extra parameter '{k}' is not a string"))),
        })
        .collect()
}

#[cfg(test)]
mod tests;
