//! The one redactor of everything libdpop writes for people (error texts, the session log,
//! debug output): URLs lose their user info, query values and fragment; secrets are replaced
//! in every form a server or a proxy might echo them in.

use std::collections::BTreeSet;
use zeroize::{Zeroize, Zeroizing};

/// What a redacted value is replaced with.
pub(crate) const MASK: &str = "****";

/// A URL as messages and the session log show it: `scheme://host:port/path?name=****` without
/// user info or fragment. Query names stay (they help), values go (API keys travel there). A
/// string that is not a URL is cut before its query and any user info is removed.
pub(crate) fn url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.has_host() => {
            let had_user = !parsed.username().is_empty() || parsed.password().is_some();
            // Both only fail for URLs without a host, excluded above.
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            let query = parsed.query().map(mask_query_values);
            parsed.set_query(None);
            parsed.set_fragment(None);
            let mut shown = parsed.to_string();
            if had_user {
                if let Some(at) = shown.find("://") {
                    shown.insert_str(at + 3, "****@");
                }
            }
            if let Some(query) = query {
                shown.push('?');
                shown.push_str(&query);
            }
            shown
        }
        _ => {
            let end = url.find(['?', '#']).unwrap_or(url.len());
            let mut shown = url[..end].to_string();
            if let Some(scheme_end) = shown.find("://") {
                let authority_end = shown[scheme_end + 3..]
                    .find('/')
                    .map_or(shown.len(), |i| scheme_end + 3 + i);
                if let Some(at) = shown[scheme_end + 3..authority_end].rfind('@') {
                    shown.replace_range(scheme_end + 3..scheme_end + 3 + at + 1, "****@");
                }
            }
            if end < url.len() && url[end..].starts_with('?') {
                shown.push_str("?****");
            }
            shown
        }
    }
}

/// `a=1&b` -> `a=****&b`.
fn mask_query_values(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{name}={MASK}"),
            None => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Replaces every form of every secret in `text` (see [`forms`]).
pub(crate) fn secrets(text: &str, secrets: &[&str]) -> String {
    let mut all = BTreeSet::new();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        all.extend(forms(secret));
    }
    // Longest first, so that no shorter form cuts a longer one in two.
    let mut all: Vec<String> = all.into_iter().collect();
    all.sort_by_key(|form| std::cmp::Reverse(form.len()));
    // Every text but the last still holds secrets: each is zeroized when replaced.
    let mut out = Zeroizing::new(text.to_string());
    for form in &all {
        if out.contains(form.as_str()) {
            out = Zeroizing::new(out.replace(form.as_str(), MASK));
        }
    }
    // A secret holding `*` can be formed again by a mask and what is beside it (`a***` in
    // `aa***` gives `a****`): replace until a round finds none. Each round that replaces turns
    // at least one character that is not `*` into masks, so this ends; a form made of `*` alone
    // tells nothing a mask does not, and is left to the first round. Every form is looked for
    // in every round, those the text did not hold before included: a mask that eats a run can
    // bring another form's start next to its end (`*\uFFFD` after a run of `*\u{fffd}`).
    let starred: Vec<&String> = all
        .iter()
        .filter(|f| f.contains('*') && f.chars().any(|c| c != '*'))
        .collect();
    let mut replaced = true;
    while replaced {
        replaced = false;
        for form in &starred {
            if out.contains(form.as_str()) {
                out = Zeroizing::new(out.replace(form.as_str(), MASK));
                replaced = true;
            }
        }
    }
    for form in &mut all {
        form.zeroize();
    }
    std::mem::take(&mut *out)
}

/// The forms a secret takes when echoed: as it is, percent-encoded (form style with `+` for
/// space, RFC 3986 style, upper- and lower-case hex), JSON-escaped (as serde writes it, and
/// with `\/` and `\uXXXX` for non-ASCII, either case, as other writers do), and HTML-escaped
/// (named and numeric references).
pub(crate) fn forms(secret: &str) -> BTreeSet<String> {
    let mut forms = BTreeSet::new();
    forms.insert(secret.to_string());
    forms.insert(url::form_urlencoded::byte_serialize(secret.as_bytes()).collect());
    let percent = percent_encode(secret);
    forms.insert(lower_hex(&percent));
    forms.insert(percent);
    let json = serde_json::Value::from(secret).to_string();
    let json = json[1..json.len() - 1].to_string();
    for slash in [json.clone(), json.replace('/', "\\/")] {
        forms.insert(json_ascii(&slash, false));
        forms.insert(json_ascii(&slash, true));
        forms.insert(slash);
    }
    for double in HTML_DOUBLE_QUOTES {
        for single in HTML_SINGLE_QUOTES {
            forms.insert(html(secret, double, single));
        }
    }
    forms.retain(|f| !f.is_empty());
    forms
}

/// RFC 3986 percent-encoding: everything but unreserved characters as `%XX` (upper case).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `%XX` escapes of a percent-encoded string in lower case, the rest unchanged.
fn lower_hex(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut out = String::with_capacity(encoded.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push('%');
            out.push(char::from(bytes[i + 1].to_ascii_lowercase()));
            out.push(char::from(bytes[i + 2].to_ascii_lowercase()));
            i += 3;
        } else {
            out.push(char::from(bytes[i]));
            i += 1;
        }
    }
    out
}

/// A JSON string body with every non-ASCII character as `\uXXXX` (UTF-16 pairs, hex digits in
/// upper or lower case).
fn json_ascii(json: &str, upper: bool) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                if upper {
                    out.push_str(&format!("\\u{unit:04X}"));
                } else {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out
}

/// How HTML escapers write the quotes (Python, PHP, Go, Java and others differ).
const HTML_DOUBLE_QUOTES: [&str; 3] = ["&quot;", "&#34;", "&#x22;"];
const HTML_SINGLE_QUOTES: [&str; 4] = ["&#39;", "&#039;", "&#x27;", "&apos;"];

/// HTML escaping of `&<>"'`, with the quotes written as given.
fn html(s: &str, double: &str, single: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str(double),
            '\'' => out.push_str(single),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_user_info_query_values_and_fragment() {
        assert_eq!(
            url("https://alice:pa55@api.example:8443/v1/r?api_key=k-1&page=2#frag"),
            "https://****@api.example:8443/v1/r?api_key=****&page=****"
        );
        assert_eq!(url("http://127.0.0.1:8080/token"), "http://127.0.0.1:8080/token");
        assert_eq!(url("http://proxy.example:3128"), "http://proxy.example:3128/");
        assert_eq!(url("https://as.example/t?flag"), "https://as.example/t?flag");
        // Not URLs: cut, user info removed.
        assert_eq!(url("not a url?secret=1"), "not a url?****");
        assert_eq!(url("ftp//u:p@host/x#y"), "ftp//u:p@host/x");
        assert_eq!(url("weird://u:p@[bad/x?q=1"), "weird://****@[bad/x?****");
    }

    #[test]
    fn every_echoed_form_of_a_secret_is_replaced() {
        let secret = "a&b=c%d\"e\\f+g h/é'<";
        let echoes = [
            secret.to_string(),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>(),
            percent_encode(secret),
            lower_hex(&percent_encode(secret)),
            serde_json::Value::from(secret).to_string(),
            json_ascii(&serde_json::Value::from(secret).to_string(), true).replace('/', "\\/"),
            html(secret, "&quot;", "&#x27;"),
            html(secret, "&#34;", "&#039;"),
        ];
        for echo in echoes {
            let text = format!("before {echo} after");
            let out = secrets(&text, &[secret]);
            assert!(out.starts_with("before ") && out.ends_with(" after"), "{out}");
            for form in forms(secret) {
                assert!(!out.contains(&form), "{form:?} survived in {out:?}");
            }
        }
    }

    #[test]
    fn a_secret_with_stars_is_not_formed_again_by_a_mask() {
        assert_eq!(secrets("aa***", &["a***"]), "*****");
        // A form the text did not hold at first, brought together by masks that ate a run
        // (fuzz/corpus/log_scrubber/regression-star-run.txt).
        let text = "*\u{fffd}\u{fffd}\u{fffd}\\uFFFD";
        let out = secrets(text, &["*\u{fffd}"]);
        assert!(out.chars().all(|c| c == '*'), "{out}");
        let out = secrets("x*y**y*x *y*", &["*y*", "y**y"]);
        assert!(!out.contains("*y*") && !out.contains("y**y"), "{out}");
        // A secret of stars alone is replaced once (it cannot be told from a mask).
        assert_eq!(secrets("a**b", &["**"]), "a****b");
    }

    #[test]
    fn short_secrets_are_replaced_too() {
        assert_eq!(secrets("id=7 x7y", &["7"]), "id=**** x****y");
    }
}
