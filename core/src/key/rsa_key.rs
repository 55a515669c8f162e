//! RSA keys (PS256, RS256): the checks ring's signer needs, JWK members, PKCS#8, generation.
//!
//! An RSA key is held as the DER of its PKCS#1 `RSAPrivateKey` (the form `ring` loads); every
//! format is turned into that DER first, and every export is made from it.

use super::Algorithm;
use crate::error::{Error, ErrorKind, Result};
use base64ct::{Base64UrlUnpadded, Encoding};
use pkcs1::der::asn1::UintRef;
use pkcs1::der::{Decode, SecretDocument};
use pkcs1::{RsaPrivateKey, RsaPublicKey};
use pkcs8::spki::{AlgorithmIdentifierRef, ObjectIdentifier};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// rsaEncryption, the algorithm of a PKCS#8 RSA key.
pub(super) const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Smaller RSA keys are refused: NIST SP 800-131A and RFC 7518 §3.3 ask for 2048 bits or more.
pub const MIN_BITS: usize = 2048;
/// Larger RSA keys are refused: `ring` signs with keys of at most 4096 bits.
pub const MAX_BITS: usize = 4096;
/// The size of a generated key when none is asked for.
pub const DEFAULT_BITS: usize = 3072;

/// The sizes [`generate`] makes: ring needs each prime to be a multiple of 512 bits.
const GENERATED_BITS: [usize; 3] = [2048, 3072, 4096];

/// The JWK members holding secrets, in the order of `RSAPrivateKey` after `e`.
const SECRET_MEMBERS: [&str; 6] = ["d", "p", "q", "dp", "dq", "qi"];

/// Checks that a PKCS#1 `RSAPrivateKey` is one ring can sign with, naming what is not.
pub(super) fn check(der: &[u8]) -> Result<()> {
    let key = RsaPrivateKey::from_der(der).map_err(|e| {
        Error::new(
            ErrorKind::KeyMalformed,
            format!("the PKCS#1 RSA private key structure is invalid: {e}"),
        )
    })?;
    if key.other_prime_infos.is_some() {
        return Err(refused(
            "multi-prime RSA keys are refused: use a key with two primes",
        ));
    }
    let bits = bit_len(key.modulus.as_bytes());
    if bits < MIN_BITS {
        return Err(refused(format!(
            "RSA keys under {MIN_BITS} bits are refused; this key has {bits} bits"
        )));
    }
    if bits > MAX_BITS {
        return Err(refused(format!(
            "RSA keys over {MAX_BITS} bits are refused (ring signs with {MIN_BITS} to {MAX_BITS} bits); \
             this key has {bits} bits"
        )));
    }
    let e = key.public_exponent.as_bytes();
    // ring accepts odd exponents from 65537 to 2^33 - 1.
    let e_value = (e.len() <= 8).then(|| e.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)));
    match e_value {
        Some(e) if (65_537..1 << 33).contains(&e) && e % 2 == 1 => Ok(()),
        Some(e) => Err(refused(format!(
            "RSA keys with the public exponent {e} are refused: ring signs with odd exponents \
             from 65537 to 2^33-1"
        ))),
        None => Err(refused(
            "the RSA public exponent is too large: ring signs with exponents up to 2^33-1",
        )),
    }
}

fn refused(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::KeyRsa, message)
}

/// Bits of the modulus of an `RSAPublicKey` DER (0 if it is not one).
pub(super) fn modulus_bits(public: &[u8]) -> usize {
    RsaPublicKey::from_der(public).map_or(0, |key| bit_len(key.modulus.as_bytes()))
}

/// Bits of a big-endian unsigned integer without leading zero bytes.
fn bit_len(bytes: &[u8]) -> usize {
    bytes
        .first()
        .map_or(0, |top| bytes.len() * 8 - top.leading_zeros() as usize)
}

/// The error for a key ring turns down after [`check`] passed it.
pub(super) fn rejected(alg: Algorithm, e: ring::error::KeyRejected) -> Error {
    if e.to_string() == "PrivateModulusLenNotMultipleOf512Bits" {
        refused(format!(
            "the RSA key was refused: ring signs only with keys of 2048, 3072 or 4096 bits whose \
             primes are half as long ({e})"
        ))
    } else {
        Error::new(
            ErrorKind::KeyMalformed,
            format!("the {} key was rejected: {e}", alg.name()),
        )
    }
}

/// The public JWK, `e`, `kty`, `n` (RFC 7638 order), from the DER of an `RSAPublicKey`.
pub(super) fn public_jwk(public: &[u8]) -> String {
    match RsaPublicKey::from_der(public) {
        Ok(key) => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            Base64UrlUnpadded::encode_string(key.public_exponent.as_bytes()),
            Base64UrlUnpadded::encode_string(key.modulus.as_bytes())
        ),
        // ring made this DER from a key it accepted.
        Err(_) => String::from(r#"{"kty":"RSA"}"#),
    }
}

/// The private JWK: `alg`, then every member (CRT members included) in lexicographic order.
pub(super) fn private_jwk(alg: Algorithm, private: &[u8]) -> Zeroizing<String> {
    let Ok(key) = RsaPrivateKey::from_der(private) else {
        return Zeroizing::new(String::new()); // checked when the key was made
    };
    let b64 = |v: UintRef<'_>| Zeroizing::new(Base64UrlUnpadded::encode_string(v.as_bytes()));
    let members: [(&str, Zeroizing<String>); 9] = [
        ("d", b64(key.private_exponent)),
        ("dp", b64(key.exponent1)),
        ("dq", b64(key.exponent2)),
        ("e", b64(key.public_exponent)),
        ("kty", Zeroizing::new("RSA".to_owned())),
        ("n", b64(key.modulus)),
        ("p", b64(key.prime1)),
        ("q", b64(key.prime2)),
        ("qi", b64(key.coefficient)),
    ];
    let head = format!(r#"{{"alg":"{}""#, alg.name());
    let size = head.len() + 1 + members.iter().map(|(n, v)| n.len() + v.len() + 6).sum::<usize>();
    // Sized once, so the buffer holding the secrets is never outgrown (and freed unwiped).
    let mut jwk = Zeroizing::new(String::with_capacity(size));
    jwk.push_str(&head);
    for (name, value) in &members {
        jwk.push_str(",\"");
        jwk.push_str(name);
        jwk.push_str("\":\"");
        jwk.push_str(value);
        jwk.push('"');
    }
    jwk.push('}');
    jwk
}

/// The PKCS#1 DER of a private RSA JWK, and the algorithm its `alg` member asks for.
pub(super) fn from_jwk(jwk: &Map<String, Value>) -> Result<(Algorithm, SecretDocument)> {
    let alg = match super::jwk::string_member(jwk, "alg")? {
        None | Some("PS256") => Algorithm::Ps256,
        Some("RS256") => Algorithm::Rs256,
        Some(other) => {
            return Err(refused(format!(
                "the RSA JWK's 'alg' is '{other}'; libdpop signs with an RSA key as PS256 or RS256"
            )));
        }
    };
    if jwk.contains_key("oth") {
        return Err(refused(
            "multi-prime RSA keys ('oth') are refused: use a key with two primes",
        ));
    }
    if super::jwk::string_member(jwk, "d")?.is_none() {
        return Err(Error::new(
            ErrorKind::KeyPublicOnly,
            "the JWK is a public key (no 'd' member); a private key is needed",
        ));
    }
    let decode = |name: &str, secret: bool| -> Result<Zeroizing<Vec<u8>>> {
        let Some(text) = super::jwk::string_member(jwk, name)? else {
            let what = if secret {
                format!(
                    "the RSA JWK has no '{name}' member: a private RSA JWK needs n, e, d and the CRT \
                     members p, q, dp, dq and qi"
                )
            } else {
                format!("the RSA JWK has no '{name}' member")
            };
            return Err(Error::new(ErrorKind::KeyMalformed, what));
        };
        Base64UrlUnpadded::decode_vec(text)
            .map(Zeroizing::new)
            .map_err(|_| {
                Error::new(
                    ErrorKind::KeyMalformed,
                    format!("the JWK member '{name}' is not unpadded base64url"),
                )
            })
    };
    let n = decode("n", false)?;
    let e = decode("e", false)?;
    let secrets = SECRET_MEMBERS
        .iter()
        .map(|name| decode(name, true))
        .collect::<Result<Vec<_>>>()?;
    let key = RsaPrivateKey {
        modulus: int(&n)?,
        public_exponent: int(&e)?,
        private_exponent: int(&secrets[0])?,
        prime1: int(&secrets[1])?,
        prime2: int(&secrets[2])?,
        exponent1: int(&secrets[3])?,
        exponent2: int(&secrets[4])?,
        coefficient: int(&secrets[5])?,
        other_prime_infos: None,
    };
    let der = SecretDocument::encode_msg(&key).map_err(|e| malformed_jwk(&e))?;
    Ok((alg, der))
}

fn int(bytes: &[u8]) -> Result<UintRef<'_>> {
    UintRef::new(bytes).map_err(|e| malformed_jwk(&e))
}

fn malformed_jwk(e: &dyn std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::KeyMalformed,
        format!("the RSA JWK's members are invalid: {e}"),
    )
}

/// PKCS#8 DER wrapping the PKCS#1 key (rsaEncryption, NULL parameters, as OpenSSL writes it).
pub(super) fn pkcs8_der(private: &[u8]) -> pkcs8::der::Result<SecretDocument> {
    let info = pkcs8::PrivateKeyInfo {
        algorithm: AlgorithmIdentifierRef {
            oid: OID_RSA_ENCRYPTION,
            parameters: Some(pkcs8::der::asn1::AnyRef::NULL),
        },
        private_key: private,
        public_key: None,
    };
    SecretDocument::encode_msg(&info)
}

/// Generates an RSA key of `bits` bits (2048, 3072 or 4096) as PKCS#1 DER.
///
/// The `rsa` crate is used for generation only; ring, which signs, cannot generate RSA keys.
pub(super) fn generate(bits: usize) -> Result<SecretDocument> {
    if !GENERATED_BITS.contains(&bits) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "RSA keys are generated with 2048, 3072 or 4096 bits (the sizes ring signs with), not {bits}"
            ),
        ));
    }
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, bits)
        .map_err(|e| Error::new(ErrorKind::Crypto, format!("RSA key generation failed: {e}")))?;
    rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_der(&key)
        .map_err(|e| Error::new(ErrorKind::Crypto, format!("cannot encode the RSA key: {e}")))
}
