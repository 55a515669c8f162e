//! The session log (Chilkat's `SessionLogFilename`): every request and response appended to a
//! file, with credentials, tokens and proofs masked.

use super::response::Response;
use crate::error::{Error, ErrorKind, Result};
use parking_lot::Mutex;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::redact::{self, MASK};

/// Bodies are logged up to this many bytes.
pub(crate) const BODY_LIMIT: usize = 4096;

/// Header values hidden entirely, or down to their auth scheme.
const SECRET_HEADERS: [&str; 7] = [
    "authorization",
    "proxy-authorization",
    "dpop",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
];

/// Parts of header names that mark a host's own secret header (`X-Auth-Token`,
/// `X-Client-Secret`, `X-Session-Id`, ...).
const SECRET_HEADER_PARTS: [&str; 6] = ["token", "secret", "password", "apikey", "api-key", "session"];

/// Form fields and JSON members whose values are hidden.
const SECRET_FIELDS: [&str; 16] = [
    "client_secret",
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "issued_token",
    "subject_token",
    "actor_token",
    "device_code",
    "client_assertion",
    "assertion",
    "code_verifier",
    "password",
    "code",
    "d",
    "private_key",
];

#[derive(Default)]
pub(crate) struct SessionLog {
    enabled: AtomicBool,
    /// The open log and the path it was opened at.
    file: Mutex<Option<(File, PathBuf)>>,
}

/// Appending, and created readable by its owner only on Unix (the log shows what requests
/// carried, secrets masked; Windows gives a new file the directory's permissions).
fn log_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// What the log needs of a request.
pub(crate) struct LoggedRequest<'a> {
    pub(crate) method: &'a str,
    pub(crate) url: &'a str,
    pub(crate) headers: &'a [(&'a str, &'a str)],
    pub(crate) body: &'a [u8],
}

impl SessionLog {
    /// Starts appending to `path`, or stops logging with `None`.
    pub(crate) fn set(&self, path: Option<&Path>) -> Result<()> {
        let file = match path {
            Some(path) => Some(
                log_options()
                    .open(path)
                    .map_err(|e| {
                        Error::new(
                            ErrorKind::Io,
                            format!("cannot open the session log '{}': {e}", path.display()),
                        )
                    })
                    .map(|file| (file, path.to_path_buf()))?,
            ),
            None => None,
        };
        let mut slot = self.file.lock();
        self.enabled.store(file.is_some(), Ordering::Release);
        *slot = file;
        Ok(())
    }

    /// The path the log is written to, if logging is on.
    pub(crate) fn path(&self) -> Option<PathBuf> {
        self.file.lock().as_ref().map(|(_, path)| path.clone())
    }

    /// Cheap check, so that requests do no log work when logging is off.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Appends one exchange. `secrets` are exact strings (secret, tokens, proofs) that must not
    /// appear anywhere in the record, whatever structure they hide in.
    pub(crate) fn record(
        &self,
        request: &LoggedRequest<'_>,
        outcome: std::result::Result<&Response, &Error>,
        elapsed: Duration,
        secrets: &[&str],
    ) {
        if !self.enabled() {
            return;
        }
        let text = render(request, outcome, elapsed, secrets);
        if let Some((file, _)) = self.file.lock().as_mut() {
            // Logging must never fail a request; a full disk loses log lines only.
            let _ = file.write_all(text.as_bytes());
        }
    }
}

impl SessionLog {
    /// Appends a line about something other than an exchange (a saved state written again,
    /// or not); `text` holds no secret.
    pub(crate) fn note(&self, text: &str) {
        if !self.enabled() {
            return;
        }
        let line = format!("---- {} {text}\n\n", timestamp());
        if let Some((file, _)) = self.file.lock().as_mut() {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// One exchange as the session log writes it: headers and bodies masked, and every string of
/// `secrets` replaced wherever it appears.
pub(crate) fn render(
    request: &LoggedRequest<'_>,
    outcome: std::result::Result<&Response, &Error>,
    elapsed: Duration,
    secrets: &[&str],
) -> String {
    // Until the secrets are replaced at the end, the text holds them: zeroized when dropped.
    let mut text = zeroize::Zeroizing::new(format!(
        "---- {} request\n{} {}\n",
        timestamp(),
        request.method,
        redact::url(request.url)
    ));
    for (name, value) in request.headers {
        push_header(&mut text, name, value);
    }
    push_body(&mut text, request.body, secrets);
    match outcome {
        Ok(response) => {
            text.push_str(&format!(
                "---- response {} ({} ms)\n",
                response.status,
                elapsed.as_millis()
            ));
            for (name, value) in &response.headers {
                push_header(&mut text, name, value);
            }
            push_body(&mut text, &response.body, secrets);
        }
        Err(e) => text.push_str(&format!("---- no response ({} ms): {e}\n", elapsed.as_millis())),
    }
    text.push('\n');
    redact::secrets(&text, secrets)
}

/// Header names are written lower-case, as they go on the wire (HTTP/1.1 through `http`).
fn push_header(out: &mut String, name: &str, value: &str) {
    out.push_str(&name.to_ascii_lowercase());
    out.push_str(": ");
    out.push_str(&mask_header(name, value));
    out.push('\n');
}

/// `Authorization: DPoP ****`: the scheme stays, the credential goes.
fn mask_header(name: &str, value: &str) -> String {
    if !is_secret_header(name) {
        return value.to_string();
    }
    if name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("proxy-authorization") {
        if let Some((scheme, _)) = value.split_once(' ') {
            return format!("{scheme} {MASK}");
        }
    }
    MASK.to_string()
}

fn is_secret_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    // A challenge names no secret, and the log needs it (use_dpop_nonce, invalid_token).
    if lower == "www-authenticate" || lower == "dpop-nonce" {
        return false;
    }
    SECRET_HEADERS.contains(&lower.as_str()) || SECRET_HEADER_PARTS.iter().any(|part| lower.contains(part))
}

/// The body is masked and its secrets replaced before it is cut to [`BODY_LIMIT`]: a secret
/// straddling the cut would otherwise leave its first part in the log.
fn push_body(out: &mut String, body: &[u8], secrets: &[&str]) {
    out.push('\n');
    if body.is_empty() {
        return;
    }
    let text = String::from_utf8_lossy(body);
    let masked = mask_json(&text)
        .or_else(|| mask_form(&text))
        .unwrap_or_else(|| mask_leniently(&text));
    let masked = redact::secrets(&masked, secrets);
    if masked.len() > BODY_LIMIT {
        let mut end = BODY_LIMIT;
        while !masked.is_char_boundary(end) {
            end -= 1;
        }
        out.push_str(&masked[..end]);
        out.push_str(&format!("\n[... {} more bytes not logged]", masked.len() - end));
    } else {
        out.push_str(&masked);
    }
    out.push('\n');
}

fn is_secret_field(name: &str) -> bool {
    SECRET_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name))
}

/// A JSON body with secret members masked, or `None` when the body is not JSON.
fn mask_json(text: &str) -> Option<String> {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if is_secret_field(k) {
                        *v = serde_json::Value::from(MASK);
                    } else {
                        walk(v);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if !trimmed.starts_with('{') && !trimmed.starts_with('[') {
        return None;
    }
    let mut value: serde_json::Value = serde_json::from_str(trimmed).ok()?;
    walk(&mut value);
    Some(value.to_string())
}

/// A form-urlencoded body with secret fields masked, or `None` when it does not look like one.
fn mask_form(text: &str) -> Option<String> {
    if text.contains(char::is_whitespace) || !text.contains('=') {
        return None;
    }
    let pairs: Vec<String> = text
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_field(&percent_decode(name)) => format!("{name}={MASK}"),
            _ => pair.to_string(),
        })
        .collect();
    Some(pairs.join("&"))
}

/// Any other text (JSONP, JSON with trailing garbage, HTML around JSON, `name=value` lines):
/// the value after every secret field name, quoted (`"name": "value"`) or not
/// (`name=value`, `name: value`), is masked.
fn mask_leniently(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((before, name, after)) = next_field(rest) {
        out.push_str(before);
        out.push_str(name);
        let (separator, value_len) = value_after(after);
        out.push_str(&after[..separator]);
        if value_len > 0 {
            out.push_str(MASK);
        }
        rest = &after[separator + value_len..];
    }
    out.push_str(rest);
    out
}

/// The next secret field name in `text` that stands as a whole word: (text before it, the
/// name, the text after it).
fn next_field(text: &str) -> Option<(&str, &str, &str)> {
    let bytes = text.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut start = 0;
    while start < bytes.len() {
        if !is_word(bytes[start]) || (start > 0 && is_word(bytes[start - 1])) {
            start += 1;
            continue;
        }
        let end = start + bytes[start..].iter().take_while(|b| is_word(**b)).count();
        if is_secret_field(&text[start..end]) {
            return Some((&text[..start], &text[start..end], &text[end..]));
        }
        start = end;
    }
    None
}

/// After a field name: the length of the separator (closing quote, spaces, `:` or `=`,
/// spaces, opening quote) and of the value that follows (to the closing quote, or to the
/// next separator character). `(0, 0)` when no separator follows: a mere mention.
fn value_after(after: &str) -> (usize, usize) {
    let bytes = after.as_bytes();
    let mut i = 0;
    if bytes.first() == Some(&b'"') || bytes.first() == Some(&b'\'') {
        i += 1;
    }
    while i < bytes.len() && bytes[i] == b' ' {
        i += 1;
    }
    if i >= bytes.len() || (bytes[i] != b':' && bytes[i] != b'=') {
        return (0, 0);
    }
    i += 1;
    while i < bytes.len() && bytes[i] == b' ' {
        i += 1;
    }
    let quote = match bytes.get(i) {
        Some(&q) if q == b'"' || q == b'\'' => {
            i += 1;
            Some(q)
        }
        _ => None,
    };
    let start = i;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => break,
            Some(_) if b == b'\\' => i += 1,
            None if b"&,;}]) \r\n\t\"'<".contains(&b) => break,
            _ => {}
        }
        i += 1;
    }
    let end = i.min(bytes.len());
    (start, end - start)
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("{s}=").as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default()
}

/// `2026-11-22T05:40:01.123Z`, from the system clock.
fn timestamp() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_the_scheme_and_lose_the_credential() {
        assert_eq!(mask_header("Authorization", "DPoP abc.def"), "DPoP ****");
        assert_eq!(
            mask_header("authorization", "Basic bTJtOnNlY3JldA=="),
            "Basic ****"
        );
        assert_eq!(mask_header("DPoP", "eyJ.eyJ.sig"), "****");
        assert_eq!(
            mask_header("content-type", "application/json"),
            "application/json"
        );
        assert_eq!(mask_header("DPoP-Nonce", "n-123"), "n-123");
    }

    #[test]
    fn form_and_json_bodies_are_masked() {
        assert_eq!(
            mask_form("grant_type=client_credentials&client_id=a&client_secret=s%3D1&scope=api").unwrap(),
            "grant_type=client_credentials&client_id=a&client_secret=****&scope=api"
        );
        assert_eq!(
            mask_form("grant_type=refresh_token&refresh%5Ftoken=rt").unwrap(),
            "grant_type=refresh_token&refresh%5Ftoken=****"
        );
        let json =
            mask_json(r#"{"access_token":"at","token_type":"DPoP","nested":[{"refresh_token":"rt"}]}"#);
        assert_eq!(
            json.unwrap(),
            r#"{"access_token":"****","nested":[{"refresh_token":"****"}],"token_type":"DPoP"}"#
        );
        assert_eq!(mask_json("not json"), None);
        assert_eq!(mask_form("plain text body"), None);
    }

    #[test]
    fn records_are_appended_masked_and_scrubbed_of_given_secrets() {
        let dir = std::env::temp_dir().join(format!("dpop-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("session.log");
        let _ = std::fs::remove_file(&path);
        let log = SessionLog::default();
        log.set(Some(&path)).unwrap();
        let request = LoggedRequest {
            method: "GET",
            url: "https://api.example/x",
            headers: &[("authorization", "DPoP tok-en-value"), ("dpop", "proof-value")],
            body: b"",
        };
        let response = Response::new(
            200,
            vec![("content-type".into(), "text/plain".into())],
            b"echo: tok-en-value and more".to_vec(),
        );
        log.record(
            &request,
            Ok(&response),
            Duration::from_millis(3),
            &["tok-en-value", "proof-value"],
        );
        log.set(None).unwrap();
        log.record(&request, Ok(&response), Duration::from_millis(3), &[]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("GET https://api.example/x\nauthorization: DPoP ****\ndpop: ****\n"));
        assert!(text.contains("---- response 200 (3 ms)\ncontent-type: text/plain\n\necho: **** and more\n"));
        assert!(!text.contains("tok-en-value") && !text.contains("proof-value"));
        assert_eq!(
            text.matches("---- response").count(),
            1,
            "logging off writes nothing"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn long_bodies_are_cut_at_the_limit() {
        let mut out = String::new();
        push_body(&mut out, "é".repeat(BODY_LIMIT).as_bytes(), &[]);
        assert!(out.contains(&format!("[... {} more bytes not logged]", BODY_LIMIT)));
    }

    #[test]
    fn a_secret_straddling_the_cut_leaves_no_part_of_it() {
        let body = format!("{}SECRET-straddling-the-cut", "x".repeat(BODY_LIMIT - 6));
        let mut out = String::new();
        push_body(&mut out, body.as_bytes(), &["SECRET-straddling-the-cut"]);
        assert!(!out.contains("SECRET"), "{out}");
        assert!(out.contains("x****"), "{out}");
    }

    #[test]
    fn timestamp_has_the_iso_shape() {
        let t = timestamp();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }

    #[test]
    fn bodies_that_are_not_strict_json_lose_their_secrets_too() {
        let bom = "\u{feff} {\"access_token\":\"at-1\",\"token_type\":\"DPoP\"}";
        assert_eq!(
            mask_json(bom).unwrap(),
            r#"{"access_token":"****","token_type":"DPoP"}"#
        );
        let jsonp = r#"cb({"access_token": "at-2", "refresh_token":"rt\"2"});"#;
        assert_eq!(
            mask_leniently(jsonp),
            r#"cb({"access_token": "****", "refresh_token":"****"});"#
        );
        assert_eq!(
            mask_leniently("<p>code=abc&state=s</p> client_secret: s3 d='x'"),
            "<p>code=****&state=s</p> client_secret: **** d='****'"
        );
        assert_eq!(
            mask_leniently("a mention of access_token only"),
            "a mention of access_token only"
        );
    }

    #[test]
    fn a_hosts_secret_headers_are_masked_and_challenges_are_not() {
        for name in [
            "X-Api-Key",
            "X-Auth-Token",
            "X-Client-Secret",
            "Cookie",
            "X-Session-Id",
        ] {
            assert_eq!(mask_header(name, "v-123"), MASK, "{name}");
        }
        let challenge = r#"DPoP error="use_dpop_nonce""#;
        assert_eq!(mask_header("WWW-Authenticate", challenge), challenge);
        assert_eq!(mask_header("X-Trace", "t1"), "t1");
    }

    #[test]
    fn urls_in_the_log_lose_user_info_and_query_values() {
        let request = LoggedRequest {
            method: "GET",
            url: "https://u:pw-91@api.example/r?api_key=k-77",
            headers: &[],
            body: b"",
        };
        let text = render(
            &request,
            Err(&Error::new(ErrorKind::HttpConnect, "down")),
            Duration::ZERO,
            &[],
        );
        assert!(
            text.contains("GET https://****@api.example/r?api_key=****\n"),
            "{text}"
        );
        assert!(!text.contains("pw-91") && !text.contains("k-77"));
    }

    #[cfg(unix)]
    #[test]
    fn the_log_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("dpop-log-mode-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let log = SessionLog::default();
        log.set(Some(&path)).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        log.set(None).unwrap();
        std::fs::remove_file(&path).unwrap();
    }
}
