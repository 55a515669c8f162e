use super::*;
use crate::key::Algorithm;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519};
use std::collections::HashSet;

fn decode_part(part: &str) -> serde_json::Value {
    serde_json::from_slice(&Base64UrlUnpadded::decode_vec(part).unwrap()).unwrap()
}

/// Verifies a proof's signature against the key in its own header; returns header and claims.
fn verify(jws: &str) -> (serde_json::Value, serde_json::Value) {
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header = decode_part(parts[0]);
    let jwk = &header["jwk"];
    let b = |name: &str| Base64UrlUnpadded::decode_vec(jwk[name].as_str().unwrap()).unwrap();
    let (alg, public): (&dyn ring::signature::VerificationAlgorithm, Vec<u8>) =
        match header["alg"].as_str().unwrap() {
            "ES256" => (&ECDSA_P256_SHA256_FIXED, [vec![4], b("x"), b("y")].concat()),
            "ES384" => (&ECDSA_P384_SHA384_FIXED, [vec![4], b("x"), b("y")].concat()),
            "EdDSA" => (&ED25519, b("x")),
            other => panic!("unexpected alg {other}"),
        };
    let signature = Base64UrlUnpadded::decode_vec(parts[2]).unwrap();
    let signed = &jws[..parts[0].len() + 1 + parts[1].len()];
    UnparsedPublicKey::new(alg, public)
        .verify(signed.as_bytes(), &signature)
        .unwrap();
    (header, decode_part(parts[1]))
}

#[test]
fn proof_has_rfc_9449_header_and_claims() {
    for alg in [Algorithm::Es256, Algorithm::Es384, Algorithm::EdDsa] {
        let key = Key::generate(alg).unwrap();
        let jws = Proof::new("POST", "https://Server.Example.COM:443/token?x=1#frag")
            .sign(&key)
            .unwrap();
        let (header, claims) = verify(&jws);
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], alg.name());
        assert_eq!(header["jwk"].to_string(), key.public_jwk());
        assert!(header["jwk"].get("d").is_none());
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], "https://server.example.com/token");
        assert!(claims["iat"].as_u64().unwrap() > 1_700_000_000);
        assert_eq!(
            Base64UrlUnpadded::decode_vec(claims["jti"].as_str().unwrap())
                .unwrap()
                .len(),
            16
        );
        assert!(claims.get("ath").is_none() && claims.get("nonce").is_none());
    }
}

#[test]
fn ath_is_the_rfc_9449_example_value() {
    // RFC 9449 §7.1: the example access token and its ath.
    assert_eq!(
        ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}

#[test]
fn token_nonce_and_extra_claims_are_carried() {
    let key = Key::generate(Algorithm::Es256).unwrap();
    let jws = Proof::new("GET", "https://rs.example/api")
        .access_token(Some("tok.en"))
        .nonce(Some("eyJ7S_zG.eyJH0-Z.HX4w-7v"))
        .extra_claims(Some(r#"{"client_id":"abc","n":[1,2]}"#))
        .issued_at(Some(1_700_000_123))
        .sign(&key)
        .unwrap();
    let (_, claims) = verify(&jws);
    assert_eq!(claims["ath"], ath("tok.en"));
    assert_eq!(claims["nonce"], "eyJ7S_zG.eyJH0-Z.HX4w-7v");
    assert_eq!(claims["client_id"], "abc");
    assert_eq!(claims["n"], serde_json::json!([1, 2]));
    assert_eq!(claims["iat"], 1_700_000_123);
}

#[test]
fn htu_normalisation_cases() {
    let cases = [
        ("https://EXAMPLE.com/Path", "https://example.com/Path"),
        ("HTTPS://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com", "https://example.com/"),
        ("https://user:pw@example.com/a?b=c#d", "https://example.com/a"),
        ("http://127.0.0.1:8080/x?", "http://127.0.0.1:8080/x"),
        ("https://[::1]:443/v", "https://[::1]/v"),
    ];
    for (input, expected) in cases {
        assert_eq!(htu(input).unwrap(), expected, "{input}");
    }
    for bad in ["", "/relative", "ftp://example.com/", "https://", "not a url"] {
        assert_eq!(htu(bad).unwrap_err().kind(), ErrorKind::ProofUrl, "{bad}");
    }
}

#[test]
fn bad_inputs_are_rejected_with_their_kind() {
    let key = Key::generate(Algorithm::Es256).unwrap();
    let kind = |p: Proof| p.sign(&key).unwrap_err().kind();
    assert_eq!(kind(Proof::new("", "https://a/")), ErrorKind::ProofMethod);
    assert_eq!(kind(Proof::new("GE T", "https://a/")), ErrorKind::ProofMethod);
    assert_eq!(kind(Proof::new("GET", "mailto:x@y")), ErrorKind::ProofUrl);
    assert_eq!(
        kind(Proof::new("GET", "https://a/").nonce(Some(""))),
        ErrorKind::ProofNonce
    );
    assert_eq!(
        kind(Proof::new("GET", "https://a/").nonce(Some("a\"b"))),
        ErrorKind::ProofNonce
    );
    assert_eq!(
        kind(Proof::new("GET", "https://a/").access_token(Some(""))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(Proof::new("GET", "https://a/").extra_claims(Some("[1]"))),
        ErrorKind::ProofClaims
    );
    assert_eq!(
        kind(Proof::new("GET", "https://a/").extra_claims(Some("{"))),
        ErrorKind::ProofClaims
    );
    for reserved in RESERVED_CLAIMS {
        let json = format!(r#"{{"{reserved}":"x"}}"#);
        assert_eq!(
            kind(Proof::new("GET", "https://a/").extra_claims(Some(&json))),
            ErrorKind::ProofClaims
        );
    }
}

#[test]
fn ten_thousand_proofs_have_distinct_jtis() {
    let key = Key::generate(Algorithm::Es256).unwrap();
    let mut seen = HashSet::new();
    for _ in 0..10_000 {
        let jws = Proof::new("GET", "https://rs.example/").sign(&key).unwrap();
        let payload = decode_part(jws.split('.').nth(1).unwrap());
        assert!(seen.insert(payload["jti"].as_str().unwrap().to_owned()));
    }
}

#[test]
fn json_strings_and_base64url_match_serde_json_and_base64ct() {
    let cases = [
        "",
        "GET",
        "https://rs.example/a b",
        "quote\" backslash\\ slash/",
        "tab\t newline\n nul\0 unit\u{1f} del\u{7f}",
        "unicode é \u{2028} 🦀",
    ];
    for s in cases {
        let mut out = String::from("x");
        push_json_string(&mut out, s);
        assert_eq!(out, format!("x{}", Value::from(s)), "{s:?}");
    }
    let bytes: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    for len in (0..=400).chain([1000]) {
        let mut out = String::new();
        push_base64url(&mut out, &bytes[..len]);
        assert_eq!(out, Base64UrlUnpadded::encode_string(&bytes[..len]), "{len}");
    }
}

#[test]
fn debug_never_shows_the_access_token_or_the_query() {
    let proof = Proof::new("GET", "https://api.example/r?api_key=k-9431")
        .access_token(Some("at-secret-Xq81"))
        .nonce(Some("n-1"));
    let shown = format!("{proof:?}");
    assert!(!shown.contains("at-secret-Xq81"), "{shown}");
    assert!(!shown.contains("k-9431"), "{shown}");
    assert!(shown.contains("<hidden>") && shown.contains("n-1"), "{shown}");
}

#[test]
fn the_fast_htu_agrees_with_the_url_parser_or_declines() {
    let fast = [
        "https://api.example.com/resource",
        "https://api.example.com/v1/items?id=7#frag",
        "http://127.0.0.1:8080/dpop/test?x",
        "https://a-b.example:8443/A/b~c/d;e=f:g@h",
        "http://10.0.0.255/",
    ];
    for url in fast {
        let got = htu_fast(url).unwrap_or_else(|| panic!("{url} takes the fast path"));
        assert_eq!(got, htu_parsed(url).unwrap(), "{url}");
    }
    let declined = [
        "https://API.example.com/r",
        "https://api.example.com:443/r",
        "http://api.example.com:80/r",
        "https://api.example.com",
        "https://user:pw@api.example.com/r",
        "https://api.example.com/a/../b",
        "https://api.example.com/a/./b",
        "https://api.example.com/a%2fb",
        "https://api.example.com/a b",
        "https://xn--bcher-kva.example/",
        "https://api.example.com./r",
        "http://127.1/r",
        "http://0x7f.0.0.1/r",
        "http://127.000.0.1/r",
        "http://[::1]/r",
        "https://api.example.com:08443/r",
        "https://api.example.com:99999/r",
        "https://api..example/r",
        "ftp://api.example.com/r",
        "https://api.example.com/é",
    ];
    for url in declined {
        assert_eq!(htu_fast(url), None, "{url} goes to the parser");
        if let Ok(parsed) = htu_parsed(url) {
            assert_eq!(htu(url).unwrap(), parsed);
        }
    }
}

#[test]
fn jtis_from_the_pool_are_distinct_across_many_proofs_and_threads() {
    let key = Key::generate(crate::key::Algorithm::Es256).unwrap();
    let jti = |p: &str| {
        let payload = p.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(&Base64UrlUnpadded::decode_vec(payload).unwrap()).unwrap();
        claims["jti"].as_str().unwrap().to_string()
    };
    let all: Vec<String> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..100)
                        .map(|_| jti(&Proof::new("GET", "https://a.example/").sign(&key).unwrap()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
    });
    let distinct: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(distinct.len(), 400);
    assert!(all.iter().all(|j| j.len() == 22), "16 bytes each");
}
