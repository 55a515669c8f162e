//! Client assertions (RFC 7523 §2.2, OpenID Connect Core §9): the JWT a client signs to
//! authenticate at the token endpoint with `private_key_jwt` or `client_secret_jwt`. A new one
//! is made for every attempt, the nonce retry included: servers remember each `jti`, and
//! oidc-provider checks the assertion before the DPoP proof, so an assertion sent with a
//! proof that lacked the nonce is already spent.

use super::auth_token::{AssertionKey, AuthToken, ClientAuth};
use crate::error::{Error, ErrorKind, Result};
use crate::key::Key;
use base64ct::{Base64UrlUnpadded, Encoding};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// The `client_assertion_type` of RFC 7523 §2.2.
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is valid: `exp` = `iat` + this.
pub(crate) const LIFETIME_SECS: u64 = 60;

/// A fresh assertion for the settings' JWT client authentication, or `None` when they use
/// another method. `aud` is the issuer when known, else the token endpoint; `now` is in
/// seconds since the Unix epoch, on the server's clock when it is followed.
pub(crate) fn make(
    settings: &AuthToken,
    aud: &str,
    dpop_key: Option<&Key>,
    now: u64,
) -> Result<Option<Zeroizing<String>>> {
    let rng = SystemRandom::new();
    let mut jti = [0u8; 16];
    rng.fill(&mut jti).map_err(|_| crate::key::rng_error())?;
    let claims = serde_json::json!({
        "iss": settings.client_id,
        "sub": settings.client_id,
        "aud": aud,
        "jti": Base64UrlUnpadded::encode_string(&jti),
        "iat": now,
        "exp": now + LIFETIME_SECS,
    });
    let payload = Base64UrlUnpadded::encode_string(claims.to_string().as_bytes());
    match &settings.client_auth {
        ClientAuth::SecretJwt(secret) => {
            let mut jwt = signing_input(r#"{"alg":"HS256","typ":"JWT"}"#, &payload);
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
            let tag = ring::hmac::sign(&key, jwt.as_bytes());
            jwt.push('.');
            jwt.push_str(&Base64UrlUnpadded::encode_string(tag.as_ref()));
            Ok(Some(jwt))
        }
        ClientAuth::PrivateKeyJwt { key, kid } => {
            let key = match key {
                AssertionKey::Own(key) => key.as_ref(),
                AssertionKey::DpopKey => dpop_key.ok_or_else(|| {
                    Error::new(
                        ErrorKind::KeyNotLoaded,
                        "the client assertion is to be signed with the DPoP key, and none is set",
                    )
                })?,
            };
            let mut header = serde_json::json!({"alg": key.alg().name(), "typ": "JWT"});
            if let Some(kid) = kid {
                header["kid"] = kid.as_str().into();
            }
            let mut jwt = signing_input(&header.to_string(), &payload);
            let signature = key.sign(&rng, jwt.as_bytes())?;
            jwt.push('.');
            jwt.push_str(&Base64UrlUnpadded::encode_string(&signature));
            Ok(Some(jwt))
        }
        _ => Ok(None),
    }
}

fn signing_input(header: &str, payload: &str) -> Zeroizing<String> {
    let mut jwt = Zeroizing::new(String::with_capacity(header.len() * 2 + payload.len() + 100));
    jwt.push_str(&Base64UrlUnpadded::encode_string(header.as_bytes()));
    jwt.push('.');
    jwt.push_str(payload);
    jwt
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Algorithm;
    use serde_json::Value;

    fn part(jwt: &str, i: usize) -> Value {
        let b = Base64UrlUnpadded::decode_vec(jwt.split('.').nth(i).unwrap()).unwrap();
        serde_json::from_slice(&b).unwrap()
    }

    #[test]
    fn a_private_key_jwt_assertion_has_the_rfc_7523_claims_and_verifies() {
        let key = Key::generate(Algorithm::Es256).unwrap();
        let json = serde_json::json!({"client_id":"c1","token_endpoint":"https://as/t","auth_method":"private_key_jwt",
            "client_assertion_key": key.private_jwk().as_str(), "client_assertion_kid":"kid-1"});
        let settings = AuthToken::from_json(&json.to_string()).unwrap();
        let a = make(&settings, "https://as", None, 1_700_000_000)
            .unwrap()
            .unwrap();
        let b = make(&settings, "https://as", None, 1_700_000_000)
            .unwrap()
            .unwrap();
        let header = part(&a, 0);
        assert_eq!(
            header,
            serde_json::json!({"alg":"ES256","typ":"JWT","kid":"kid-1"})
        );
        let claims = part(&a, 1);
        assert_eq!(claims["iss"], "c1");
        assert_eq!(claims["sub"], "c1");
        assert_eq!(claims["aud"], "https://as", "a single string, as FAPI 2.0 asks");
        assert_eq!(claims["iat"], 1_700_000_000u64);
        assert_eq!(claims["exp"], 1_700_000_060u64);
        assert_ne!(
            claims["jti"],
            part(&b, 1)["jti"],
            "every assertion has its own jti"
        );
        // Verified with ring, from the public JWK.
        let jwk: Value = serde_json::from_str(key.public_jwk()).unwrap();
        let coord = |n: &str| Base64UrlUnpadded::decode_vec(jwk[n].as_str().unwrap()).unwrap();
        let mut point = vec![4u8];
        point.extend(coord("x"));
        point.extend(coord("y"));
        let (input, sig) = a.rsplit_once('.').unwrap();
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
            .verify(input.as_bytes(), &Base64UrlUnpadded::decode_vec(sig).unwrap())
            .expect("the assertion verifies with the key's public JWK");
    }

    #[test]
    fn a_client_secret_jwt_assertion_is_hs256_with_the_secret() {
        let settings = AuthToken::from_json(
            r#"{"client_id":"c2","client_secret":"s3cret-s3cret-s3cret-s3cret-32b","token_endpoint":"https://as/t","auth_method":"client_secret_jwt"}"#,
        )
        .unwrap();
        let a = make(&settings, "https://as/t", None, 5).unwrap().unwrap();
        assert_eq!(part(&a, 0), serde_json::json!({"alg":"HS256","typ":"JWT"}));
        let (input, sig) = a.rsplit_once('.').unwrap();
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"s3cret-s3cret-s3cret-s3cret-32b");
        ring::hmac::verify(
            &key,
            input.as_bytes(),
            &Base64UrlUnpadded::decode_vec(sig).unwrap(),
        )
        .unwrap();
        assert!(!a.contains("s3cret"));
    }

    #[test]
    fn the_dpop_key_signs_when_the_settings_say_so_and_is_needed_then() {
        let settings = AuthToken::from_json(
            r#"{"client_id":"c","token_endpoint":"https://as/t","auth_method":"private_key_jwt","client_assertion_use_dpop_key":true}"#,
        )
        .unwrap();
        let e = make(&settings, "https://as/t", None, 5).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::KeyNotLoaded);
        let key = Key::generate(Algorithm::EdDsa).unwrap();
        let a = make(&settings, "https://as/t", Some(&key), 5).unwrap().unwrap();
        assert_eq!(part(&a, 0)["alg"], "EdDSA");
        let post =
            AuthToken::from_json(r#"{"client_id":"c","client_secret":"s","token_endpoint":"https://as/t"}"#)
                .unwrap();
        assert!(make(&post, "https://as/t", None, 5).unwrap().is_none());
    }
}
