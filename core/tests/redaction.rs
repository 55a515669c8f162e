//! A redaction property test: secrets (1 to 200 characters of any printable kind, `&`, `=`,
//! `%`, `"`, `\`, `+` and non-ASCII included) travel to a server that echoes them back in every
//! encoding a server might use (as they are, percent-encoded in upper and lower case,
//! form-encoded, JSON-escaped with and without `\uXXXX`, HTML-escaped), in headers and bodies,
//! in success and error answers, at the token endpoint and at the API. The session log and
//! every error text must hold none of them in any of those encodings.
//!
//! The encodings are written here, independently of libdpop's redactor. A fixed seed makes
//! the few hundred cases the same on every run.

use dpop_core::{Algorithm, Client, Key};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

const CASES: u64 = 300;
const SEED: u64 = 0x5eed_d0b0_9449;

/// A small deterministic generator (xorshift64*), so the cases need no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A secret of 1 to 200 characters: mostly printable ASCII, some of the characters that
    /// encodings change, some non-ASCII.
    fn secret(&mut self) -> String {
        const SPECIAL: [char; 14] = [
            '&', '=', '%', '"', '\\', '+', ' ', '<', '>', '\'', '/', '#', '?', ';',
        ];
        const WIDE: [char; 5] = ['é', 'ß', 'к', 'ю', '😀'];
        let len = 1 + self.below(200) as usize;
        (0..len)
            .map(|_| match self.below(10) {
                0..=5 => char::from(b'!' + self.below(94) as u8),
                6..=7 => SPECIAL[self.below(SPECIAL.len() as u64) as usize],
                _ => WIDE[self.below(WIDE.len() as u64) as usize],
            })
            .collect()
    }
}

fn percent(s: &str, upper: bool) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else if upper {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

fn form(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b' ' => "+".to_string(),
            b if b.is_ascii_alphanumeric() || b"*-._".contains(&b) => char::from(b).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn json(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap();
    quoted[1..quoted.len() - 1].to_string()
}

fn json_ascii(s: &str) -> String {
    json(s)
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                let mut units = [0u16; 2];
                c.encode_utf16(&mut units)
                    .iter()
                    .map(|u| format!("\\u{u:04X}"))
                    .collect()
            }
        })
        .collect::<String>()
        .replace('/', "\\/")
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Every encoding of `secret` the echo server writes.
fn encodings(secret: &str) -> Vec<String> {
    vec![
        secret.to_string(),
        percent(secret, true),
        percent(secret, false),
        form(secret),
        json(secret),
        json_ascii(secret),
        html(secret),
    ]
}

/// What the echo server does for one case.
#[derive(Clone, Copy, Debug)]
enum Echo {
    /// The token endpoint issues `token`, echoing the client secret around it.
    TokenOk,
    /// The token endpoint refuses, echoing the client secret in error_description and headers.
    TokenError,
    /// The token endpoint issues `token`; the API echoes the token (and the secret) in a 200.
    ApiOk,
    /// As ApiOk, in a 500.
    ApiError,
}

/// Answers one connection's requests as `echo` says; `secret` and `token` are the case's.
fn serve(stream: TcpStream, echo: Echo, secret: &str, token: &str) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let echoed = |what: &str| {
            encodings(what)
                .iter()
                .map(|e| format!("[{e}]"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let to_token_endpoint = request_line.starts_with("POST");
        let (status, content_type, body) = match (echo, to_token_endpoint) {
            (Echo::TokenError, true) => (
                400,
                "application/json",
                serde_json::json!({
                    "error": "invalid_client",
                    "error_description": format!("the secret {} is wrong: {}", secret, echoed(secret)),
                })
                .to_string(),
            ),
            (_, true) => (
                200,
                "application/json",
                serde_json::json!({
                    "access_token": token,
                    "token_type": "DPoP",
                    "expires_in": 300,
                    "note": format!("issued for {}", echoed(secret)),
                })
                .to_string(),
            ),
            (Echo::ApiError, false) => (500, "text/html", format!("<p>token {} failed</p>", echoed(token))),
            (_, false) => (
                200,
                "text/plain",
                format!("you sent {} and {}", echoed(token), echoed(secret)),
            ),
        };
        let reply = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nX-Echo: {}\r\nX-Echo-Token: {}\r\n\
             Content-Length: {}\r\n\r\n{body}",
            percent(secret, true),
            form(token),
            body.len()
        );
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// One case: a server on a free port, a client with the secret, one API call; returns the
/// session log and the error text (if the call failed).
fn run_case(
    key: &Arc<Key>,
    echo: Echo,
    secret: &str,
    token: &str,
    dir: &std::path::Path,
    n: u64,
) -> (String, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (secret_owned, token_owned) = (secret.to_string(), token.to_string());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (s, t) = (secret_owned.clone(), token_owned.clone());
            std::thread::spawn(move || serve(stream, echo, &s, &t));
        }
    });
    let client = Client::new();
    client.set_key(Arc::clone(key));
    let log = dir.join(format!("case-{n}.log"));
    client.set_session_log(Some(&log)).unwrap();
    let settings = serde_json::json!({
        "client_id": "redaction-test",
        "client_secret": secret,
        "token_endpoint": format!("{base}/token"),
        "auth_method": if n % 2 == 0 { "client_secret_post" } else { "client_secret_basic" },
    });
    client.set_auth_token(&settings.to_string()).unwrap();
    let error = match client.get(&format!("{base}/api")) {
        Ok(_) => String::new(),
        Err(e) => format!("{e} / {e:?}"),
    };
    client.set_session_log(None).unwrap();
    (std::fs::read_to_string(&log).unwrap(), error)
}

fn assert_hidden(text: &str, what: &str, secret: &str, case: &str) {
    for (i, encoded) in encodings(secret).iter().enumerate() {
        // A secret of one or two characters may stand in ordinary text by chance ("/" in a
        // path): only longer ones are looked for in text libdpop writes itself.
        if secret.chars().count() < 3 {
            continue;
        }
        assert!(
            !text.contains(encoded.as_str()),
            "{case}: encoding {i} of the {what} ({encoded:?}) is in:\n{text}"
        );
    }
}

#[test]
fn no_secret_survives_in_the_log_or_an_error_text_in_any_encoding() {
    let dir = std::env::temp_dir().join(format!("dpop-redaction-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = Arc::new(Key::generate(Algorithm::Es256).unwrap());
    let mut rng = Rng(SEED);
    let echoes = [Echo::TokenOk, Echo::TokenError, Echo::ApiOk, Echo::ApiError];
    for n in 0..CASES {
        let echo = echoes[(n % 4) as usize];
        let secret = rng.secret();
        // A token is a visible-ASCII string (RFC 6750's b64token and more); the echo server
        // encodes it like the secret.
        let token: String = (0..8 + rng.below(60))
            .map(|_| char::from(b'!' + rng.below(94) as u8))
            .collect();
        let token = token.replace(['"', '\\'], "t");
        let (log, error) = run_case(&key, echo, &secret, &token, &dir, n);
        let case = format!("case {n} ({echo:?}, secret {secret:?})");
        assert!(
            log.contains("---- response"),
            "{case}: the exchange was logged:\n{log}"
        );
        for (text, where_) in [(&log, "log"), (&error, "error text")] {
            assert_hidden(text, &format!("client secret in the {where_}"), &secret, &case);
            assert_hidden(text, &format!("access token in the {where_}"), &token, &case);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn urls_with_secrets_in_user_info_and_query_are_redacted_in_error_texts() {
    let mut rng = Rng(SEED ^ 1);
    for _ in 0..50 {
        let secret = rng.secret();
        if secret.chars().count() < 3 {
            continue;
        }
        let url = format!(
            "http://user:{}@127.0.0.1:9/api?key={}#{}",
            percent(&secret, true),
            form(&secret),
            percent(&secret, false)
        );
        let client = Client::new();
        let error = client.get(&url).unwrap_err();
        let text = format!("{error} / {error:?}");
        assert_hidden(&text, "secret in the URL", &secret, &format!("URL {url}"));
    }
}
