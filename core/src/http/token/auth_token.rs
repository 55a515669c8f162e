//! The token settings: Chilkat's `AuthToken` JSON, which says how to obtain tokens.

use crate::error::{Error, ErrorKind, Result};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthMethod {
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// HTTP Basic with the form-urlencoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
}

/// The AuthToken settings: the client_credentials grant's client, endpoint and parameters.
pub(crate) struct AuthToken {
    pub(crate) client_id: String,
    pub(crate) client_secret: Zeroizing<String>,
    pub(crate) token_endpoint: String,
    pub(crate) scope: Option<String>,
    pub(crate) audience: Option<String>,
    pub(crate) resources: Vec<String>,
    pub(crate) auth_method: AuthMethod,
    pub(crate) extra_params: Vec<(String, String)>,
    /// The settings as JSON without the client secret, for hosts that read them back.
    pub(crate) public_json: String,
}

const KNOWN_MEMBERS: [&str; 8] = [
    "client_id",
    "client_secret",
    "token_endpoint",
    "scope",
    "audience",
    "resource",
    "auth_method",
    "extra_params",
];

fn config_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::TokenConfig, message)
}

impl AuthToken {
    /// Parses the AuthToken JSON:
    /// `{"client_id", "client_secret", "token_endpoint", "scope"?, "audience"?,
    ///   "resource"? (string or array), "auth_method"? ("client_secret_post" | "client_secret_basic"),
    ///   "extra_params"? (object of strings)}`.
    pub(crate) fn from_json(json: &str) -> Result<Self> {
        let value = serde_json::from_str(json)
            .map(crate::json::SecretJson::new)
            .map_err(|e| config_error(format!("the token settings are not valid JSON: {e}")))?;
        let Value::Object(members) = &*value else {
            return Err(config_error("the token settings are not a JSON object"));
        };
        if let Some(unknown) = members.keys().find(|k| !KNOWN_MEMBERS.contains(&k.as_str())) {
            return Err(config_error(format!(
                "unknown token setting '{unknown}' (known: {})",
                KNOWN_MEMBERS.join(", ")
            )));
        }
        let text = |name: &str| -> Result<Option<String>> {
            match members.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(config_error(format!(
                    "the token setting '{name}' is not a string"
                ))),
            }
        };
        let required = |name: &str| -> Result<String> {
            text(name)?.ok_or_else(|| config_error(format!("the token settings lack '{name}'")))
        };
        let token_endpoint = required("token_endpoint")?;
        if url::Url::parse(&token_endpoint).is_err() {
            return Err(config_error(format!(
                "the token_endpoint '{}' is not an absolute URL",
                crate::redact::url(&token_endpoint)
            )));
        }
        let auth_method = match text("auth_method")?.as_deref() {
            None | Some("client_secret_post") => AuthMethod::ClientSecretPost,
            Some("client_secret_basic") => AuthMethod::ClientSecretBasic,
            Some(other) => {
                return Err(config_error(format!(
                    "unsupported auth_method '{other}': use client_secret_post or client_secret_basic"
                )))
            }
        };
        let resources = match members.get("resource") {
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
        let extra_params = match members.get("extra_params") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(map)) => string_pairs(map)?,
            Some(_) => return Err(config_error("the token setting 'extra_params' is not an object")),
        };
        let mut public = members.clone();
        public.remove("client_secret");
        Ok(Self {
            public_json: Value::Object(public).to_string(),
            client_id: required("client_id")?,
            client_secret: Zeroizing::new(required("client_secret")?),
            token_endpoint,
            scope: text("scope")?,
            audience: text("audience")?,
            resources,
            auth_method,
            extra_params,
        })
    }
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
mod tests {
    use super::*;

    const SETTINGS: &str = r#"{"client_id":"m2m.dpop","client_secret":"secret","token_endpoint":"https://as.example/connect/token","scope":"api"}"#;

    #[test]
    fn settings_parse_like_chilkat_auth_token_json() {
        let s = AuthToken::from_json(SETTINGS).unwrap();
        assert_eq!(s.client_id, "m2m.dpop");
        assert_eq!(s.client_secret.as_str(), "secret");
        assert_eq!(s.scope.as_deref(), Some("api"));
        assert_eq!(s.auth_method, AuthMethod::ClientSecretPost);
        assert_eq!(
            s.public_json,
            r#"{"client_id":"m2m.dpop","scope":"api","token_endpoint":"https://as.example/connect/token"}"#,
            "read back without the secret"
        );
        let s = AuthToken::from_json(
            r#"{"client_id":"a","client_secret":"b","token_endpoint":"https://as/t","auth_method":"client_secret_basic",
                "resource":["https://r1","https://r2"],"audience":"aud","extra_params":{"x":"1"}}"#,
        )
        .unwrap();
        assert_eq!(s.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(s.resources, ["https://r1", "https://r2"]);
        assert_eq!(s.extra_params, [("x".to_string(), "1".to_string())]);
    }

    #[test]
    fn bad_settings_are_named() {
        let err = |json: &str| AuthToken::from_json(json).err().unwrap().message().to_string();
        assert!(err("[1]").contains("not a JSON object"));
        assert!(err("{").contains("not valid JSON"));
        assert!(err(r#"{"client_id":"a","client_secret":"b"}"#).contains("lack 'token_endpoint'"));
        assert!(err(r#"{"clientid":"a"}"#).contains("unknown token setting 'clientid'"));
        assert!(
            err(r#"{"client_id":"a","client_secret":"b","token_endpoint":"/t"}"#).contains("absolute URL")
        );
        assert!(err(r#"{"client_id":"a","client_secret":"b","token_endpoint":"https://a/t","auth_method":"private_key_jwt"}"#)
            .contains("unsupported auth_method"));
        assert!(
            err(r#"{"client_id":1,"client_secret":"b","token_endpoint":"https://a/t"}"#)
                .contains("not a string")
        );
        // The secret never appears in an error.
        assert!(
            !err(r#"{"client_secret":"hunter2hunter2","token_endpoint":"https://a/t"}"#).contains("hunter2")
        );
    }
}
