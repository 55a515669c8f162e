//! `Key::load_memory` on arbitrary bytes, without a password and with one taken from the input.
//!
//! Input: `KEY PASSWORD L`, where the last byte `L` (taken modulo 65) is the length of the
//! password before it. The whole input is loaded with no password; `KEY` is loaded with
//! `PASSWORD` (UTF-8, lossily). A plain seed file works as is (its last bytes become a password
//! that the plain formats ignore); an encrypted seed carries its password and length byte.
//!
//! Properties: no panic; a key that loads signs a proof, and its PKCS#8 PEM and private JWK
//! exports load again as the same key (same thumbprint).
#![no_main]

use dpop_core::{Key, Proof};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check(data, None);
    if let Some((&len, rest)) = data.split_last() {
        let len = usize::from(len % 65).min(rest.len());
        let (key, password) = rest.split_at(rest.len() - len);
        check(key, Some(&String::from_utf8_lossy(password)));
    }
});

fn check(data: &[u8], password: Option<&str>) {
    match Key::load_memory(data, password) {
        Ok(key) => round_trip(&key),
        // Every error renders (its message is built from parts of the input).
        Err(e) => drop(e.to_string()),
    }
}

fn round_trip(key: &Key) {
    let proof = Proof::new("POST", "https://as.example/token").sign(key);
    assert!(proof.is_ok(), "a loaded key cannot sign: {proof:?}");

    let pem = key.private_pem(None).expect("a loaded key exports as PKCS#8 PEM");
    let again = Key::load_memory(pem.as_bytes(), None).expect("the PKCS#8 export loads");
    assert_eq!(
        again.thumbprint(),
        key.thumbprint(),
        "the PKCS#8 export is another key"
    );
    assert_eq!(again.alg(), key.alg());

    let jwk = key.private_jwk();
    let again = Key::load_memory(jwk.as_bytes(), None).expect("the private JWK export loads");
    assert_eq!(
        again.thumbprint(),
        key.thumbprint(),
        "the JWK export is another key"
    );
}
