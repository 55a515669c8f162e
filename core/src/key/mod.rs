//! DPoP keys: loading from any common format, generation, export, JWK and thumbprint.
//!
//! A [`Key`] holds the private key in one normal form (the raw scalar or seed), the public key,
//! a ready `ring` signer, and the strings every proof repeats (public JWK, protected header),
//! so that signing a proof does no work that depends only on the key.

mod export;
mod jwk;
mod parse;

use crate::error::{Error, ErrorKind, Result};
use base64ct::{Base64UrlUnpadded, Encoding};
use dpop_wipe::Wiped;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroizing;

/// A JWS signature algorithm libdpop signs DPoP proofs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256 (the DPoP default).
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// EdDSA on Ed25519.
    EdDsa,
}

impl Algorithm {
    /// The JWS `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// Looks an algorithm up by its JWS name (`ES256`, `ES384`, `EdDSA`; case-insensitive).
    pub fn from_name(name: &str) -> Result<Self> {
        [Algorithm::Es256, Algorithm::Es384, Algorithm::EdDsa]
            .into_iter()
            .find(|alg| alg.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("unsupported algorithm '{name}': use ES256, ES384 or EdDSA"),
                )
            })
    }

    /// The JWK `crv` name.
    fn curve(self) -> &'static str {
        match self {
            Algorithm::Es256 => "P-256",
            Algorithm::Es384 => "P-384",
            Algorithm::EdDsa => "Ed25519",
        }
    }

    /// Length of the private scalar (or Ed25519 seed), and of one public coordinate.
    fn field_len(self) -> usize {
        match self {
            Algorithm::Es256 | Algorithm::EdDsa => 32,
            Algorithm::Es384 => 48,
        }
    }
}

enum Signer {
    Ecdsa(Wiped<EcdsaKeyPair>),
    Ed25519(Wiped<Ed25519KeyPair>),
}

/// A private key that signs DPoP proofs.
///
/// Immutable once made, so it may be shared between threads. The private key is zeroized
/// when the key is dropped and is never shown by `Debug`.
pub struct Key {
    alg: Algorithm,
    /// The private scalar (ECDSA, fixed length) or the 32-byte seed (Ed25519).
    private: Zeroizing<Vec<u8>>,
    /// Uncompressed SEC1 point (ECDSA) or the 32-byte public key (Ed25519).
    public: Vec<u8>,
    signer: Signer,
    public_jwk: String,
    thumbprint: String,
    /// base64url of the proof's protected header, the same for every proof of this key.
    header_b64: String,
}

impl Key {
    /// Reads a key file and loads it as [`Key::load_memory`] does.
    pub fn load(path: &std::path::Path, password: Option<&str>) -> Result<Key> {
        let data = parse::read_key_file(path)?;
        parse::load(&data, password)
    }

    /// Loads a private key from PEM, DER or JWK bytes, detecting the format.
    ///
    /// Accepted: PEM `EC PRIVATE KEY` (SEC1), `PRIVATE KEY` and `ENCRYPTED PRIVATE KEY`
    /// (PKCS#8), the DER of each, and a private JWK (or a JWK Set holding one key).
    /// `password` is used only for encrypted keys.
    pub fn load_memory(data: &[u8], password: Option<&str>) -> Result<Key> {
        parse::load(data, password)
    }

    /// Generates a new key from the operating system's random source.
    pub fn generate(alg: Algorithm) -> Result<Key> {
        let mut rng = rand_core::OsRng;
        let secret: Zeroizing<Vec<u8>> = match alg {
            Algorithm::Es256 => Zeroizing::new(p256::SecretKey::random(&mut rng).to_bytes().to_vec()),
            Algorithm::Es384 => Zeroizing::new(p384::SecretKey::random(&mut rng).to_bytes().to_vec()),
            Algorithm::EdDsa => {
                let mut seed = Zeroizing::new(vec![0u8; 32]);
                ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut seed).map_err(|_| rng_error())?;
                seed
            }
        };
        Key::from_private(alg, &secret, None)
    }

    /// Builds a key from its private scalar or seed, checking `public` against it when given.
    pub(crate) fn from_private(alg: Algorithm, private: &[u8], public: Option<&[u8]>) -> Result<Key> {
        let (private, derived) = match alg {
            Algorithm::Es256 => {
                let sk = p256::SecretKey::from_slice(private).map_err(|_| bad_scalar(alg))?;
                let point =
                    p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&sk.public_key(), false);
                (Zeroizing::new(sk.to_bytes().to_vec()), point.as_bytes().to_vec())
            }
            Algorithm::Es384 => {
                let sk = p384::SecretKey::from_slice(private).map_err(|_| bad_scalar(alg))?;
                let point =
                    p384::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&sk.public_key(), false);
                (Zeroizing::new(sk.to_bytes().to_vec()), point.as_bytes().to_vec())
            }
            Algorithm::EdDsa => {
                if private.len() != 32 {
                    return Err(bad_scalar(alg));
                }
                let pair = Ed25519KeyPair::from_seed_unchecked(private).map_err(|_| bad_scalar(alg))?;
                (
                    Zeroizing::new(private.to_vec()),
                    pair.public_key().as_ref().to_vec(),
                )
            }
        };
        if let Some(given) = public {
            if !public_matches(alg, given, &derived) {
                return Err(Error::new(
                    ErrorKind::KeyMalformed,
                    "the key's public part does not belong to its private part",
                ));
            }
        }
        let signer = match alg {
            Algorithm::Es256 | Algorithm::Es384 => {
                let ring_alg = if alg == Algorithm::Es256 {
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &signature::ECDSA_P384_SHA384_FIXED_SIGNING
                };
                let pair = EcdsaKeyPair::from_private_key_and_public_key(
                    ring_alg,
                    &private,
                    &derived,
                    &SystemRandom::new(),
                )
                .map_err(|e| {
                    Error::new(
                        ErrorKind::KeyMalformed,
                        format!("the {} key was rejected: {e}", alg.name()),
                    )
                })?;
                Signer::Ecdsa(Wiped::new(pair))
            }
            Algorithm::EdDsa => {
                let pair = Ed25519KeyPair::from_seed_unchecked(&private).map_err(|_| bad_scalar(alg))?;
                Signer::Ed25519(Wiped::new(pair))
            }
        };
        let public_jwk = jwk::public_jwk(alg, &derived);
        let thumbprint = thumbprint_of(&public_jwk);
        let header = format!(
            r#"{{"typ":"dpop+jwt","alg":"{}","jwk":{}}}"#,
            alg.name(),
            public_jwk
        );
        Ok(Key {
            alg,
            private,
            public: derived,
            signer,
            header_b64: Base64UrlUnpadded::encode_string(header.as_bytes()),
            public_jwk,
            thumbprint,
        })
    }

    /// The signature algorithm of this key.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public JWK, members in RFC 7638 order (`crv`, `kty`, `x`, `y`), no whitespace.
    pub fn public_jwk(&self) -> &str {
        &self.public_jwk
    }

    /// The RFC 7638 JWK SHA-256 thumbprint, base64url: the value of `dpop_jkt` and `cnf.jkt`.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The private key as a JWK (with `d`).
    pub fn private_jwk(&self) -> Zeroizing<String> {
        jwk::private_jwk(self.alg, &self.private, &self.public)
    }

    /// The private key as PKCS#8 PEM; encrypted (PBES2, PBKDF2-SHA256, AES-256-CBC) when a
    /// password is given.
    pub fn private_pem(&self, password: Option<&str>) -> Result<Zeroizing<String>> {
        export::pkcs8_pem(self.alg, &self.private, password)
    }

    /// Writes the private key to a new or replaced file at `path` as [`Key::private_pem`] makes
    /// it; on Unix the file is created readable by its owner only.
    pub fn save_private_pem(&self, path: &std::path::Path, password: Option<&str>) -> Result<()> {
        use std::io::Write;
        let pem = self.private_pem(password)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let io_error = |e: std::io::Error| {
            Error::new(
                ErrorKind::Io,
                format!("cannot write the key file '{}': {e}", path.display()),
            )
        };
        let mut file = options.open(path).map_err(io_error)?;
        file.write_all(pem.as_bytes()).map_err(io_error)
    }

    /// base64url of the protected header every proof of this key carries.
    pub(crate) fn header_b64(&self) -> &str {
        &self.header_b64
    }

    /// Signs `message`, returning the JWS signature bytes (`r || s` for ECDSA).
    pub(crate) fn sign(&self, rng: &SystemRandom, message: &[u8]) -> Result<Vec<u8>> {
        match &self.signer {
            Signer::Ecdsa(pair) => pair
                .sign(rng, message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| {
                    Error::new(
                        ErrorKind::Crypto,
                        "ECDSA signing failed (random source unavailable?)",
                    )
                }),
            Signer::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("alg", &self.alg.name())
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

/// RFC 7638 thumbprint of a public JWK already in canonical form (see [`jwk::public_jwk`]).
fn thumbprint_of(canonical_jwk: &str) -> String {
    Base64UrlUnpadded::encode_string(&Sha256::digest(canonical_jwk.as_bytes()))
}

/// A public key given next to the private one matches the derived one; EC points may come
/// compressed (SEC1) or uncompressed.
fn public_matches(alg: Algorithm, given: &[u8], derived: &[u8]) -> bool {
    if given == derived {
        return true;
    }
    match alg {
        Algorithm::Es256 => p256::PublicKey::from_sec1_bytes(given)
            .map(|pk| {
                p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&pk, false).as_bytes() == derived
            })
            .unwrap_or(false),
        Algorithm::Es384 => p384::PublicKey::from_sec1_bytes(given)
            .map(|pk| {
                p384::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&pk, false).as_bytes() == derived
            })
            .unwrap_or(false),
        Algorithm::EdDsa => false,
    }
}

fn bad_scalar(alg: Algorithm) -> Error {
    Error::new(
        ErrorKind::KeyMalformed,
        format!("the private key is not a valid {} private key", alg.curve()),
    )
}

pub(crate) fn rng_error() -> Error {
    Error::new(ErrorKind::Crypto, "the operating system's random source failed")
}

#[cfg(test)]
mod tests;
