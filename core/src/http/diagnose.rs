//! Why a server rejected a DPoP proof (`invalid_dpop_proof`, RFC 9449 §5.10 and §7.1), said
//! from what the client knows: the claims it signed, the server's clock (its `Date`), the
//! algorithms the server accepts (the challenge's `algs`, the metadata), the nonce the server
//! now gives, and the key the access token is bound to (`cnf.jkt` of a JWT access token).
//! Servers say little (often just "invalid DPoP proof"); this says what to look at first.

use super::skew::parse_http_date;
use super::{challenge, Response};
use base64ct::{Base64UrlUnpadded, Encoding};

/// What the client knows besides the response.
pub(crate) struct Known<'a> {
    /// The URL requested (its `htu` is what the proof carried).
    pub(crate) url: &'a str,
    /// The algorithms the server's metadata lists for DPoP proofs.
    pub(crate) server_algs: Option<&'a [String]>,
    /// The access token the request carried.
    pub(crate) token: Option<&'a str>,
    /// Secrets the server's `error_description` may echo.
    pub(crate) secrets: &'a [&'a str],
    pub(crate) clock_correction: bool,
}

/// A proof's `iat` this far from the server's clock is taken as the likely cause.
const IAT_SUSPECT_SECS: i64 = 30;

/// The longest part of a server string (nonce, description) quoted.
const QUOTE_MAX: usize = 120;

fn quote(s: &str) -> String {
    let cut: String = s.chars().take(QUOTE_MAX).collect();
    if cut.len() < s.len() {
        format!("'{cut}...'")
    } else {
        format!("'{cut}'")
    }
}

/// The text for a rejected proof: the probable causes first, then what the proof carried.
pub(crate) fn rejected_proof(response: &Response, known: &Known<'_>) -> String {
    let Some(sent) = &response.proof else {
        return "The request carried no DPoP proof.".to_string();
    };
    let mut likely: Vec<String> = Vec::new();
    let mut carried: Vec<String> = Vec::new();
    let dpop = challenge::dpop_challenge(response.header_values("www-authenticate"));

    let challenge_algs: Option<Vec<String>> = dpop
        .as_ref()
        .and_then(|c| c.param("algs"))
        .map(|a| a.split_whitespace().map(str::to_string).collect());
    let algs = challenge_algs.or_else(|| known.server_algs.map(<[String]>::to_vec));
    if let Some(algs) = algs.filter(|a| !a.iter().any(|x| x == sent.alg)) {
        likely.push(format!(
            "the algorithm: the proof is signed with {}, and the server accepts {}",
            sent.alg,
            algs.join(" ")
        ));
    }

    match response.header_values("date").next().and_then(parse_http_date) {
        Some(server) => {
            let diff = sent.iat - server;
            carried.push(format!("iat {} ({diff:+} s from the server's Date)", sent.iat));
            if diff.abs() > IAT_SUSPECT_SECS {
                let how = if !known.clock_correction {
                    "; clock correction is off ('clock_correction': false)"
                } else {
                    "; this computer's clock is off, and the proof was signed before an answer of this server showed it"
                };
                likely.push(format!(
                    "the time: the proof's iat is {diff:+} s from the server's clock{how}"
                ));
            }
        }
        None => carried.push(format!(
            "iat {} (the server sent no Date to compare with)",
            sent.iat
        )),
    }

    let newest = response.header_values("dpop-nonce").next();
    match (&sent.nonce, newest) {
        (Some(n), Some(m)) if n != m => {
            carried.push(format!("the nonce {}", quote(n)));
            likely.push(format!(
                "the nonce: the proof carried {}, and the server now gives {}",
                quote(n),
                quote(m)
            ));
        }
        (Some(n), _) => carried.push(format!("the nonce {}", quote(n))),
        (None, _) => carried.push("no nonce".to_string()),
    }

    if let Some(token) = known.token {
        carried.push("ath of the access token sent".to_string());
        if let Some(jkt) = token_jkt(token) {
            if jkt != sent.key.thumbprint() {
                likely.push(format!(
                    "the key: the access token is bound to the key {} (its cnf.jkt), but the proof is signed \
                     with the key {}; the key changed after the token was issued",
                    quote(&jkt),
                    sent.key.thumbprint()
                ));
            }
        }
    }

    let htu = crate::proof::htu(known.url).unwrap_or_else(|_| crate::redact::url(known.url));
    carried.insert(0, format!("htu '{htu}' (the URL requested)"));
    if likely.is_empty() {
        likely.push(
            "the URL: when a proxy or gateway rewrites the URL on its way (host, port or path prefix), the \
             server expects another htu than the URL this client requested"
                .to_string(),
        );
    }
    let mut text = format!(
        "The server rejected the DPoP proof; probably {}. The proof carried {}; signed with {} by the key {}.",
        likely.join("; or "),
        carried.join(", "),
        sent.alg,
        sent.key.thumbprint()
    );
    if let Some(description) = dpop.as_ref().and_then(|c| c.param("error_description")) {
        text.push_str(&format!(" The server said: {}.", quote(description)));
    }
    crate::redact::secrets(&text, known.secrets)
}

/// Whether the access token sent is a JWT bound (`cnf.jkt`) to another key than the one that
/// signed the request's proof.
pub(crate) fn bound_to_another_key(response: &Response, token: Option<&str>) -> bool {
    match (&response.proof, token.and_then(token_jkt)) {
        (Some(sent), Some(jkt)) => jkt != sent.key.thumbprint(),
        _ => false,
    }
}

/// The `cnf.jkt` of a JWT access token, read without verifying it (only the client's own
/// diagnosis uses it); `None` for an opaque token.
fn token_jkt(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    if payload.len() > 16 * 1024 {
        return None;
    }
    let bytes = Base64UrlUnpadded::decode_vec(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("cnf")?.get("jkt")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::response::SentProof;
    use crate::key::{Algorithm, Key};
    use std::sync::{Arc, LazyLock};

    /// The key the test proofs are signed with.
    static KEY_NOW: LazyLock<Arc<Key>> = LazyLock::new(|| Arc::new(Key::generate(Algorithm::Es256).unwrap()));

    fn rejected(headers: &[(&str, &str)], nonce: Option<&str>, iat: i64) -> Response {
        let mut r = Response::new(
            401,
            headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            Vec::new(),
        );
        r.proof = Some(SentProof {
            alg: "ES256",
            iat,
            correction: 0,
            nonce: nonce.map(str::to_string),
            key: Arc::clone(&KEY_NOW),
        });
        r
    }

    fn known<'a>(token: Option<&'a str>) -> Known<'a> {
        Known {
            url: "https://api.example/v1/x?q=1",
            server_algs: None,
            token,
            secrets: &[],
            clock_correction: true,
        }
    }

    const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT"; // 784111777

    #[test]
    fn each_cause_is_named() {
        let text = rejected_proof(&rejected(&[("date", DATE)], None, 784111777 + 1), &known(None));
        assert!(text.contains("probably the URL"), "{text}");
        assert!(text.contains("htu 'https://api.example/v1/x'"), "{text}");
        assert!(text.contains("+1 s from the server's Date"), "{text}");

        let text = rejected_proof(&rejected(&[("date", DATE)], None, 784111777 - 300), &known(None));
        assert!(
            text.contains("probably the time: the proof's iat is -300 s"),
            "{text}"
        );

        let algs = [(
            "www-authenticate",
            r#"DPoP error="invalid_dpop_proof", algs="PS256 EdDSA""#,
        )];
        let text = rejected_proof(&rejected(&algs, None, 0), &known(None));
        assert!(
            text.contains("signed with ES256, and the server accepts PS256 EdDSA"),
            "{text}"
        );

        let nonce = [("dpop-nonce", "n-2")];
        let text = rejected_proof(&rejected(&nonce, Some("n-1"), 0), &known(None));
        assert!(
            text.contains("carried 'n-1', and the server now gives 'n-2'"),
            "{text}"
        );

        let payload = Base64UrlUnpadded::encode_string(br#"{"cnf":{"jkt":"KEY-BEFORE"}}"#);
        let token = format!("eyJhbGciOiJFUzI1NiJ9.{payload}.c2ln");
        let text = rejected_proof(&rejected(&[], None, 0), &known(Some(&token)));
        assert!(
            text.contains("bound to the key 'KEY-BEFORE'")
                && text.contains(&format!("signed with the key {}", KEY_NOW.thumbprint())),
            "{text}"
        );
    }

    #[test]
    fn only_a_token_bound_to_another_key_makes_invalid_token_a_proof_matter() {
        let bound = |jkt: &str| {
            let payload =
                Base64UrlUnpadded::encode_string(format!(r#"{{"cnf":{{"jkt":"{jkt}"}}}}"#).as_bytes());
            format!("eyJhbGciOiJFUzI1NiJ9.{payload}.c2ln")
        };
        let r = rejected(&[], None, 0);
        assert!(bound_to_another_key(&r, Some(&bound("KEY-BEFORE"))));
        assert!(!bound_to_another_key(&r, Some(&bound(KEY_NOW.thumbprint()))));
        assert!(!bound_to_another_key(&r, Some("opaque-token")));
        assert!(!bound_to_another_key(&r, None));
    }

    #[test]
    fn the_servers_description_is_quoted_without_secrets() {
        let h = [(
            "www-authenticate",
            r#"DPoP error="invalid_dpop_proof", error_description="bad proof for token tok-123""#,
        )];
        let k = Known {
            secrets: &["tok-123"],
            ..known(None)
        };
        let text = rejected_proof(&rejected(&h, None, 0), &k);
        assert!(
            text.contains("The server said: 'bad proof for token ****'"),
            "{text}"
        );
    }
}
