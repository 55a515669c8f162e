//! DPoP keys: loading from any common format, generation, export, JWK and thumbprint.
//!
//! A [`Key`] holds the private key in one normal form (the raw scalar or seed; for RSA the
//! PKCS#1 DER), the public key,
//! a ready `ring` signer, and the strings every proof repeats (public JWK, protected header),
//! so that signing a proof does no work that depends only on the key.

mod export;
mod jwk;
mod parse;
mod rsa_key;

pub use rsa_key::{DEFAULT_BITS as RSA_DEFAULT_BITS, MAX_BITS as RSA_MAX_BITS, MIN_BITS as RSA_MIN_BITS};

use crate::error::{Error, ErrorKind, Result};
use base64ct::{Base64UrlUnpadded, Encoding};
use dpop_wipe::Wiped;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
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
    /// RSASSA-PSS with SHA-256 (and MGF1 with SHA-256): what an RSA key signs with by default.
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, for servers that do not accept PS256.
    Rs256,
}

/// Every algorithm, in the order error messages list them.
const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::Es256,
    Algorithm::Es384,
    Algorithm::EdDsa,
    Algorithm::Ps256,
    Algorithm::Rs256,
];

impl Algorithm {
    /// The JWS `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Ps256 => "PS256",
            Algorithm::Rs256 => "RS256",
        }
    }

    /// Looks an algorithm up by its JWS name (`ES256`, `ES384`, `EdDSA`, `PS256`, `RS256`;
    /// case-insensitive).
    pub fn from_name(name: &str) -> Result<Self> {
        ALGORITHMS
            .into_iter()
            .find(|alg| alg.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("unsupported algorithm '{name}': use {}", names(&ALGORITHMS)),
                )
            })
    }

    /// Whether this is an RSA algorithm (PS256, RS256).
    pub fn is_rsa(self) -> bool {
        matches!(self, Algorithm::Ps256 | Algorithm::Rs256)
    }

    /// The algorithms a key of this algorithm can sign with: itself, and for RSA both RSA ones.
    pub fn compatible(self) -> &'static [Algorithm] {
        match self {
            Algorithm::Es256 => &[Algorithm::Es256],
            Algorithm::Es384 => &[Algorithm::Es384],
            Algorithm::EdDsa => &[Algorithm::EdDsa],
            Algorithm::Ps256 | Algorithm::Rs256 => &[Algorithm::Ps256, Algorithm::Rs256],
        }
    }

    /// The JWK `crv` name (`RSA` for the RSA algorithms, which have no curve).
    fn curve(self) -> &'static str {
        match self {
            Algorithm::Es256 => "P-256",
            Algorithm::Es384 => "P-384",
            Algorithm::EdDsa => "Ed25519",
            Algorithm::Ps256 | Algorithm::Rs256 => "RSA",
        }
    }

    /// Length of the private scalar (or Ed25519 seed), and of one public coordinate; RSA
    /// members have no fixed length (0).
    fn field_len(self) -> usize {
        match self {
            Algorithm::Es256 | Algorithm::EdDsa => 32,
            Algorithm::Es384 => 48,
            Algorithm::Ps256 | Algorithm::Rs256 => 0,
        }
    }
}

/// "A, B or C".
fn names(algs: &[Algorithm]) -> String {
    match algs.split_last() {
        None => String::new(),
        Some((last, [])) => last.name().to_owned(),
        Some((last, rest)) => {
            let rest: Vec<&str> = rest.iter().map(|a| a.name()).collect();
            format!("{} or {}", rest.join(", "), last.name())
        }
    }
}

enum Signer {
    Ecdsa(Wiped<EcdsaKeyPair>),
    Ed25519(Wiped<Ed25519KeyPair>),
    /// ring keeps an RSA key's primes and CRT exponents in heap blocks of its own, which
    /// `Wiped` cannot reach: only the key pair's inline part is zeroed (see `Key`).
    Rsa(Wiped<RsaKeyPair>),
}

/// A private key that signs DPoP proofs.
///
/// Immutable once made, so it may be shared between threads. The private key is zeroized
/// when the key is dropped and is never shown by `Debug`. One exception: for an RSA key,
/// ring's own copy of the primes and CRT exponents lives in heap blocks ring frees without
/// clearing them; libdpop's copies (the PKCS#1 DER, exports) are zeroized.
pub struct Key {
    alg: Algorithm,
    /// The private scalar (ECDSA, fixed length), the 32-byte seed (Ed25519) or the DER of the
    /// PKCS#1 `RSAPrivateKey` (RSA).
    private: Zeroizing<Vec<u8>>,
    /// Uncompressed SEC1 point (ECDSA), the 32-byte public key (Ed25519) or the DER of the
    /// PKCS#1 `RSAPublicKey` (RSA).
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
    /// Accepted: PEM `EC PRIVATE KEY` (SEC1), `RSA PRIVATE KEY` (PKCS#1), `PRIVATE KEY` and
    /// `ENCRYPTED PRIVATE KEY` (PKCS#8), the DER of each, and a private JWK (or a JWK Set
    /// holding one key). `password` is used only for encrypted keys. An RSA key signs with
    /// PS256, or RS256 when its JWK says `"alg":"RS256"` (see [`Key::with_alg`]).
    pub fn load_memory(data: &[u8], password: Option<&str>) -> Result<Key> {
        parse::load(data, password)
    }

    /// Generates a new key from the operating system's random source; an RSA key has
    /// [`RSA_DEFAULT_BITS`] bits.
    pub fn generate(alg: Algorithm) -> Result<Key> {
        let mut rng = rand_core::OsRng;
        let secret: Zeroizing<Vec<u8>> = match alg {
            Algorithm::Ps256 | Algorithm::Rs256 => return Key::generate_rsa(RSA_DEFAULT_BITS, alg),
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

    /// Generates a new RSA key of `bits` bits (2048, 3072 or 4096: the sizes ring signs with)
    /// that signs with `alg` (PS256 or RS256).
    pub fn generate_rsa(bits: usize, alg: Algorithm) -> Result<Key> {
        if !alg.is_rsa() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("an RSA key signs with PS256 or RS256, not {}", alg.name()),
            ));
        }
        let der = rsa_key::generate(bits)?;
        Key::from_private(alg, der.as_bytes(), None)
    }

    /// The same key, signing with `alg`: its own algorithm, or for an RSA key PS256 or RS256.
    pub fn with_alg(&self, alg: Algorithm) -> Result<Key> {
        if !self.alg.compatible().contains(&alg) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "this {} key cannot sign with {}: it signs with {}",
                    self.alg.curve(),
                    alg.name(),
                    names(self.alg.compatible())
                ),
            ));
        }
        Key::from_private(alg, &self.private, None)
    }

    /// Builds a key from its private scalar, seed or PKCS#1 DER (RSA), checking `public`
    /// against it when given (EC and Ed25519; an RSA key carries its public part).
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
            Algorithm::Ps256 | Algorithm::Rs256 => return Key::from_rsa(alg, private),
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
            Algorithm::Ps256 | Algorithm::Rs256 => return Key::from_rsa(alg, &private),
        };
        Ok(Key::assemble(alg, private, derived, signer))
    }

    /// Builds an RSA key from the DER of its PKCS#1 `RSAPrivateKey`.
    fn from_rsa(alg: Algorithm, der: &[u8]) -> Result<Key> {
        rsa_key::check(der)?;
        let pair = RsaKeyPair::from_der(der).map_err(|e| rsa_key::rejected(alg, e))?;
        // ring checks dP, dQ and qInv only by their range when loading, and whether the CRT
        // result agrees with n and e when signing: sign once, so a bad key fails here.
        let mut probe = vec![0u8; pair.public().modulus_len()];
        pair.sign(
            &signature::RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            b"probe",
            &mut probe,
        )
        .map_err(|_| {
            Error::new(
                ErrorKind::KeyMalformed,
                "the RSA key's CRT members (dp, dq, qi) do not agree with its modulus and exponent",
            )
        })?;
        let public = pair.public().as_ref().to_vec();
        Ok(Key::assemble(
            alg,
            Zeroizing::new(der.to_vec()),
            public,
            Signer::Rsa(Wiped::new(pair)),
        ))
    }

    /// The key with the strings every proof repeats.
    fn assemble(alg: Algorithm, private: Zeroizing<Vec<u8>>, derived: Vec<u8>, signer: Signer) -> Key {
        let public_jwk = jwk::public_jwk(alg, &derived);
        let thumbprint = thumbprint_of(&public_jwk);
        let header = format!(
            r#"{{"typ":"dpop+jwt","alg":"{}","jwk":{}}}"#,
            alg.name(),
            public_jwk
        );
        Key {
            alg,
            private,
            public: derived,
            signer,
            header_b64: Base64UrlUnpadded::encode_string(header.as_bytes()),
            public_jwk,
            thumbprint,
        }
    }

    /// The signature algorithm of this key.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The key's size in bits: 256 (P-256, Ed25519), 384 (P-384), or an RSA key's modulus size.
    pub fn bits(&self) -> usize {
        match self.alg {
            Algorithm::Es256 | Algorithm::EdDsa => 256,
            Algorithm::Es384 => 384,
            Algorithm::Ps256 | Algorithm::Rs256 => rsa_key::modulus_bits(&self.public),
        }
    }

    /// The public JWK, members in RFC 7638 order (`crv`, `kty`, `x`, `y`; RSA: `e`, `kty`,
    /// `n`), no whitespace.
    pub fn public_jwk(&self) -> &str {
        &self.public_jwk
    }

    /// The RFC 7638 JWK SHA-256 thumbprint, base64url: the value of `dpop_jkt` and `cnf.jkt`.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The private key as a JWK (with `d`; an RSA key also with `alg` and its CRT members).
    pub fn private_jwk(&self) -> Zeroizing<String> {
        jwk::private_jwk(self.alg, &self.private, &self.public)
    }

    /// The private key as PKCS#8 PEM; encrypted (PBES2, PBKDF2-SHA256, AES-256-CBC) when a
    /// password is given.
    pub fn private_pem(&self, password: Option<&str>) -> Result<Zeroizing<String>> {
        export::pkcs8_pem(self.alg, &self.private, password)
    }

    /// The private key as plain PKCS#8 DER: what a protector's saved state holds.
    pub(crate) fn private_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        export::pkcs8_der_export(self.alg, &self.private, None)
    }

    /// The private key as PKCS#8 DER encrypted as [`Key::private_pem`] encrypts it, with
    /// `iterations` of PBKDF2: what a passphrase's saved state holds, at the state's cost.
    pub(crate) fn private_pkcs8_der_encrypted(
        &self,
        password: &str,
        iterations: u32,
    ) -> Result<Zeroizing<Vec<u8>>> {
        export::pkcs8_der_export(self.alg, &self.private, Some((password, iterations)))
    }

    /// Loads the encrypted PKCS#8 DER that [`Key::private_pkcs8_der_encrypted`] made with
    /// `password` and `iterations`, refusing any other encryption parameters before the password
    /// is used.
    pub(crate) fn load_own_encrypted(der: &[u8], password: &str, iterations: u32) -> Result<Key> {
        parse::load_own_encrypted(der, password, iterations)
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
            Signer::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match self.alg {
                    Algorithm::Rs256 => &signature::RSA_PKCS1_SHA256,
                    _ => &signature::RSA_PSS_SHA256,
                };
                let mut sig = vec![0u8; pair.public().modulus_len()];
                pair.sign(padding, rng, message, &mut sig).map_err(|_| {
                    Error::new(
                        ErrorKind::Crypto,
                        "RSA signing failed (random source unavailable?)",
                    )
                })?;
                Ok(sig)
            }
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
        Algorithm::EdDsa | Algorithm::Ps256 | Algorithm::Rs256 => false,
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
mod rsa_tests;
#[cfg(test)]
mod tests;
