//! get, post and request: one DPoP request, its output as curl gives it, its exit code.

use crate::args::{flag, parse, value, Args, Opt};
use crate::auth::Auth;
use crate::exit::{Exit, Failure};
use crate::{help, input, keys, output, session};
use dpop_core::{Algorithm, Client, ErrorKind, Key, Response};
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

const OPTS: [Opt; 22] = [
    value("key"),
    value("password-file"),
    value("auth-token"),
    value("client-id"),
    value("client-secret"),
    value("token-endpoint"),
    value("scope"),
    value("auth-method"),
    value("access-token"),
    value("access-token-file"),
    flag("accept-bearer"),
    value("header").short('H').repeatable(),
    value("data").short('d'),
    value("data-file"),
    value("timeout"),
    value("ca-file"),
    value("proxy"),
    flag("insecure-http"),
    flag("include").short('i'),
    value("output").short('o'),
    value("session-log"),
    flag("verbose").short('v'),
];

/// Runs `dpop get|post|request`.
pub fn run(command: &str, raw: Vec<OsString>) -> Result<Exit, Failure> {
    let args = parse(&OPTS, raw)?;
    if args.help {
        return output::help(help::REQUEST);
    }
    let (method, url) = match (command, args.operands.as_slice()) {
        ("get", [url]) => ("GET", url.as_str()),
        ("post", [url]) => ("POST", url.as_str()),
        ("request", [method, url]) => (method.as_str(), url.as_str()),
        ("request", _) => {
            return Err(Failure::usage(
                "a METHOD and a URL are needed: dpop request METHOD URL",
            ))
        }
        (_, []) => return Err(Failure::usage(format!("a URL is needed: dpop {command} URL"))),
        _ => return Err(Failure::usage("one URL is taken")),
    };
    let header_args: Vec<&str> = args.values("header").collect();
    let headers = header_args
        .iter()
        .map(|header| header_pair(header))
        .collect::<Result<Vec<_>, _>>()?;
    let body = body(&args)?;
    let auth = Auth::from_args(&args)?;
    let client = Client::new();
    configure(&client, &args)?;

    let verbose = args.flag("verbose");
    let key = match args.value("key") {
        Some(path) => keys::load(path, args.value("password-file"))?,
        None if matches!(auth, Auth::Token(_)) => {
            return Err(Failure::usage(
                "an access token is bound to its key: give it with --key",
            ))
        }
        None if args.flag("password-file") => return Err(Failure::usage("--password-file needs --key")),
        None => {
            let key = Key::generate(Algorithm::Es256)?;
            if verbose {
                eprintln!("* key: ES256, made for this run only");
            }
            key
        }
    };
    if verbose {
        eprintln!("* key thumbprint (jkt): {}", key.thumbprint());
    }
    client.set_key(Arc::new(key));
    match &auth {
        Auth::None => {}
        Auth::Settings(json) => client.set_auth_token(json)?,
        Auth::Token(token) => client.set_access_token(Some(token), None)?,
    }

    let capture = session::start(&client, args.value("session-log"), verbose)?;
    let outcome = client.request(method, url, &headers, &body);
    if let Some(capture) = &capture {
        capture.print(&client);
        if let Some(info) = client.token_info() {
            eprintln!("* token (without the token itself): {info}");
        }
    }
    let response = outcome.map_err(request_failure)?;
    print(&args, &response)?;
    if response.is_success() {
        return Ok(Exit::Success);
    }
    let challenge = response
        .header("www-authenticate")
        .map(|c| c.replace(|c: char| c.is_control(), " "))
        .map(|c| format!(" (WWW-Authenticate: {c})"))
        .unwrap_or_default();
    eprintln!(
        "dpop: the server answered with status {}{challenge}",
        response.status()
    );
    Ok(Exit::HttpStatus)
}

/// One `-H 'Name: value'`. Checked here rather than by the core, whose message quotes the
/// whole line: a header typed without its colon may be a secret one.
fn header_pair(header: &str) -> Result<(&str, &str), Failure> {
    match header.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() && !header.contains(['\r', '\n']) => {
            Ok((name.trim(), value.trim()))
        }
        _ => Err(Failure::usage(
            "a -H header needs the form 'Name: value' on one line",
        )),
    }
}

fn body(args: &Args) -> Result<Zeroizing<Vec<u8>>, Failure> {
    match (args.value("data"), args.value("data-file")) {
        (Some(_), Some(_)) => Err(Failure::usage("give -d/--data or --data-file, not both")),
        (Some(data), None) => Ok(Zeroizing::new(data.as_bytes().to_vec())),
        (None, Some(path)) => input::read(path, "the request body", Exit::Usage),
        (None, None) => Ok(Zeroizing::new(Vec::new())),
    }
}

/// The transport options. A value the core refuses is a usage error, whatever its kind.
fn configure(client: &Client, args: &Args) -> Result<(), Failure> {
    let refused = |option: &'static str| {
        move |e: dpop_core::Error| Failure::new(Exit::Usage, e.message()).context(option)
    };
    if let Some(text) = args.value("timeout") {
        client
            .set_request_timeout(seconds(text)?)
            .map_err(refused("--timeout"))?;
    }
    if let Some(path) = args.value("ca-file") {
        client
            .set_ca_file(Some(Path::new(path)))
            .map_err(refused("--ca-file"))?;
    }
    if let Some(proxy) = args.value("proxy") {
        client.set_proxy(Some(proxy)).map_err(refused("--proxy"))?;
    }
    if args.flag("insecure-http") {
        client
            .set_allow_insecure_http(true)
            .map_err(refused("--insecure-http"))?;
    }
    client.set_accept_bearer(args.flag("accept-bearer"));
    Ok(())
}

/// `--timeout SECONDS`: a positive number, fractions allowed.
fn seconds(text: &str) -> Result<Duration, Failure> {
    text.parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| Failure::usage(format!("--timeout: '{text}' is not a positive number of seconds")))
}

fn request_failure(e: dpop_core::Error) -> Failure {
    let mut failure = Failure::core(&e);
    if e.kind() == ErrorKind::HttpInsecure {
        // Names dpop's option where the core speaks of an opt-in.
        failure.message = match failure.message.strip_suffix(')') {
            Some(open) => format!("{open}: --insecure-http)"),
            None => format!("{} (--insecure-http)", failure.message),
        };
    }
    failure
}

/// The body to stdout or `-o FILE`, after the status line and headers with `-i`.
fn print(args: &Args, response: &Response) -> Result<(), Failure> {
    let head = if args.flag("include") {
        // ureq speaks HTTP/1.1 only; the core keeps no reason phrase (RFC 9112 lets it be empty).
        format!(
            "HTTP/1.1 {}\r\n{}\r\n",
            response.status(),
            response.headers_text()
        )
    } else {
        String::new()
    };
    match args.value("output") {
        Some(path) => output::file(path, &[head.as_bytes(), response.body()].concat()),
        None => {
            output::stdout(head.as_bytes())?;
            output::stdout(response.body())
        }
    }
}
