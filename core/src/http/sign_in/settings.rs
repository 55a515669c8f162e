//! The sign-in members of the AuthToken settings (`"grant_type": "authorization_code"`): the
//! loopback redirect, the endpoints the metadata may supply instead, PAR, the host's extra
//! authorization-request parameters and how long the listener waits.

use crate::error::Result;
use crate::http::token::{config_error, Members};
use serde_json::Value;
use std::time::Duration;

/// The members that belong to grant_type authorization_code only.
pub(crate) const MEMBERS: [&str; 6] = [
    "redirect_uri",
    "authorization_endpoint",
    "par",
    "pushed_authorization_request_endpoint",
    "authorization_params",
    "sign_in_timeout",
];

/// The default of `sign_in_timeout`, in seconds.
const TIMEOUT_DEFAULT: u64 = 300;
/// The longest `sign_in_timeout` accepted, in seconds (a day).
const TIMEOUT_LIMIT: u64 = 86_400;

/// Authorization-request parameters libdpop sets itself, which `authorization_params` may not
/// give (`resource` has its own setting).
const RESERVED_PARAMS: [&str; 12] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "dpop_jkt",
    "request_uri",
    "request",
    "resource",
];

/// How a sign-in runs.
#[derive(Debug)]
pub(crate) struct SignInSettings {
    /// The port of `redirect_uri` (0: any free port).
    pub(crate) port: u16,
    /// The path of `redirect_uri`, `/` when it has none.
    pub(crate) path: String,
    /// The authorization endpoint as given; `None` when it comes from the metadata.
    pub(crate) authorization_endpoint: Option<String>,
    /// The PAR endpoint as given; `None` when it comes from the metadata.
    pub(crate) par_endpoint: Option<String>,
    /// PAR (RFC 9126) even when the metadata does not require it.
    pub(crate) par: bool,
    /// Extra authorization-request parameters, in the order given.
    pub(crate) params: Vec<(String, String)>,
    /// How long the listener waits for the browser, from the start of the sign-in.
    pub(crate) timeout: Duration,
}

impl SignInSettings {
    /// The `redirect_uri` sent for a listener bound to `port`.
    pub(crate) fn redirect_uri(&self, port: u16) -> String {
        format!("http://127.0.0.1:{port}{}", self.path)
    }
}

/// Parses the sign-in members. `issuer` tells whether the endpoints may come from metadata;
/// `fapi2` forces PAR (FAPI 2.0 Security Profile §5.3.1.2).
pub(crate) fn parse(m: &Members<'_>, issuer: bool, fapi2: bool) -> Result<SignInSettings> {
    let redirect = m.required(
        "redirect_uri",
        " for grant_type authorization_code (e.g. \"http://127.0.0.1:0/callback\", 0: any free port)",
    )?;
    let (port, path) = redirect_uri(&redirect)?;
    let endpoint = |name: &str| -> Result<Option<String>> {
        let value = m.text(name)?;
        if let Some(value) = &value {
            match url::Url::parse(value) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => {
                    return Err(config_error(format!(
                        "the {name} '{}' is not an absolute http(s) URL",
                        crate::redact::url(value)
                    )))
                }
            }
        }
        Ok(value)
    };
    let authorization_endpoint = endpoint("authorization_endpoint")?;
    if authorization_endpoint.is_none() && !issuer {
        return Err(config_error(
            "grant_type authorization_code needs 'authorization_endpoint' (or 'issuer', to take it \
             from the server's metadata)",
        ));
    }
    let par_endpoint = endpoint("pushed_authorization_request_endpoint")?;
    let par = m.flag("par")?.unwrap_or(false) || fapi2;
    if par && par_endpoint.is_none() && !issuer {
        return Err(config_error(
            "PAR needs 'pushed_authorization_request_endpoint' (or 'issuer', to take it from the \
             server's metadata)",
        ));
    }
    let params = match m.get("authorization_params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(name, value)| {
                if RESERVED_PARAMS.contains(&name.as_str()) {
                    return Err(config_error(format!(
                        "the authorization parameter '{name}' is set by libdpop and cannot be given in \
                         'authorization_params'{}",
                        match name.as_str() {
                            "scope" => " (use the setting 'scope')",
                            "resource" => " (use the setting 'resource')",
                            _ => "",
                        }
                    )));
                }
                match value {
                    Value::String(s) => Ok((name.clone(), s.clone())),
                    _ => Err(config_error(format!(
                        "the authorization parameter '{name}' is not a string"
                    ))),
                }
            })
            .collect::<Result<_>>()?,
        Some(_) => {
            return Err(config_error(
                "the token setting 'authorization_params' is not an object",
            ))
        }
    };
    let timeout = match m.get("sign_in_timeout") {
        None | Some(Value::Null) => Duration::from_secs(TIMEOUT_DEFAULT),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(secs) if (1..=TIMEOUT_LIMIT).contains(&secs) => Duration::from_secs(secs),
            _ => {
                return Err(config_error(format!(
                    "the token setting 'sign_in_timeout' must be whole seconds from 1 to {TIMEOUT_LIMIT}"
                )))
            }
        },
        Some(_) => {
            return Err(config_error(
                "the token setting 'sign_in_timeout' is not a number",
            ))
        }
    };
    Ok(SignInSettings {
        port,
        path,
        authorization_endpoint,
        par_endpoint,
        par,
        params,
        timeout,
    })
}

/// The port and path of a loopback redirect URI: `http://127.0.0.1:PORT/PATH` (RFC 8252 §7.3),
/// nothing else.
fn redirect_uri(value: &str) -> Result<(u16, String)> {
    let refused = |why: &str| {
        config_error(format!(
            "the redirect_uri '{}' {why}: use http://127.0.0.1:PORT/PATH (RFC 8252 §7.3; PORT 0 = any \
             free port)",
            crate::redact::url(value)
        ))
    };
    let parsed = url::Url::parse(value).map_err(|_| refused("is not a URL"))?;
    match parsed.scheme() {
        "http" => {}
        "https" => {
            return Err(refused(
                "is https: the loopback listener has no certificate, and RFC 8252 §7.3 redirects are \
                 plain http to 127.0.0.1",
            ))
        }
        _ => return Err(refused("is not an http URL")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refused("holds user info"));
    }
    match parsed.host() {
        Some(url::Host::Ipv4(ip)) if ip == std::net::Ipv4Addr::LOCALHOST => {}
        _ => {
            return Err(refused(
                "is not on 127.0.0.1 (the listener is loopback only; 'localhost' may resolve \
                 elsewhere, RFC 8252 §8.3)",
            ))
        }
    }
    // The url crate drops a port equal to the scheme's default: read it from the text.
    let authority = value
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .unwrap_or_default();
    let port = authority
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .ok_or_else(|| refused("has no port"))?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(refused("has a query or a fragment"));
    }
    Ok((port, parsed.path().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_redirects_with_a_port_are_accepted() {
        assert_eq!(
            redirect_uri("http://127.0.0.1:0/callback").unwrap(),
            (0, "/callback".to_string())
        );
        assert_eq!(
            redirect_uri("http://127.0.0.1:8400").unwrap(),
            (8400, "/".to_string())
        );
        assert_eq!(redirect_uri("http://127.0.0.1:80/x").unwrap().0, 80);
        for (uri, why) in [
            ("https://127.0.0.1:0/cb", "is https"),
            ("http://localhost:0/cb", "not on 127.0.0.1"),
            ("http://192.168.1.2:0/cb", "not on 127.0.0.1"),
            ("http://[::1]:0/cb", "not on 127.0.0.1"),
            ("http://127.0.0.1/cb", "has no port"),
            ("http://127.0.0.1:0/cb?x=1", "query"),
            ("http://127.0.0.1:0/cb#f", "fragment"),
            ("http://u:p@127.0.0.1:0/cb", "user info"),
            ("myapp:/cb", "not an http URL"),
            ("not a url", "is not a URL"),
        ] {
            let e = redirect_uri(uri).unwrap_err();
            assert!(e.message().contains(why), "{uri}: {}", e.message());
            assert!(!e.message().contains("u:p@"), "{}", e.message());
        }
    }
}
