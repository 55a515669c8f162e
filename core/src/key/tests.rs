use super::*;
use base64ct::Base64;

fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    Base64::decode_vec(&body).unwrap()
}

fn kind_of(r: Result<Key>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

#[test]
fn thumbprint_matches_the_rfc_9449_example_key() {
    // RFC 9449 §4.1 example key; §6.1 gives its thumbprint as the cnf.jkt of the token.
    let x = Base64UrlUnpadded::decode_vec("l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs").unwrap();
    let y = Base64UrlUnpadded::decode_vec("9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA").unwrap();
    let point = [&[4u8][..], &x, &y].concat();
    let jwk = jwk::public_jwk(Algorithm::Es256, &point);
    assert_eq!(thumbprint_of(&jwk), "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
}

#[test]
fn ed25519_jwk_matches_rfc_8037_thumbprint_and_signature() {
    let jwk = br#"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
    let key = Key::load_memory(jwk, None).unwrap();
    assert_eq!(key.alg(), Algorithm::EdDsa);
    assert_eq!(key.thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    let sig = key
        .sign(
            &SystemRandom::new(),
            b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc",
        )
        .unwrap();
    assert_eq!(
        Base64UrlUnpadded::encode_string(&sig),
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
    );
}

#[test]
fn generated_keys_round_trip_through_every_export_format() {
    for alg in [Algorithm::Es256, Algorithm::Es384, Algorithm::EdDsa] {
        let key = Key::generate(alg).unwrap();
        assert_eq!(key.alg(), alg);
        assert_eq!(key.thumbprint().len(), 43);
        let pem = key.private_pem(None).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let from_pem = Key::load_memory(pem.as_bytes(), None).unwrap();
        assert_eq!(from_pem.thumbprint(), key.thumbprint());
        let from_der = Key::load_memory(&pem_to_der(&pem), None).unwrap();
        assert_eq!(from_der.thumbprint(), key.thumbprint());
        let from_jwk = Key::load_memory(key.private_jwk().as_bytes(), None).unwrap();
        assert_eq!(from_jwk.thumbprint(), key.thumbprint());
        assert_eq!(from_jwk.private_jwk().as_str(), key.private_jwk().as_str());
    }
}

#[test]
fn encrypted_export_needs_its_password_back() {
    let key = Key::generate(Algorithm::Es256).unwrap();
    let pem = key.private_pem(Some("correct horse")).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
    let back = Key::load_memory(pem.as_bytes(), Some("correct horse")).unwrap();
    assert_eq!(back.thumbprint(), key.thumbprint());
    assert_eq!(
        kind_of(Key::load_memory(pem.as_bytes(), Some("wrong"))),
        ErrorKind::KeyWrongPassword
    );
    assert_eq!(
        kind_of(Key::load_memory(pem.as_bytes(), None)),
        ErrorKind::KeyPasswordRequired
    );
    assert_eq!(
        kind_of(Key::load_memory(pem.as_bytes(), Some(""))),
        ErrorKind::KeyPasswordRequired
    );
    let der = pem_to_der(&pem);
    assert_eq!(
        kind_of(Key::load_memory(&der, None)),
        ErrorKind::KeyPasswordRequired
    );
    assert_eq!(
        Key::load_memory(&der, Some("correct horse"))
            .unwrap()
            .thumbprint(),
        key.thumbprint()
    );
    assert_eq!(
        key.private_pem(Some("")).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn debug_output_shows_no_private_key() {
    let key = Key::generate(Algorithm::Es256).unwrap();
    let jwk: serde_json::Value = serde_json::from_str(&key.private_jwk()).unwrap();
    let d = jwk["d"].as_str().unwrap();
    let shown = format!("{key:?}");
    assert!(shown.contains(key.thumbprint()));
    assert!(!shown.contains(d));
}

#[test]
fn pem_with_parameters_block_and_crlf_lines_loads() {
    let key = Key::generate(Algorithm::Es256).unwrap();
    let pem = key.private_pem(None).unwrap();
    let text = format!(
        "junk before\r\n-----BEGIN EC PARAMETERS-----\r\nBggqhkjOPQMBBw==\r\n-----END EC PARAMETERS-----\r\n{}",
        pem.replace('\n', "\r\n")
    );
    assert_eq!(
        Key::load_memory(text.as_bytes(), None).unwrap().thumbprint(),
        key.thumbprint()
    );
    let with_bom = [&b"\xEF\xBB\xBF"[..], pem.as_bytes()].concat();
    assert_eq!(
        Key::load_memory(&with_bom, None).unwrap().thumbprint(),
        key.thumbprint()
    );
}

#[test]
fn bad_inputs_get_distinct_kinds() {
    let key = Key::generate(Algorithm::Es256).unwrap();
    let pem = key.private_pem(None).unwrap();
    let der = pem_to_der(&pem);
    assert_eq!(kind_of(Key::load_memory(b"", None)), ErrorKind::KeyUnrecognized);
    assert_eq!(
        kind_of(Key::load_memory(b"  \n ", None)),
        ErrorKind::KeyUnrecognized
    );
    assert_eq!(
        kind_of(Key::load_memory(b"hello world", None)),
        ErrorKind::KeyUnrecognized
    );
    assert_eq!(
        kind_of(Key::load_memory(&pem.as_bytes()[..pem.len() - 30], None)),
        ErrorKind::KeyTruncated
    );
    assert_eq!(
        kind_of(Key::load_memory(&der[..der.len() - 5], None)),
        ErrorKind::KeyTruncated
    );
    assert_eq!(
        kind_of(Key::load_memory(&der[..1], None)),
        ErrorKind::KeyTruncated
    );
    let mut flipped = der.clone();
    flipped[10] ^= 0xff;
    assert!(Key::load_memory(&flipped, None).is_err());
    let rsa = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n";
    assert_eq!(
        kind_of(Key::load_memory(rsa.as_bytes(), None)),
        ErrorKind::KeyMalformed
    );
    let public = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n";
    assert_eq!(
        kind_of(Key::load_memory(public.as_bytes(), None)),
        ErrorKind::KeyPublicOnly
    );
    let legacy = "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END EC PRIVATE KEY-----\n";
    assert_eq!(
        kind_of(Key::load_memory(legacy.as_bytes(), None)),
        ErrorKind::KeyUnsupportedEncryption
    );
    let bad_b64 = "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n";
    assert_eq!(
        kind_of(Key::load_memory(bad_b64.as_bytes(), None)),
        ErrorKind::KeyMalformed
    );
}

#[test]
fn jwk_problems_are_named() {
    let key = Key::generate(Algorithm::Es256).unwrap();
    let full: serde_json::Value = serde_json::from_str(&key.private_jwk()).unwrap();
    let with = |f: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        let mut m = full.as_object().unwrap().clone();
        f(&mut m);
        serde_json::Value::Object(m).to_string()
    };
    let public = with(&|m| {
        m.remove("d");
    });
    assert_eq!(
        kind_of(Key::load_memory(public.as_bytes(), None)),
        ErrorKind::KeyPublicOnly
    );
    let k1 = with(&|m| {
        m.insert("crv".into(), "secp256k1".into());
    });
    assert_eq!(
        kind_of(Key::load_memory(k1.as_bytes(), None)),
        ErrorKind::KeyUnsupportedCurve
    );
    let rsa = r#"{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQAB"}"#;
    let e = Key::load_memory(rsa.as_bytes(), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyMalformed);
    assert!(e.message().contains("CRT members"), "{}", e.message());
    let oct = r#"{"kty":"oct","k":"AQAB"}"#;
    assert_eq!(
        kind_of(Key::load_memory(oct.as_bytes(), None)),
        ErrorKind::KeyUnsupportedType
    );
    let other = Key::generate(Algorithm::Es256).unwrap();
    let other_jwk: serde_json::Value = serde_json::from_str(&other.private_jwk()).unwrap();
    let mismatched = with(&|m| {
        m.insert("x".into(), other_jwk["x"].clone());
    });
    let err = Key::load_memory(mismatched.as_bytes(), None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyMalformed);
    let text = key.private_jwk();
    assert_eq!(
        kind_of(Key::load_memory(&text.as_bytes()[..40], None)),
        ErrorKind::KeyTruncated
    );
    let set = format!(r#"{{"keys":[{}]}}"#, text.as_str());
    assert_eq!(
        Key::load_memory(set.as_bytes(), None).unwrap().thumbprint(),
        key.thumbprint()
    );
    let d = full["d"].as_str().unwrap();
    for bad in [public, mismatched, set.replace("\"keys\":[", "\"keys\":[1,")] {
        if let Err(e) = Key::load_memory(bad.as_bytes(), None) {
            assert!(!e.message().contains(d), "error text leaks the private key");
        }
    }
}

/// A small deterministic generator (xorshift), so the robustness tests need no extra crate
/// and fail the same way every time.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Fails unless `loaded` is `original` whole: the same thumbprint, and a proof it signs
/// verifies with the original's public key (a key that parses but signs with another scalar
/// fails here).
fn assert_same_usable_key(loaded: &Key, original: &Key, what: &str) {
    use ring::signature::{
        UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519,
        RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256,
    };
    assert_eq!(loaded.alg(), original.alg(), "{what}: algorithm");
    assert_eq!(loaded.thumbprint(), original.thumbprint(), "{what}: thumbprint");
    let proof = crate::Proof::new("GET", "https://rs.example/api")
        .sign(loaded)
        .unwrap_or_else(|e| panic!("{what}: the loaded key cannot sign: {e}"));
    let (signed, signature) = proof.rsplit_once('.').unwrap();
    let signature = Base64UrlUnpadded::decode_vec(signature).unwrap();
    let alg: &dyn ring::signature::VerificationAlgorithm = match original.alg() {
        Algorithm::Es256 => &ECDSA_P256_SHA256_FIXED,
        Algorithm::Es384 => &ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDsa => &ED25519,
        Algorithm::Ps256 => &RSA_PSS_2048_8192_SHA256,
        Algorithm::Rs256 => &RSA_PKCS1_2048_8192_SHA256,
    };
    UnparsedPublicKey::new(alg, &original.public)
        .verify(signed.as_bytes(), &signature)
        .unwrap_or_else(|_| panic!("{what}: the proof does not verify with the original key"));
}

#[test]
fn every_cut_of_a_key_is_refused_as_truncated() {
    // Every prefix of every format of a key of each algorithm is an error, never a key, with
    // one exception that is not a cut of the key: the PEM without its final newline, whose END
    // line is complete (OpenSSL reads it too). The kinds are exact: nothing at all (empty, or
    // a PEM cut inside `-----BEGIN `) is unrecognised; every other prefix is truncated.
    const PEM_BEGIN: usize = "-----BEGIN ".len();
    let rsa = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/rsa/throwaway-rsa2048-pkcs1.pem"
    ));
    let keys = [
        Key::generate(Algorithm::Es256).unwrap(),
        Key::generate(Algorithm::Es384).unwrap(),
        Key::generate(Algorithm::EdDsa).unwrap(),
        Key::load_memory(rsa, None).unwrap(),
    ];
    for key in keys {
        let alg = key.alg();
        let pem = key.private_pem(None).unwrap();
        let encrypted = key.private_pem(Some("pw")).unwrap();
        let samples: [(&str, Vec<u8>); 5] = [
            ("PEM", pem.as_bytes().to_vec()),
            ("DER", pem_to_der(&pem)),
            ("JWK", key.private_jwk().as_bytes().to_vec()),
            ("encrypted DER", pem_to_der(&encrypted)),
            ("encrypted PEM", encrypted.as_bytes().to_vec()),
        ];
        for (format, sample) in &samples {
            let is_pem = sample.starts_with(b"-----BEGIN ");
            assert_eq!(is_pem, format.ends_with("PEM"), "{format}");
            for cut in 0..sample.len() {
                let what = format!("{alg:?} {format} cut to {cut} of {} bytes", sample.len());
                let outcome = Key::load_memory(&sample[..cut], Some("pw"));
                if is_pem && cut == sample.len() - 1 {
                    assert_eq!(sample[cut], b'\n', "{what}");
                    assert_same_usable_key(&outcome.unwrap(), &key, &what);
                    continue;
                }
                let expected = if cut == 0 || (is_pem && cut < PEM_BEGIN) {
                    ErrorKind::KeyUnrecognized
                } else {
                    ErrorKind::KeyTruncated
                };
                match outcome {
                    Ok(_) => panic!("{what}: loaded as a key"),
                    Err(e) => assert_eq!(e.kind(), expected, "{what}: {e}"),
                }
            }
        }
    }
}

#[test]
fn mutated_and_random_inputs_never_panic_and_what_loads_is_the_whole_key() {
    let key = Key::generate(Algorithm::Es256).unwrap();
    let pem = key.private_pem(None).unwrap();
    let encrypted = key.private_pem(Some("pw")).unwrap();
    let samples: Vec<Vec<u8>> = vec![
        pem.as_bytes().to_vec(),
        pem_to_der(&pem),
        key.private_jwk().as_bytes().to_vec(),
        pem_to_der(&encrypted),
    ];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut loaded_mutations = 0;
    for (i, sample) in samples.iter().enumerate() {
        // Each mutation of the encrypted key that still parses costs a full PBKDF2 run.
        let mutations = if i == samples.len() - 1 { 10 } else { 300 };
        for n in 0..mutations {
            let mut mutated = sample.clone();
            for _ in 0..1 + xorshift(&mut state) % 4 {
                let at = (xorshift(&mut state) % mutated.len() as u64) as usize;
                mutated[at] = xorshift(&mut state) as u8;
            }
            if let Ok(loaded) = Key::load_memory(&mutated, Some("pw")) {
                // A mutation that still loads (a changed PEM line break, a byte of the DER
                // that carries no key material) must be the same key, whole: a changed scalar
                // is caught by the public key stored beside it.
                loaded_mutations += 1;
                assert_same_usable_key(&loaded, &key, &format!("sample {i}, mutation {n}"));
            }
        }
    }
    assert!(
        loaded_mutations > 0,
        "no mutation loaded: the check above never ran"
    );
    for len in [0usize, 1, 2, 7, 64, 300] {
        for _ in 0..50 {
            let random: Vec<u8> = (0..len).map(|_| xorshift(&mut state) as u8).collect();
            let mut der_like = random.clone();
            if let Some(first) = der_like.first_mut() {
                *first = 0x30;
            }
            let result = Key::load_memory(&random, None);
            assert!(len > 0 || result.is_err(), "empty input is an error");
            let _ = Key::load_memory(&der_like, None);
        }
    }
}

#[test]
fn a_saved_key_loads_back_and_only_its_owner_may_read_it() {
    let dir = std::env::temp_dir().join(format!("dpop-save-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = Key::generate(Algorithm::Es384).unwrap();
    let plain = dir.join("plain.pem");
    let sealed = dir.join("sealed.pem");
    key.save_private_pem(&plain, None).unwrap();
    key.save_private_pem(&sealed, Some("pw-9")).unwrap();
    assert_eq!(Key::load(&plain, None).unwrap().thumbprint(), key.thumbprint());
    assert_eq!(
        Key::load(&sealed, Some("pw-9")).unwrap().thumbprint(),
        key.thumbprint()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&plain).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let missing = dir.join("no-such-dir").join("k.pem");
    assert_eq!(
        key.save_private_pem(&missing, None).unwrap_err().kind(),
        ErrorKind::Io
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An EncryptedPrivateKeyInfo whose PBES2 parameters use `kdf`, around junk ciphertext: the
/// cost checks must refuse it before any decryption is tried.
fn encrypted_der(kdf: pkcs5::pbes2::Kdf<'_>) -> Vec<u8> {
    use pkcs8::der::Encode;
    let iv = [2u8; 16];
    let params = pkcs5::pbes2::Parameters {
        kdf,
        encryption: pkcs5::pbes2::EncryptionScheme::Aes256Cbc { iv: &iv },
    };
    pkcs8::EncryptedPrivateKeyInfo {
        encryption_algorithm: params.into(),
        encrypted_data: &[0u8; 48],
    }
    .to_der()
    .unwrap()
}

fn pbkdf2(iterations: u32) -> Vec<u8> {
    encrypted_der(pkcs5::pbes2::Kdf::Pbkdf2(pkcs5::pbes2::Pbkdf2Params {
        salt: &[1; 16],
        iteration_count: iterations,
        key_length: None,
        prf: pkcs5::pbes2::Pbkdf2Prf::HmacWithSha256,
    }))
}

fn scrypt(log_n: u8, r: u16, p: u16) -> Vec<u8> {
    encrypted_der(pkcs5::pbes2::Kdf::Scrypt(pkcs5::pbes2::ScryptParams {
        salt: &[1; 16],
        cost_parameter: 1u64 << log_n,
        block_size: r,
        parallelization: p,
        key_length: None,
    }))
}

#[test]
fn key_files_that_ask_for_an_unbounded_key_derivation_are_refused_before_it() {
    let cases = [
        (pbkdf2(u32::MAX), "4294967295 PBKDF2 iterations"),
        (
            pbkdf2(super::parse::MAX_PBKDF2_ITERATIONS + 1),
            "10000001 PBKDF2 iterations",
        ),
        (scrypt(40, 8, 1), "N=1099511627776, r=8, p=1"),
        (scrypt(24, 8, 1), "(16384 MiB of memory"),
        (scrypt(18, 8, 16), "N=262144, r=8, p=16"),
    ];
    for (der, says) in cases {
        let started = std::time::Instant::now();
        let e = Key::load_memory(&der, Some("x")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::KeyUnsupportedEncryption, "{}", e.message());
        assert!(e.message().contains(says), "{} lacks {says}", e.message());
        // Refused before deriving anything: no time worth measuring (a loose bound, not a
        // benchmark: the costs refused here take minutes or abort the process).
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}

#[test]
fn key_derivation_costs_within_the_limits_are_tried_and_fail_on_the_junk_ciphertext() {
    // At the limits (and below), the derivation runs and the junk does not decrypt.
    for der in [pbkdf2(2048), scrypt(14, 8, 1)] {
        let e = Key::load_memory(&der, Some("x")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::KeyWrongPassword, "{}", e.message());
    }
}

#[test]
fn an_encrypted_key_with_data_after_it_is_malformed_not_an_unsupported_scheme() {
    let mut der = pbkdf2(2048);
    der.extend_from_slice(b"trailing");
    let e = Key::load_memory(&der, Some("x")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyMalformed, "{}", e.message());
    assert!(e.message().contains("PBES2"), "{}", e.message());
}
