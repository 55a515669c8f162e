//! JWS building blocks the server verifies with `ring` alone: base64url JSON parts, public JWKs
//! (RFC 7517), their RFC 7638 thumbprints, the DPoP signature algorithms and compact JWS
//! splitting.

use base64ct::{Base64UrlUnpadded, Encoding};
use ring::digest::{digest, SHA256};
use ring::signature::{self, UnparsedPublicKey};
use serde_json::{Map, Value};

/// The signature algorithms the server accepts, as named in `algs` of its challenges. `Ed25519`
/// is the fully-specified name of `EdDSA` with Ed25519 keys (RFC 9864); oauth4webapi signs
/// with it and oidc-provider accepts it by default, so a client may send either.
pub const SUPPORTED_ALGS: &str = "ES256 ES384 EdDSA Ed25519 PS256 RS256";

/// JWK members that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A JWS algorithm of a DPoP proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    /// ECDSA P-256 SHA-256.
    Es256,
    /// ECDSA P-384 SHA-384.
    Es384,
    /// Ed25519, named `EdDSA` (RFC 8037) or `Ed25519` (RFC 9864).
    EdDsa,
    /// RSASSA-PSS SHA-256 (2048 to 8192-bit keys).
    Ps256,
    /// RSASSA-PKCS1-v1_5 SHA-256 (2048 to 8192-bit keys).
    Rs256,
}

impl Alg {
    /// The algorithm named by a JWS `alg` header, if the server accepts it.
    pub fn from_name(name: &str) -> Option<Alg> {
        match name {
            "ES256" => Some(Alg::Es256),
            "ES384" => Some(Alg::Es384),
            "EdDSA" | "Ed25519" => Some(Alg::EdDsa),
            "PS256" => Some(Alg::Ps256),
            "RS256" => Some(Alg::Rs256),
            _ => None,
        }
    }

    /// (kty, crv, coordinate length) the JWK of this algorithm must have; None for RSA.
    fn key_shape(self) -> Option<(&'static str, &'static str, usize)> {
        match self {
            Alg::Es256 => Some(("EC", "P-256", 32)),
            Alg::Es384 => Some(("EC", "P-384", 48)),
            Alg::EdDsa => Some(("OKP", "Ed25519", 32)),
            Alg::Ps256 | Alg::Rs256 => None,
        }
    }
}

/// A public key taken from a proof's `jwk` header.
#[derive(Debug)]
pub struct PublicJwk {
    alg: Alg,
    /// The key as `ring` wants it: an uncompressed SEC1 point, or the raw Ed25519 key; for RSA
    /// the modulus (`e` is in `exponent`).
    key: Vec<u8>,
    /// The RSA public exponent (empty for other keys).
    exponent: Vec<u8>,
    /// RFC 7638 thumbprint, base64url SHA-256.
    pub thumbprint: String,
}

impl PublicJwk {
    /// Reads a public JWK for `alg`. Errors name the check that failed.
    pub fn parse(alg: Alg, jwk: &Value) -> Result<PublicJwk, &'static str> {
        let jwk = jwk.as_object().ok_or("jwk is not a JSON object")?;
        if PRIVATE_MEMBERS.iter().any(|member| jwk.contains_key(*member)) {
            return Err("jwk contains private key material");
        }
        let Some((kty, crv, len)) = alg.key_shape() else {
            return rsa(alg, jwk);
        };
        if member(jwk, "kty") != Some(kty) || member(jwk, "crv") != Some(crv) {
            return Err("jwk does not match alg");
        }
        let coordinate = |name| {
            member(jwk, name)
                .and_then(|value| Base64UrlUnpadded::decode_vec(value).ok())
                .filter(|bytes| bytes.len() == len)
                .ok_or("jwk is not a valid public key")
        };
        let x = coordinate("x")?;
        let (key, canonical) = if alg == Alg::EdDsa {
            let canonical = format!(r#"{{"crv":"{crv}","kty":"{kty}","x":"{}"}}"#, b64(&x));
            (x, canonical)
        } else {
            let y = coordinate("y")?;
            let canonical = format!(
                r#"{{"crv":"{crv}","kty":"{kty}","x":"{}","y":"{}"}}"#,
                b64(&x),
                b64(&y)
            );
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (point, canonical)
        };
        Ok(PublicJwk {
            alg,
            key,
            exponent: Vec::new(),
            thumbprint: sha256_b64(canonical.as_bytes()),
        })
    }

    /// Whether `signature` (JWS form: fixed-size r||s for ECDSA) signs `message` with this key.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let algorithm: &dyn signature::VerificationAlgorithm = match self.alg {
            Alg::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
            Alg::Es384 => &signature::ECDSA_P384_SHA384_FIXED,
            Alg::EdDsa => &signature::ED25519,
            Alg::Ps256 | Alg::Rs256 => {
                let parameters = if self.alg == Alg::Ps256 {
                    &signature::RSA_PSS_2048_8192_SHA256
                } else {
                    &signature::RSA_PKCS1_2048_8192_SHA256
                };
                let key = signature::RsaPublicKeyComponents {
                    n: &self.key,
                    e: &self.exponent,
                };
                return key.verify(parameters, message, signature).is_ok();
            }
        };
        UnparsedPublicKey::new(algorithm, &self.key)
            .verify(message, signature)
            .is_ok()
    }
}

/// Reads an RSA public JWK (`n`, `e`; RFC 7518 §6.3.1) for PS256 or RS256. The thumbprint input
/// is `{"e","kty","n"}` (RFC 7638 §3.2), with `n` and `e` re-encoded from their bytes.
fn rsa(alg: Alg, jwk: &Map<String, Value>) -> Result<PublicJwk, &'static str> {
    if member(jwk, "kty") != Some("RSA") {
        return Err("jwk does not match alg");
    }
    let unsigned = |name| {
        member(jwk, name)
            .and_then(|value| Base64UrlUnpadded::decode_vec(value).ok())
            .filter(|bytes| bytes.first().is_some_and(|b| *b != 0))
            .ok_or("jwk is not a valid public key")
    };
    let (n, e) = (unsigned("n")?, unsigned("e")?);
    if n.len() < 256 || n.len() > 1024 || e.len() > 8 {
        return Err("jwk is not a valid public key");
    }
    let canonical = format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64(&e), b64(&n));
    Ok(PublicJwk {
        alg,
        key: n,
        exponent: e,
        thumbprint: sha256_b64(canonical.as_bytes()),
    })
}

/// A compact JWS split into its parts; the signature is not checked.
pub struct Compact<'a> {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The base64url payload, undecoded (its decoding can fail separately).
    pub payload_b64: &'a str,
    /// `header.payload`, the signed bytes.
    pub signing_input: &'a str,
    /// The decoded signature; None if it is not base64url.
    pub signature: Option<Vec<u8>>,
}

/// Why a JWS could not be split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitError {
    /// Not three dot-separated parts.
    Parts,
    /// The header is not base64url JSON.
    Header,
}

impl<'a> Compact<'a> {
    /// Splits `jws` (three parts, a JSON header).
    pub fn split(jws: &'a str) -> Result<Compact<'a>, SplitError> {
        let parts: Vec<&str> = jws.split('.').collect();
        let [header_b64, payload_b64, signature_b64] = parts[..] else {
            return Err(SplitError::Parts);
        };
        let header = decode_json_part(header_b64).ok_or(SplitError::Header)?;
        Ok(Compact {
            header,
            payload_b64,
            signing_input: &jws[..header_b64.len() + 1 + payload_b64.len()],
            signature: decode_b64(signature_b64),
        })
    }

    /// A string member of the header.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        member(&self.header, name)
    }

    /// Whether the signature verifies with `key`.
    pub fn verifies(&self, key: &PublicJwk) -> bool {
        self.signature
            .as_ref()
            .is_some_and(|signature| key.verifies(self.signing_input.as_bytes(), signature))
    }

    /// Whether the signature is the HS256 tag of the signing input under `secret`.
    pub fn verifies_hs256(&self, secret: &[u8]) -> bool {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        self.signature
            .as_ref()
            .is_some_and(|tag| ring::hmac::verify(&key, self.signing_input.as_bytes(), tag).is_ok())
    }

    /// The decoded payload, if it is base64url JSON.
    pub fn payload(&self) -> Option<Map<String, Value>> {
        decode_json_part(self.payload_b64)
    }
}

/// A string member of a JSON object.
fn member<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    object.get(name).and_then(Value::as_str)
}

/// Unpadded base64url.
pub fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// base64url(SHA-256(bytes)), as `ath` and thumbprints use.
pub fn sha256_b64(bytes: &[u8]) -> String {
    b64(digest(&SHA256, bytes).as_ref())
}

/// Decodes one base64url part of a JWS holding a JSON object.
pub fn decode_json_part(part: &str) -> Option<Map<String, Value>> {
    let bytes = Base64UrlUnpadded::decode_vec(part).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(object) => Some(object),
        _ => None,
    }
}

/// Decodes an unpadded base64url string.
pub fn decode_b64(part: &str) -> Option<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(part).ok()
}
