//! The key commands: keygen, thumbprint, jwk, proof.

use crate::args::{flag, parse, value, Args, Opt};
use crate::exit::{Exit, Failure};
use crate::input::{self, KEY_PASSWORD_VAR};
use crate::output;
use dpop_core::{Algorithm, Key, Proof};
use std::ffi::OsString;
use std::path::Path;

/// Loads the key at `path` (`-`: stdin); the password from `--password-file` or
/// `DPOP_KEY_PASSWORD`, used only if the key is encrypted.
pub fn load(path: &str, password_file: Option<&str>) -> Result<Key, Failure> {
    let password = input::key_password(password_file)?;
    let password = password.as_deref().map(String::as_str);
    let loaded = if path == "-" {
        let data = input::read(path, "the key", Exit::Key)?;
        Key::load_memory(&data, password)
    } else {
        Key::load(Path::new(path), password)
    };
    loaded.map_err(|e| {
        let shown = if path == "-" { "from stdin" } else { path };
        let message = match e.kind() {
            // The core's I/O message already names the file.
            dpop_core::ErrorKind::Io => e.message().to_string(),
            dpop_core::ErrorKind::KeyPasswordRequired => format!(
                "cannot load the key '{shown}': {} (set {KEY_PASSWORD_VAR} or use --password-file)",
                e.message()
            ),
            _ => format!("cannot load the key '{shown}': {}", e.message()),
        };
        Failure::new(Exit::Key, message)
    })
}

const KEYGEN: [Opt; 5] = [
    value("alg"),
    value("out"),
    flag("password"),
    value("password-file"),
    flag("force"),
];

pub fn keygen(raw: Vec<OsString>) -> Result<Exit, Failure> {
    let args = parse(&KEYGEN, raw)?;
    if args.help {
        return output::help(crate::help::KEYGEN);
    }
    if !args.operands.is_empty() {
        // Not repeated: it may be a password typed after --password.
        return Err(Failure::usage(format!(
            "no operands are taken (passwords come from {KEY_PASSWORD_VAR} or --password-file, never from the command line)"
        )));
    }
    let alg = Algorithm::from_name(args.value("alg").unwrap_or("ES256"))?;
    let password = if let Some(path) = args.value("password-file") {
        Some(input::secret_file(path, "the key password")?)
    } else if args.flag("password") {
        Some(input::secret_var(KEY_PASSWORD_VAR).ok_or_else(|| {
            Failure::usage(format!(
                "--password: set {KEY_PASSWORD_VAR} or use --password-file FILE"
            ))
        })?)
    } else {
        None
    };
    let password = password.as_deref().map(String::as_str);
    let key = Key::generate(alg)?;
    match args.value("out") {
        Some(out) => {
            let path = Path::new(out);
            if path.exists() || path.is_symlink() {
                if !args.flag("force") {
                    return Err(Failure::usage(format!(
                        "'{out}' exists: a token is bound to its key, so it is kept (--force replaces it)"
                    )));
                }
                // Removed rather than truncated, so that the new file is created owner-only
                // whatever the old one's permissions were.
                std::fs::remove_file(path)
                    .map_err(|e| Failure::new(Exit::Other, format!("cannot replace '{out}': {e}")))?;
            }
            key.save_private_pem(path, password)
                .map_err(|e| Failure::new(Exit::Other, e.message()))?;
            eprintln!(
                "dpop: {} key written to {out} (readable by its owner only{}), thumbprint: {}",
                alg.name(),
                if password.is_some() { ", encrypted" } else { "" },
                key.thumbprint()
            );
        }
        None => {
            let pem = key.private_pem(password)?;
            output::stdout(pem.as_bytes())?;
            eprintln!("dpop: {} key, thumbprint: {}", alg.name(), key.thumbprint());
        }
    }
    Ok(Exit::Success)
}

const KEY_INFO: [Opt; 1] = [value("password-file")];
const JWK: [Opt; 2] = [value("password-file"), flag("private")];

/// The one operand of thumbprint and jwk: the key file.
fn key_operand(args: &Args, command: &str) -> Result<Key, Failure> {
    match args.operands.as_slice() {
        [path] => load(path, args.value("password-file")),
        [] => Err(Failure::usage(format!(
            "a key file is needed: dpop {command} KEY"
        ))),
        _ => Err(Failure::usage("one key file is taken")),
    }
}

pub fn thumbprint(raw: Vec<OsString>) -> Result<Exit, Failure> {
    let args = parse(&KEY_INFO, raw)?;
    if args.help {
        return output::help(crate::help::THUMBPRINT);
    }
    let key = key_operand(&args, "thumbprint")?;
    output::line(key.thumbprint())?;
    Ok(Exit::Success)
}

pub fn jwk(raw: Vec<OsString>) -> Result<Exit, Failure> {
    let args = parse(&JWK, raw)?;
    if args.help {
        return output::help(crate::help::JWK);
    }
    let key = key_operand(&args, "jwk")?;
    if args.flag("private") {
        eprintln!("dpop: warning: this is the private key (with \"d\"): keep it secret");
        output::line(&key.private_jwk())?;
    } else {
        output::line(key.public_jwk())?;
    }
    Ok(Exit::Success)
}

const PROOF: [Opt; 8] = [
    value("key"),
    value("password-file"),
    value("method"),
    value("url"),
    value("token"),
    value("token-file"),
    value("nonce"),
    value("claims"),
];

pub fn proof(raw: Vec<OsString>) -> Result<Exit, Failure> {
    let args = parse(&PROOF, raw)?;
    if args.help {
        return output::help(crate::help::PROOF);
    }
    if !args.operands.is_empty() {
        return Err(Failure::usage(
            "no operands are taken: dpop proof --key KEY --method METHOD --url URL",
        ));
    }
    let key_path = args.required("key")?;
    let method = args.required("method")?;
    let url = args.required("url")?;
    let token = match (args.value("token"), args.value("token-file")) {
        (Some(_), Some(_)) => return Err(Failure::usage("give --token or --token-file, not both")),
        (Some(token), None) => {
            input::warn_visible("--token", "--token-file");
            Some(zeroize::Zeroizing::new(token.to_string()))
        }
        (None, Some(path)) => Some(input::secret_file(path, "the access token")?),
        (None, None) => None,
    };
    let key = load(key_path, args.value("password-file"))?;
    let jwt = Proof::new(method, url)
        .access_token(token.as_deref().map(String::as_str))
        .nonce(args.value("nonce"))
        .extra_claims(args.value("claims"))
        .sign(&key)?;
    output::line(&jwt)?;
    Ok(Exit::Success)
}
