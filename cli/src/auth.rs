//! How get/post/request authenticate: token settings (an AuthToken JSON file and flags that
//! set or override its members), a token obtained elsewhere, or neither (a proof alone).

use crate::args::Args;
use crate::exit::{Exit, Failure};
use crate::input::{self, CLIENT_SECRET_VAR};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// Flags that set AuthToken members, and the member each sets.
const MEMBER_FLAGS: [(&str, &str); 4] = [
    ("client-id", "client_id"),
    ("token-endpoint", "token_endpoint"),
    ("scope", "scope"),
    ("auth-method", "auth_method"),
];

pub enum Auth {
    /// No token: requests carry a proof only.
    None,
    /// The AuthToken JSON, client secret included: tokens come from the token endpoint.
    Settings(Zeroizing<String>),
    /// An access token the user obtained elsewhere.
    Token(Zeroizing<String>),
}

impl Auth {
    pub fn from_args(args: &Args) -> Result<Auth, Failure> {
        let file = args.value("auth-token");
        let settings_given = file.is_some()
            || args.flag("client-secret")
            || MEMBER_FLAGS.iter().any(|(flag, _)| args.flag(flag));
        let token = match (args.value("access-token"), args.value("access-token-file")) {
            (Some(_), Some(_)) => {
                return Err(Failure::usage(
                    "give --access-token or --access-token-file, not both",
                ))
            }
            (Some(token), None) => {
                input::warn_visible("--access-token", "--access-token-file");
                Some(Zeroizing::new(token.to_string()))
            }
            (None, Some(path)) => Some(input::secret_file(path, "the access token")?),
            (None, None) => None,
        };
        match token {
            Some(_) if settings_given => Err(Failure::usage(
                "an access token (--access-token, --access-token-file) and token settings \
                 (--auth-token, --client-id, ...) exclude each other",
            )),
            Some(token) => Ok(Auth::Token(token)),
            None if settings_given => settings(args, file).map(Auth::Settings),
            None => Ok(Auth::None),
        }
    }
}

/// The AuthToken JSON: the file's members, the flags over them, and the client secret from
/// `--client-secret`, the file or `DPOP_CLIENT_SECRET`, in that order.
fn settings(args: &Args, file: Option<&str>) -> Result<Zeroizing<String>, Failure> {
    let mut members = match file {
        Some(path) => {
            let data = input::read(path, "the token settings", Exit::Usage)?;
            match serde_json::from_slice(&data) {
                Ok(Value::Object(members)) => members,
                // serde_json's messages give a position, never the text.
                Err(e) => {
                    return Err(Failure::usage(format!(
                        "the token settings in '{path}' are not valid JSON: {e}"
                    )))
                }
                Ok(_) => {
                    return Err(Failure::usage(format!(
                        "the token settings in '{path}' are not a JSON object"
                    )))
                }
            }
        }
        None => Map::new(),
    };
    let mut secret = match members.remove("client_secret") {
        Some(Value::String(secret)) if !secret.is_empty() => Some(Zeroizing::new(secret)),
        Some(Value::String(_) | Value::Null) | None => None,
        Some(_) => {
            return Err(Failure::usage(
                "the token setting 'client_secret' is not a string",
            ))
        }
    };
    for (flag, member) in MEMBER_FLAGS {
        if let Some(value) = args.value(flag) {
            members.insert(member.to_string(), Value::String(value.to_string()));
        }
    }
    if let Some(value) = args.value("client-secret") {
        input::warn_visible(
            "--client-secret",
            &format!("{CLIENT_SECRET_VAR} or an --auth-token file"),
        );
        secret = Some(Zeroizing::new(value.to_string()));
    }
    let secret = secret
        .or_else(|| input::secret_var(CLIENT_SECRET_VAR))
        .ok_or_else(|| {
            Failure::usage(format!(
                "the token settings have no client secret: set {CLIENT_SECRET_VAR} or put client_secret in the --auth-token file"
            ))
        })?;
    // The JSON is built around the secret rather than through a Value, in buffers sized in
    // advance (JSON escaping at most sextuples a character), so that the copies made here are
    // zeroed when dropped.
    let mut quoted = Zeroizing::new(Vec::with_capacity(secret.len() * 6 + 2));
    serde_json::to_writer(&mut *quoted, secret.as_str()).expect("a string serialises to JSON");
    let quoted = std::str::from_utf8(&quoted).expect("serde_json writes UTF-8");
    let rest = Value::Object(members).to_string();
    let mut json = Zeroizing::new(String::with_capacity(quoted.len() + rest.len() + 20));
    json.push_str(r#"{"client_secret":"#);
    json.push_str(quoted);
    match rest.strip_prefix('{').filter(|members| *members != "}") {
        Some(members) => {
            json.push(',');
            json.push_str(members);
        }
        None => json.push('}'),
    }
    Ok(json)
}
