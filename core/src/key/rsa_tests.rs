//! RSA keys: every format, the refusals, PS256 and RS256 signatures checked by ring and OpenSSL,
//! JWK and PKCS#8 round trips, generation and `with_alg`. The fixtures in core/tests/data/rsa
//! are throwaway test keys made by openssl (see the README there).

use super::*;
use base64ct::Base64;
use pkcs1::der::asn1::UintRef;
use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rsa/", $name)).as_slice()
    };
}

const PASSWORD: &str = "throwaway-test-password";

fn thumbprint() -> &'static str {
    std::str::from_utf8(fixture!("throwaway-rsa2048.thumbprint"))
        .unwrap()
        .trim()
}

fn fixture_key() -> Key {
    Key::load_memory(fixture!("throwaway-rsa2048-pkcs1.pem"), None).unwrap()
}

fn b64(value: &serde_json::Value) -> Vec<u8> {
    Base64UrlUnpadded::decode_vec(value.as_str().unwrap()).unwrap()
}

fn header_of(key: &Key) -> serde_json::Value {
    serde_json::from_slice(&Base64UrlUnpadded::decode_vec(key.header_b64()).unwrap()).unwrap()
}

/// Checks `sig` over `message` with ring's verifier for the key's algorithm and its public JWK.
fn ring_verifies(key: &Key, message: &[u8], sig: &[u8]) -> bool {
    let jwk: serde_json::Value = serde_json::from_str(key.public_jwk()).unwrap();
    let public = RsaPublicKeyComponents {
        n: b64(&jwk["n"]),
        e: b64(&jwk["e"]),
    };
    let params = match key.alg() {
        Algorithm::Ps256 => &RSA_PSS_2048_8192_SHA256,
        _ => &RSA_PKCS1_2048_8192_SHA256,
    };
    public.verify(params, message, sig).is_ok()
}

#[test]
fn every_format_of_one_openssl_rsa_key_loads_as_the_same_key() {
    let cases: [(&str, &[u8], Option<&str>, Algorithm); 6] = [
        (
            "PKCS#1 PEM",
            fixture!("throwaway-rsa2048-pkcs1.pem"),
            None,
            Algorithm::Ps256,
        ),
        (
            "PKCS#1 DER",
            fixture!("throwaway-rsa2048-pkcs1.der"),
            None,
            Algorithm::Ps256,
        ),
        (
            "PKCS#8 PEM",
            fixture!("throwaway-rsa2048-pkcs8.pem"),
            None,
            Algorithm::Ps256,
        ),
        (
            "PKCS#8 DER",
            fixture!("throwaway-rsa2048-pkcs8.der"),
            None,
            Algorithm::Ps256,
        ),
        (
            "encrypted PKCS#8",
            fixture!("throwaway-rsa2048-encrypted.pem"),
            Some(PASSWORD),
            Algorithm::Ps256,
        ),
        (
            "JWK",
            fixture!("throwaway-rsa2048-rs256.jwk"),
            None,
            Algorithm::Rs256,
        ),
    ];
    for (what, data, password, alg) in cases {
        let key = Key::load_memory(data, password).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(key.alg(), alg, "{what}");
        // Computed by Python's hashlib over the JWK members cryptography gave (see README).
        assert_eq!(key.thumbprint(), thumbprint(), "{what}");
    }
    let encrypted = fixture!("throwaway-rsa2048-encrypted.pem");
    assert_eq!(
        Key::load_memory(encrypted, None).unwrap_err().kind(),
        ErrorKind::KeyPasswordRequired
    );
    assert_eq!(
        Key::load_memory(encrypted, Some("wrong")).unwrap_err().kind(),
        ErrorKind::KeyWrongPassword
    );
}

#[test]
fn the_public_jwk_is_in_rfc_7638_order_and_the_header_is_precomputed() {
    let key = fixture_key();
    assert!(
        key.public_jwk().starts_with(r#"{"e":"AQAB","kty":"RSA","n":""#),
        "{}",
        key.public_jwk()
    );
    let jwk: serde_json::Value = serde_json::from_str(key.public_jwk()).unwrap();
    assert_eq!(jwk.as_object().unwrap().len(), 3);
    assert_eq!(b64(&jwk["n"]).len(), 256);
    let header = Base64UrlUnpadded::decode_vec(key.header_b64()).unwrap();
    assert_eq!(
        std::str::from_utf8(&header).unwrap(),
        format!(r#"{{"typ":"dpop+jwt","alg":"PS256","jwk":{}}}"#, key.public_jwk())
    );
    let rs = key.with_alg(Algorithm::Rs256).unwrap();
    assert_eq!(header_of(&rs)["alg"], "RS256");
    assert_eq!(header_of(&rs)["jwk"], header_of(&key)["jwk"]);
}

#[test]
fn rsa_keys_under_2048_or_over_4096_bits_are_refused_with_their_size() {
    let e = Key::load_memory(fixture!("throwaway-rsa1024-pkcs1.pem"), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyRsa);
    assert_eq!(
        e.message(),
        "RSA keys under 2048 bits are refused; this key has 1024 bits"
    );
    // check() reads the sizes before any arithmetic, so made-up numbers do.
    let e = Key::load_memory(&made_up_pkcs1(4104, &[1, 0, 1]), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyRsa);
    assert!(
        e.message().contains("over 4096 bits") && e.message().contains("this key has 4104 bits"),
        "{}",
        e.message()
    );
    let e = Key::load_memory(&made_up_pkcs1(2048, &[3]), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyRsa);
    assert!(e.message().contains("public exponent 3"), "{}", e.message());
}

/// The DER of an RSAPrivateKey with a `bits`-bit modulus and exponent `e` (not a real key).
fn made_up_pkcs1(bits: usize, e: &[u8]) -> Vec<u8> {
    let mut n = vec![0xC5u8; bits / 8];
    n[0] = 0x80;
    let one = UintRef::new(&[7]).unwrap();
    let key = pkcs1::RsaPrivateKey {
        modulus: UintRef::new(&n).unwrap(),
        public_exponent: UintRef::new(e).unwrap(),
        private_exponent: one,
        prime1: one,
        prime2: one,
        exponent1: one,
        exponent2: one,
        coefficient: one,
        other_prime_infos: None,
    };
    pkcs1::der::Encode::to_der(&key).unwrap()
}

#[test]
fn ps256_and_rs256_signatures_verify_with_ring() {
    let ps = fixture_key();
    let rs = ps.with_alg(Algorithm::Rs256).unwrap();
    let rng = SystemRandom::new();
    for key in [&ps, &rs] {
        let sig = key.sign(&rng, b"signing input").unwrap();
        assert_eq!(sig.len(), 256);
        assert!(ring_verifies(key, b"signing input", &sig), "{:?}", key.alg());
        assert!(!ring_verifies(key, b"another input", &sig));
    }
    // PSS is randomised, PKCS#1 v1.5 is not.
    assert_ne!(ps.sign(&rng, b"m").unwrap(), ps.sign(&rng, b"m").unwrap());
    assert_eq!(rs.sign(&rng, b"m").unwrap(), rs.sign(&rng, b"m").unwrap());
    let proof = crate::Proof::new("GET", "https://api.example/r")
        .sign(&ps)
        .unwrap();
    let parts: Vec<&str> = proof.split('.').collect();
    let input = &proof[..parts[0].len() + 1 + parts[1].len()];
    let sig = Base64UrlUnpadded::decode_vec(parts[2]).unwrap();
    assert!(ring_verifies(&ps, input.as_bytes(), &sig));
}

#[test]
fn ps256_and_rs256_signatures_verify_with_openssl() {
    let Ok(version) = std::process::Command::new("openssl").arg("version").output() else {
        eprintln!("openssl is not installed: the OpenSSL cross-check did not run");
        return;
    };
    assert!(version.status.success());
    let dir = std::env::temp_dir().join(format!("dpop-rsa-openssl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str| dir.join(name);
    std::fs::write(file("key.pem"), fixture!("throwaway-rsa2048-pkcs8.pem")).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    assert!(run(&["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"])
        .status
        .success());
    let ps = fixture_key();
    let rng = SystemRandom::new();
    let cases: [(&Key, &[&str]); 2] = [
        (
            &ps,
            &["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"],
        ),
        (&ps.with_alg(Algorithm::Rs256).unwrap(), &[]),
    ];
    for (key, options) in cases {
        std::fs::write(file("input"), b"a DPoP signing input").unwrap();
        std::fs::write(file("sig"), key.sign(&rng, b"a DPoP signing input").unwrap()).unwrap();
        let mut args = vec!["dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig"];
        args.extend_from_slice(options);
        args.push("input");
        let out = run(&args);
        assert!(
            out.status.success(),
            "{:?}: {}",
            key.alg(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_private_jwk_has_every_crt_member_and_loads_back_with_its_alg() {
    for key in [fixture_key(), fixture_key().with_alg(Algorithm::Rs256).unwrap()] {
        let text = key.private_jwk();
        let jwk: serde_json::Value = serde_json::from_str(&text).unwrap();
        let members: Vec<&String> = jwk.as_object().unwrap().keys().collect();
        assert_eq!(members, ["alg", "d", "dp", "dq", "e", "kty", "n", "p", "q", "qi"]);
        assert_eq!(jwk["alg"], key.alg().name());
        let back = Key::load_memory(text.as_bytes(), None).unwrap();
        assert_eq!(back.alg(), key.alg());
        assert_eq!(back.thumbprint(), thumbprint());
        assert_eq!(back.private_jwk().as_str(), text.as_str());
    }
    // cryptography's JWK members are the ones exported.
    let theirs: serde_json::Value = serde_json::from_slice(fixture!("throwaway-rsa2048-rs256.jwk")).unwrap();
    let ours: serde_json::Value = serde_json::from_str(&fixture_key().private_jwk()).unwrap();
    for name in ["n", "e", "d", "p", "q", "dp", "dq", "qi"] {
        assert_eq!(ours[name], theirs[name], "{name}");
    }
}

#[test]
fn rsa_jwk_problems_are_named() {
    let full: serde_json::Value = serde_json::from_str(&fixture_key().private_jwk()).unwrap();
    let without = |name: &str| {
        let mut m = full.as_object().unwrap().clone();
        m.remove(name);
        serde_json::Value::Object(m).to_string()
    };
    let e = Key::load_memory(without("qi").as_bytes(), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyMalformed);
    assert!(
        e.message().contains("'qi'") && e.message().contains("CRT members p, q, dp, dq and qi"),
        "{}",
        e.message()
    );
    assert_eq!(
        Key::load_memory(without("d").as_bytes(), None)
            .unwrap_err()
            .kind(),
        ErrorKind::KeyPublicOnly
    );
    let mut other = full.as_object().unwrap().clone();
    other.insert("alg".into(), "RS512".into());
    let e = Key::load_memory(serde_json::Value::Object(other).to_string().as_bytes(), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyRsa);
    assert!(e.message().contains("RS512"), "{}", e.message());
    let mut wrong = full.as_object().unwrap().clone();
    wrong.insert("q".into(), full["p"].clone());
    let e = Key::load_memory(serde_json::Value::Object(wrong).to_string().as_bytes(), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyMalformed, "{}", e.message());
    for name in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(!e.message().contains(full[name].as_str().unwrap()));
    }
}

#[test]
fn a_pkcs1_public_key_is_public_only() {
    let jwk: serde_json::Value = serde_json::from_str(fixture_key().public_jwk()).unwrap();
    let (n, e) = (b64(&jwk["n"]), b64(&jwk["e"]));
    let public = pkcs1::RsaPublicKey {
        modulus: UintRef::new(&n).unwrap(),
        public_exponent: UintRef::new(&e).unwrap(),
    };
    let der = pkcs1::der::Encode::to_der(&public).unwrap();
    assert_eq!(
        Key::load_memory(&der, None).unwrap_err().kind(),
        ErrorKind::KeyPublicOnly
    );
}

#[test]
fn pkcs8_exports_plain_and_encrypted_load_back() {
    let key = fixture_key();
    let pem = key.private_pem(None).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    // The same PKCS#8 DER as openssl's (rsaEncryption with NULL parameters).
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_eq!(
        Base64::decode_vec(&body).unwrap(),
        fixture!("throwaway-rsa2048-pkcs8.der")
    );
    let sealed = key.private_pem(Some("pw")).unwrap();
    assert!(sealed.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
    assert_eq!(
        Key::load_memory(sealed.as_bytes(), Some("pw"))
            .unwrap()
            .thumbprint(),
        thumbprint()
    );
    let dir = std::env::temp_dir().join(format!("dpop-rsa-save-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rsa.pem");
    key.save_private_pem(&path, None).unwrap();
    assert_eq!(Key::load(&path, None).unwrap().thumbprint(), thumbprint());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn generated_rsa_keys_have_the_size_asked_for_and_sign() {
    let key = Key::generate_rsa(2048, Algorithm::Rs256).unwrap();
    assert_eq!(key.alg(), Algorithm::Rs256);
    let sig = key.sign(&SystemRandom::new(), b"m").unwrap();
    assert_eq!(sig.len(), 256);
    assert!(ring_verifies(&key, b"m", &sig));
    let back = Key::load_memory(key.private_pem(None).unwrap().as_bytes(), None).unwrap();
    assert_eq!(
        (back.alg(), back.thumbprint()),
        (Algorithm::Ps256, key.thumbprint())
    );

    let default = Key::generate(Algorithm::Ps256).unwrap();
    let jwk: serde_json::Value = serde_json::from_str(default.public_jwk()).unwrap();
    assert_eq!(b64(&jwk["n"]).len() * 8, RSA_DEFAULT_BITS);
    assert_eq!(default.bits(), RSA_DEFAULT_BITS);
    assert_eq!(key.bits(), 2048);
    assert_eq!(Key::generate(Algorithm::Es384).unwrap().bits(), 384);
    assert_eq!(default.alg(), Algorithm::Ps256);

    for bits in [1024, 2047, 2560, 8192] {
        let e = Key::generate_rsa(bits, Algorithm::Ps256).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("2048, 3072 or 4096"), "{}", e.message());
    }
    let e = Key::generate_rsa(2048, Algorithm::Es256).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn with_alg_switches_rsa_padding_and_refuses_other_families() {
    let ps = fixture_key();
    let rs = ps.with_alg(Algorithm::Rs256).unwrap();
    assert_eq!((rs.alg(), rs.thumbprint()), (Algorithm::Rs256, ps.thumbprint()));
    assert_eq!(rs.with_alg(Algorithm::Ps256).unwrap().alg(), Algorithm::Ps256);
    let e = ps.with_alg(Algorithm::Es256).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        e.message(),
        "this RSA key cannot sign with ES256: it signs with PS256 or RS256"
    );
    let ec = Key::generate(Algorithm::Es256).unwrap();
    assert_eq!(
        ec.with_alg(Algorithm::Es256).unwrap().thumbprint(),
        ec.thumbprint()
    );
    let e = ec.with_alg(Algorithm::Ps256).unwrap_err();
    assert_eq!(
        e.message(),
        "this P-256 key cannot sign with PS256: it signs with ES256"
    );
}

#[test]
fn algorithm_names_include_ps256_and_rs256() {
    assert_eq!(Algorithm::from_name("PS256").unwrap(), Algorithm::Ps256);
    assert_eq!(Algorithm::from_name("rs256").unwrap(), Algorithm::Rs256);
    let e = Algorithm::from_name("PS512").unwrap_err();
    assert_eq!(
        e.message(),
        "unsupported algorithm 'PS512': use ES256, ES384, EdDSA, PS256 or RS256"
    );
}

#[test]
fn rsa_debug_output_and_errors_show_no_private_member() {
    let key = fixture_key();
    let jwk: serde_json::Value = serde_json::from_str(&key.private_jwk()).unwrap();
    let shown = format!("{key:?}");
    for name in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(!shown.contains(jwk[name].as_str().unwrap()), "{name}");
    }
    assert!(shown.contains("PS256") && shown.contains(key.thumbprint()));
}
