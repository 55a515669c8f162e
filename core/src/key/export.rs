//! Private key export as PKCS#8 PEM, plain or encrypted.

use super::Algorithm;
use crate::error::{Error, ErrorKind, Result};
use pkcs8::der::pem::LineEnding;
use pkcs8::{EncodePrivateKey, PrivateKeyInfo, SecretDocument};
use rand_core::RngCore;
use zeroize::Zeroizing;

/// PBKDF2-HMAC-SHA256 iterations for exported keys (the OWASP figure for that PRF).
pub(super) const PBKDF2_ITERATIONS: u32 = 600_000;

const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

fn encode_error(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Crypto, format!("cannot encode the private key: {e}"))
}

/// PKCS#8 DER of the private key (version 1, the public key left out as RFC 5208 has it).
fn pkcs8_der(alg: Algorithm, private: &[u8]) -> Result<SecretDocument> {
    match alg {
        Algorithm::Es256 => p256::SecretKey::from_slice(private)
            .map_err(encode_error)?
            .to_pkcs8_der()
            .map_err(encode_error),
        Algorithm::Es384 => p384::SecretKey::from_slice(private)
            .map_err(encode_error)?
            .to_pkcs8_der()
            .map_err(encode_error),
        Algorithm::EdDsa => {
            let mut der = Zeroizing::new(Vec::with_capacity(48));
            der.extend_from_slice(&ED25519_PKCS8_PREFIX);
            der.extend_from_slice(private);
            SecretDocument::try_from(der.as_slice()).map_err(encode_error)
        }
        Algorithm::Ps256 | Algorithm::Rs256 => super::rsa_key::pkcs8_der(private).map_err(encode_error),
    }
}

/// The private key as PKCS#8 PEM, encrypted with `password` when one is given.
pub(super) fn pkcs8_pem(alg: Algorithm, private: &[u8], password: Option<&str>) -> Result<Zeroizing<String>> {
    let (label, doc) = pkcs8_document(alg, private, password.map(|p| (p, PBKDF2_ITERATIONS)))?;
    doc.to_pem(label, LineEnding::LF).map_err(encode_error)
}

/// The private key as PKCS#8 DER, encrypted as [`pkcs8_pem`] encrypts it when a password is
/// given, with the PBKDF2 iterations given beside it (what a saved state holds, at the state's
/// cost).
pub(super) fn pkcs8_der_export(
    alg: Algorithm,
    private: &[u8],
    encryption: Option<(&str, u32)>,
) -> Result<Zeroizing<Vec<u8>>> {
    let (_, doc) = pkcs8_document(alg, private, encryption)?;
    Ok(Zeroizing::new(doc.as_bytes().to_vec()))
}

/// The PEM label and the DER: plain PKCS#8, or encrypted (PBES2: PBKDF2-SHA256, AES-256-CBC)
/// with a password and a number of iterations ([`PBKDF2_ITERATIONS`] for an export).
fn pkcs8_document(
    alg: Algorithm,
    private: &[u8],
    encryption: Option<(&str, u32)>,
) -> Result<(&'static str, SecretDocument)> {
    let der = pkcs8_der(alg, private)?;
    match encryption {
        None => Ok(("PRIVATE KEY", der)),
        Some(("", _)) => Err(Error::new(
            ErrorKind::InvalidArgument,
            "the export password is empty; pass NULL for an unencrypted key",
        )),
        Some((password, iterations)) => {
            let mut salt = [0u8; 16];
            let mut iv = [0u8; 16];
            let mut rng = rand_core::OsRng;
            rng.try_fill_bytes(&mut salt).map_err(|_| super::rng_error())?;
            rng.try_fill_bytes(&mut iv).map_err(|_| super::rng_error())?;
            let params = pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(iterations, &salt, &iv)
                .map_err(encode_error)?;
            let info = PrivateKeyInfo::try_from(der.as_bytes()).map_err(encode_error)?;
            let encrypted = info.encrypt_with_params(params, password).map_err(encode_error)?;
            Ok(("ENCRYPTED PRIVATE KEY", encrypted))
        }
    }
}
