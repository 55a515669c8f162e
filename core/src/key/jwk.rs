//! JSON Web Keys (RFC 7517, 7518, 8037): writing public and private JWKs, reading private ones.

use super::Algorithm;
use super::Key;
use crate::error::{Error, ErrorKind, Result};
use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// The public JWK with its required members in lexicographic order, so that the same string
/// is the RFC 7638 thumbprint input.
pub(super) fn public_jwk(alg: Algorithm, public: &[u8]) -> String {
    match alg {
        Algorithm::Es256 | Algorithm::Es384 => {
            let (x, y) = coordinates(alg, public);
            format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                alg.curve(),
                Base64UrlUnpadded::encode_string(x),
                Base64UrlUnpadded::encode_string(y)
            )
        }
        Algorithm::EdDsa => format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            Base64UrlUnpadded::encode_string(public)
        ),
        Algorithm::Ps256 | Algorithm::Rs256 => super::rsa_key::public_jwk(public),
    }
}

/// The private JWK: the public members plus `d`.
pub(super) fn private_jwk(alg: Algorithm, private: &[u8], public: &[u8]) -> Zeroizing<String> {
    if alg.is_rsa() {
        return super::rsa_key::private_jwk(alg, private);
    }
    let d = Zeroizing::new(Base64UrlUnpadded::encode_string(private));
    let (head, tail) = match alg {
        Algorithm::Es256 | Algorithm::Es384 => {
            let (x, y) = coordinates(alg, public);
            (
                format!(r#"{{"crv":"{}","d":""#, alg.curve()),
                format!(
                    r#"","kty":"EC","x":"{}","y":"{}"}}"#,
                    Base64UrlUnpadded::encode_string(x),
                    Base64UrlUnpadded::encode_string(y)
                ),
            )
        }
        Algorithm::EdDsa | Algorithm::Ps256 | Algorithm::Rs256 => (
            r#"{"crv":"Ed25519","d":""#.to_owned(),
            format!(
                r#"","kty":"OKP","x":"{}"}}"#,
                Base64UrlUnpadded::encode_string(public)
            ),
        ),
    };
    // Sized once, so the buffer holding `d` is never outgrown (and freed unwiped) on the way.
    let mut jwk = Zeroizing::new(String::with_capacity(head.len() + d.len() + tail.len()));
    jwk.push_str(&head);
    jwk.push_str(&d);
    jwk.push_str(&tail);
    jwk
}

/// Splits an uncompressed SEC1 point into its x and y coordinates.
fn coordinates(alg: Algorithm, point: &[u8]) -> (&[u8], &[u8]) {
    let n = alg.field_len();
    (&point[1..1 + n], &point[1 + n..1 + 2 * n])
}

/// Loads a private key from a JWK, or from a JWK Set that holds exactly one key.
pub(super) fn load(text: &[u8]) -> Result<Key> {
    let value = serde_json::from_slice(text)
        .map(crate::json::SecretJson::new)
        .map_err(|e| {
            if e.is_eof() {
                Error::new(
                    ErrorKind::KeyTruncated,
                    "the JWK's JSON ends early (truncated input)",
                )
            } else {
                // serde_json's syntax messages name a position, never the input's content.
                Error::new(ErrorKind::KeyMalformed, format!("the JWK is not valid JSON: {e}"))
            }
        })?;
    let Value::Object(members) = &*value else {
        return Err(Error::new(
            ErrorKind::KeyMalformed,
            "the JWK is not a JSON object",
        ));
    };
    if let Some(keys) = members.get("keys") {
        return match keys {
            Value::Array(keys) if keys.len() == 1 => match keys.first() {
                Some(Value::Object(only)) => from_members(only),
                _ => Err(Error::new(
                    ErrorKind::KeyMalformed,
                    "the JWK Set's key is not a JSON object",
                )),
            },
            Value::Array(keys) => Err(Error::new(
                ErrorKind::KeyMalformed,
                format!("the JWK Set holds {} keys; pass the one to use", keys.len()),
            )),
            _ => Err(Error::new(
                ErrorKind::KeyMalformed,
                "the JWK Set's 'keys' is not an array",
            )),
        };
    }
    from_members(members)
}

fn from_members(jwk: &Map<String, Value>) -> Result<Key> {
    let kty = string_member(jwk, "kty")?
        .ok_or_else(|| Error::new(ErrorKind::KeyMalformed, "the JWK has no 'kty' member"))?;
    let crv = string_member(jwk, "crv")?;
    let alg = match (kty, crv) {
        ("EC", Some("P-256")) => Algorithm::Es256,
        ("EC", Some("P-384")) => Algorithm::Es384,
        ("OKP", Some("Ed25519")) => Algorithm::EdDsa,
        ("EC", None) | ("OKP", None) => {
            return Err(Error::new(ErrorKind::KeyMalformed, "the JWK has no 'crv' member"));
        }
        ("EC", Some(other)) => {
            return Err(Error::new(
                ErrorKind::KeyUnsupportedCurve,
                format!("unsupported curve '{other}': use P-256, P-384 or Ed25519"),
            ));
        }
        ("OKP", Some(other @ ("X25519" | "X448"))) => {
            return Err(Error::new(
                ErrorKind::KeyUnsupportedType,
                format!("{other} is a key-agreement key and cannot sign proofs"),
            ));
        }
        ("OKP", Some(other)) => {
            return Err(Error::new(
                ErrorKind::KeyUnsupportedCurve,
                format!("unsupported curve '{other}': use P-256, P-384 or Ed25519"),
            ));
        }
        ("RSA", _) => {
            let (alg, der) = super::rsa_key::from_jwk(jwk)?;
            return Key::from_private(alg, der.as_bytes(), None);
        }
        ("oct", _) => {
            return Err(Error::new(
                ErrorKind::KeyUnsupportedType,
                "symmetric ('oct') keys cannot sign DPoP proofs",
            ));
        }
        (other, _) => {
            return Err(Error::new(
                ErrorKind::KeyUnsupportedType,
                format!("unsupported JWK key type '{other}'"),
            ));
        }
    };
    let n = alg.field_len();
    let Some(d) = string_member(jwk, "d")? else {
        return Err(Error::new(
            ErrorKind::KeyPublicOnly,
            "the JWK is a public key (no 'd' member); a private key is needed",
        ));
    };
    let d = Zeroizing::new(decode_member("d", d, n)?);
    let x = decode_member("x", required(jwk, "x")?, n)?;
    let public = match alg {
        Algorithm::EdDsa | Algorithm::Ps256 | Algorithm::Rs256 => x,
        Algorithm::Es256 | Algorithm::Es384 => {
            let y = decode_member("y", required(jwk, "y")?, n)?;
            let mut point = Vec::with_capacity(1 + 2 * n);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            point
        }
    };
    Key::from_private(alg, &d, Some(&public))
}

pub(super) fn string_member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::new(
            ErrorKind::KeyMalformed,
            format!("the JWK member '{name}' is not a string"),
        )),
    }
}

fn required<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str> {
    string_member(jwk, name)?
        .ok_or_else(|| Error::new(ErrorKind::KeyMalformed, format!("the JWK has no '{name}' member")))
}

fn decode_member(name: &str, value: &str, len: usize) -> Result<Vec<u8>> {
    let bytes = Base64UrlUnpadded::decode_vec(value).map_err(|_| {
        Error::new(
            ErrorKind::KeyMalformed,
            format!("the JWK member '{name}' is not unpadded base64url"),
        )
    })?;
    if bytes.len() != len {
        return Err(Error::new(
            ErrorKind::KeyMalformed,
            format!(
                "the JWK member '{name}' has {} bytes, {len} expected",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}
