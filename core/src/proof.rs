//! DPoP proof JWTs (RFC 9449 §4.2).
//!
//! A proof is `base64url(header).base64url(payload).base64url(signature)`. The header depends
//! only on the key and is prepared once per key; a proof costs one payload serialisation, one
//! signature and 16 bytes from the OS random source for its `jti`.

use crate::error::{Error, ErrorKind, Result};
use crate::key::Key;
use base64ct::{Base64UrlUnpadded, Encoding};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

/// Claims libdpop sets itself; extra claims may not replace them.
const RESERVED_CLAIMS: [&str; 6] = ["jti", "htm", "htu", "iat", "ath", "nonce"];

/// Bytes of randomness in a `jti` (RFC 9449 asks for enough entropy to be unguessable).
const JTI_BYTES: usize = 16;

/// Length of the longest signature in base64url: RSA with 4096 bits, 512 bytes.
const MAX_SIGNATURE_B64: usize = 683;

/// The inputs of one proof. Built with [`Proof::new`] and the setters, then [`Proof::sign`]ed.
///
/// `Debug` shows whether an access token is bound, never the token itself.
#[derive(Clone, Default)]
pub struct Proof<'a> {
    method: &'a str,
    url: &'a str,
    access_token: Option<&'a str>,
    nonce: Option<&'a str>,
    extra_claims: Option<&'a str>,
    issued_at: Option<u64>,
}

impl std::fmt::Debug for Proof<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proof")
            .field("method", &self.method)
            .field("url", &crate::redact::url(self.url))
            .field("access_token", &self.access_token.map(|_| "<hidden>"))
            .field("nonce", &self.nonce)
            .field("extra_claims", &self.extra_claims)
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

impl<'a> Proof<'a> {
    /// A proof for a request with this method and URL.
    pub fn new(method: &'a str, url: &'a str) -> Self {
        Self {
            method,
            url,
            ..Self::default()
        }
    }

    /// Binds the proof to an access token through the `ath` claim (RFC 9449 §4.2, §7).
    pub fn access_token(mut self, token: Option<&'a str>) -> Self {
        self.access_token = token;
        self
    }

    /// Sets the server-provided `nonce` claim (RFC 9449 §8, §9).
    pub fn nonce(mut self, nonce: Option<&'a str>) -> Self {
        self.nonce = nonce;
        self
    }

    /// Merges a JSON object of further claims into the payload.
    pub fn extra_claims(mut self, json: Option<&'a str>) -> Self {
        self.extra_claims = json;
        self
    }

    /// Sets `iat` (seconds since the Unix epoch) instead of the current time.
    pub fn issued_at(mut self, iat: Option<u64>) -> Self {
        self.issued_at = iat;
        self
    }

    /// Signs the proof with `key`, returning the compact JWS.
    pub fn sign(&self, key: &Key) -> Result<String> {
        check_method(self.method)?;
        let htu = htu(self.url)?;
        let extra = match self.extra_claims {
            Some(json) => Some(parse_extra_claims(json)?),
            None => None,
        };
        let rng = SystemRandom::new();
        let mut jti = [0u8; JTI_BYTES];
        fresh_jti(&rng, &mut jti)?;
        let iat = self.issued_at.unwrap_or_else(now);

        let mut payload = String::with_capacity(
            160 + htu.len() + self.nonce.map_or(0, str::len) + self.extra_claims.map_or(0, str::len),
        );
        payload.push_str(r#"{"jti":""#);
        push_base64url(&mut payload, &jti);
        payload.push_str(r#"","htm":"#);
        push_json_string(&mut payload, self.method);
        payload.push_str(r#","htu":"#);
        push_json_string(&mut payload, &htu);
        payload.push_str(r#","iat":"#);
        push_display(&mut payload, iat);
        if let Some(token) = self.access_token {
            if token.is_empty() {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "the access token is empty",
                ));
            }
            payload.push_str(r#","ath":""#);
            push_ath(&mut payload, token);
            payload.push('"');
        }
        if let Some(nonce) = self.nonce {
            check_nonce(nonce)?;
            payload.push_str(r#","nonce":"#);
            push_json_string(&mut payload, nonce);
        }
        for (name, value) in extra.iter().flatten() {
            payload.push(',');
            push_json_string(&mut payload, name);
            payload.push(':');
            push_display(&mut payload, value);
        }
        payload.push('}');

        // The signing input is built in the string that becomes the JWS, so the signature is
        // the only part added after signing.
        let header = key.header_b64();
        let payload_len = Base64UrlUnpadded::encoded_len(payload.as_bytes());
        let mut jws = String::with_capacity(header.len() + payload_len + 2 + MAX_SIGNATURE_B64);
        jws.push_str(header);
        jws.push('.');
        push_base64url(&mut jws, payload.as_bytes());
        let signature = key.sign(&rng, jws.as_bytes())?;
        jws.push('.');
        push_base64url(&mut jws, &signature);
        Ok(jws)
    }
}

/// OS randomness drawn at once for `jti`s: one `getrandom` serves 16 proofs of a thread.
const JTI_POOL: usize = 16 * JTI_BYTES;

/// A thread's unused `jti` bytes, and the process they were drawn in: a `fork()`ed child
/// (whose pid differs) never uses its parent's bytes, so no two processes send one `jti`.
struct JtiPool {
    bytes: [u8; JTI_POOL],
    used: usize,
    pid: u32,
}

thread_local! {
    static JTI: std::cell::RefCell<JtiPool> = const {
        std::cell::RefCell::new(JtiPool { bytes: [0; JTI_POOL], used: JTI_POOL, pid: 0 })
    };
}

/// 16 bytes from the OS random source, each handed out once (then cleared from the pool).
fn fresh_jti(rng: &SystemRandom, out: &mut [u8; JTI_BYTES]) -> Result<()> {
    let pid = std::process::id();
    let pooled = JTI.try_with(|pool| -> Result<()> {
        let mut pool = pool.borrow_mut();
        if pool.pid != pid || pool.used == JTI_POOL {
            rng.fill(&mut pool.bytes).map_err(|_| crate::key::rng_error())?;
            pool.used = 0;
            pool.pid = pid;
        }
        let at = pool.used;
        out.copy_from_slice(&pool.bytes[at..at + JTI_BYTES]);
        pool.bytes[at..at + JTI_BYTES].fill(0);
        pool.used += JTI_BYTES;
        Ok(())
    });
    match pooled {
        Ok(result) => result,
        // The thread is ending and its pool is gone: straight from the OS.
        Err(_) => rng.fill(out).map_err(|_| crate::key::rng_error()),
    }
}

/// The `ath` value for an access token: base64url(SHA-256(token)).
pub fn ath(access_token: &str) -> String {
    let mut out = String::with_capacity(43);
    push_ath(&mut out, access_token);
    out
}

fn push_ath(out: &mut String, access_token: &str) {
    push_base64url(out, &Sha256::digest(access_token.as_bytes()));
}

/// The `htu` of a request URL: the URL with scheme and host lower-cased, the default port,
/// user info, query and fragment removed (RFC 9449 §4.2, §4.3 with RFC 3986 §6.2).
pub fn htu(url: &str) -> Result<String> {
    match htu_fast(url) {
        Some(htu) => Ok(htu.to_string()),
        None => htu_parsed(url),
    }
}

/// The `htu` of a URL already in the form the URL parser writes, found without parsing: the
/// URL up to its query or fragment. `None` for anything else, which [`htu_parsed`] handles
/// (the fuzz target `htu` checks that both agree wherever this answers).
///
/// The form: `http://` or `https://`; a host of lower-case letters, digits, `-` and `.` in
/// non-empty labels, not ending in a dot, and either not ending in a numeric label (an IPv4
/// address, which the parser rewrites) or a dotted quad in canonical form, no `xn--` label
/// (IDNA, which the parser checks); an optional port of digits without a leading zero that is
/// not the scheme's default; a path of characters the parser leaves alone, with no `.` or
/// `..` segment.
pub(crate) fn htu_fast(url: &str) -> Option<&str> {
    let (rest, default_port) = if let Some(rest) = url.strip_prefix("https://") {
        (rest, "443")
    } else {
        (url.strip_prefix("http://")?, "80")
    };
    let end = rest
        .bytes()
        .position(|b| b == b'?' || b == b'#')
        .unwrap_or(rest.len());
    let (before, _) = rest.split_at(end);
    let slash = before.bytes().position(|b| b == b'/')?;
    let (authority, path) = before.split_at(slash);
    let (host, port) = match authority.bytes().position(|b| b == b':') {
        Some(colon) => (&authority[..colon], Some(&authority[colon + 1..])),
        None => (authority, None),
    };
    if let Some(port) = port {
        if port.is_empty()
            || port.len() > 5
            || port.starts_with('0')
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port == default_port
            || port.parse::<u32>().map_or(true, |p| p > 65535)
        {
            return None;
        }
    }
    if host.is_empty() || host.ends_with('.') {
        return None;
    }
    let mut labels = 0;
    let mut last = "";
    for label in host.split('.') {
        if label.is_empty()
            || label.starts_with("xn--")
            || !label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return None;
        }
        labels += 1;
        last = label;
    }
    if last.starts_with(|c: char| c.is_ascii_digit()) {
        let canonical_quad = labels == 4
            && host.split('.').all(|part| {
                !part.is_empty()
                    && part.len() <= 3
                    && part.bytes().all(|b| b.is_ascii_digit())
                    && (part == "0" || !part.starts_with('0'))
                    && part.parse::<u16>().is_ok_and(|n| n <= 255)
            });
        if !canonical_quad {
            return None;
        }
    }
    let path_char = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b);
    if !path.bytes().all(path_char) || path.split('/').any(|seg| seg == "." || seg == "..") {
        return None;
    }
    Some(&url[..url.len() - rest.len() + end])
}

/// The `htu` through the URL parser.
pub(crate) fn htu_parsed(url: &str) -> Result<String> {
    let mut parsed = url::Url::parse(url).map_err(|e| {
        Error::new(
            ErrorKind::ProofUrl,
            format!("'{}' is not a valid URL: {e}", crate::redact::url(url)),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::new(
            ErrorKind::ProofUrl,
            format!("'{}' is not an http or https URL", crate::redact::url(url)),
        ));
    }
    parsed.set_query(None);
    parsed.set_fragment(None);
    // Both calls only fail for URLs without a host, which http(s) URLs always have.
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    Ok(parsed.into())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// RFC 9110 §9.1: a method is a token.
fn check_method(method: &str) -> Result<()> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if method.is_empty() || !method.bytes().all(tchar) {
        return Err(Error::new(
            ErrorKind::ProofMethod,
            format!("'{}' is not a valid HTTP method", method.escape_debug()),
        ));
    }
    Ok(())
}

/// RFC 9449 §8.1: `nonce = 1*NQCHAR`, NQCHAR = %x21 / %x23-5B / %x5D-7E.
pub(crate) fn is_valid_nonce(nonce: &str) -> bool {
    let nqchar = |b: u8| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b);
    !nonce.is_empty() && nonce.bytes().all(nqchar)
}

fn check_nonce(nonce: &str) -> Result<()> {
    if !is_valid_nonce(nonce) {
        return Err(Error::new(
            ErrorKind::ProofNonce,
            "the nonce is not a valid DPoP-Nonce value (1*NQCHAR)",
        ));
    }
    Ok(())
}

fn parse_extra_claims(json: &str) -> Result<Map<String, Value>> {
    let value: Value = serde_json::from_str(json).map_err(|e| {
        Error::new(
            ErrorKind::ProofClaims,
            format!("the extra claims are not valid JSON: {e}"),
        )
    })?;
    let Value::Object(claims) = value else {
        return Err(Error::new(
            ErrorKind::ProofClaims,
            "the extra claims are not a JSON object",
        ));
    };
    if let Some(name) = RESERVED_CLAIMS.iter().find(|name| claims.contains_key(**name)) {
        return Err(Error::new(
            ErrorKind::ProofClaims,
            format!("the claim '{name}' is set by libdpop and cannot be given as an extra claim"),
        ));
    }
    Ok(claims)
}

/// Appends `s` as a JSON string, escaped exactly as `serde_json` escapes it.
fn push_json_string(out: &mut String, s: &str) {
    // serde_json escapes `"`, `\` and the control characters below U+0020, nothing else: a
    // string without them is copied between quotes, which spares an allocation per claim.
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        push_display(out, Value::from(s));
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// Appends the `Display` form of `value` (a number, a JSON value) without a temporary String.
fn push_display(out: &mut String, value: impl std::fmt::Display) {
    use std::fmt::Write;
    // Writing into a String cannot fail.
    let _ = write!(out, "{value}");
}

/// Appends the unpadded base64url encoding of `bytes`, through a stack buffer instead of a
/// temporary String. Blocks of 192 bytes (a multiple of 3) encode to 256 characters each, and
/// the encodings of such blocks concatenate to the encoding of the whole. A proof holds nothing
/// secret once it is sent, so this is a plain table lookup; base64ct's constant-time encoding
/// (kept for key material, `key/`) took about 7% of a proof's time, most of what a proof costs
/// beyond its signature.
fn push_base64url(out: &mut String, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const BLOCK: usize = 192;
    let mut buf = [0u8; BLOCK / 3 * 4];
    for block in bytes.chunks(BLOCK) {
        let mut n = 0;
        let mut triples = block.chunks_exact(3);
        for t in &mut triples {
            let v = u32::from(t[0]) << 16 | u32::from(t[1]) << 8 | u32::from(t[2]);
            buf[n] = ALPHABET[(v >> 18) as usize & 63];
            buf[n + 1] = ALPHABET[(v >> 12) as usize & 63];
            buf[n + 2] = ALPHABET[(v >> 6) as usize & 63];
            buf[n + 3] = ALPHABET[v as usize & 63];
            n += 4;
        }
        match *triples.remainder() {
            [a] => {
                buf[n] = ALPHABET[usize::from(a >> 2)];
                buf[n + 1] = ALPHABET[usize::from(a & 3) << 4];
                n += 2;
            }
            [a, b] => {
                buf[n] = ALPHABET[usize::from(a >> 2)];
                buf[n + 1] = ALPHABET[usize::from(a & 3) << 4 | usize::from(b >> 4)];
                buf[n + 2] = ALPHABET[usize::from(b & 15) << 2];
                n += 3;
            }
            _ => {}
        }
        out.push_str(std::str::from_utf8(&buf[..n]).expect("the alphabet is ASCII"));
    }
}

#[cfg(test)]
mod tests;
