//! JWS building blocks the server verifies with `ring` alone: base64url JSON parts, public JWKs
//! (RFC 7517), their RFC 7638 thumbprints and the three DPoP signature algorithms.

use base64ct::{Base64UrlUnpadded, Encoding};
use ring::digest::{digest, SHA256};
use ring::signature::{self, UnparsedPublicKey};
use serde_json::{Map, Value};

/// The signature algorithms the server accepts, as named in `algs` of its challenges. `Ed25519`
/// is the fully-specified name of `EdDSA` with Ed25519 keys (RFC 9864); oauth4webapi signs
/// with it and oidc-provider accepts it by default, so a client may send either.
pub const SUPPORTED_ALGS: &str = "ES256 ES384 EdDSA Ed25519";

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
}

impl Alg {
    /// The algorithm named by a JWS `alg` header, if the server accepts it.
    pub fn from_name(name: &str) -> Option<Alg> {
        match name {
            "ES256" => Some(Alg::Es256),
            "ES384" => Some(Alg::Es384),
            "EdDSA" | "Ed25519" => Some(Alg::EdDsa),
            _ => None,
        }
    }

    /// (kty, crv, coordinate length) the JWK of this algorithm must have.
    fn key_shape(self) -> (&'static str, &'static str, usize) {
        match self {
            Alg::Es256 => ("EC", "P-256", 32),
            Alg::Es384 => ("EC", "P-384", 48),
            Alg::EdDsa => ("OKP", "Ed25519", 32),
        }
    }
}

/// A public key taken from a proof's `jwk` header.
#[derive(Debug)]
pub struct PublicJwk {
    alg: Alg,
    /// The key as `ring` wants it: an uncompressed SEC1 point, or the raw Ed25519 key.
    key: Vec<u8>,
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
        let (kty, crv, len) = alg.key_shape();
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
            thumbprint: sha256_b64(canonical.as_bytes()),
        })
    }

    /// Whether `signature` (JWS form: fixed-size r||s for ECDSA) signs `message` with this key.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let algorithm: &dyn signature::VerificationAlgorithm = match self.alg {
            Alg::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
            Alg::Es384 => &signature::ECDSA_P384_SHA384_FIXED,
            Alg::EdDsa => &signature::ED25519,
        };
        UnparsedPublicKey::new(algorithm, &self.key)
            .verify(message, signature)
            .is_ok()
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
