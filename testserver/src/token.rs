//! Access tokens (JWTs signed with HS256 under a random per-server key) and the server's record
//! of issued, revoked and refresh tokens.

use crate::jws::{b64, decode_b64, decode_json_part};
use ring::hmac;
use ring::rand::SystemRandom;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// The protected header of every access token.
const HEADER: &str = r#"{"alg":"HS256","typ":"at+jwt"}"#;

/// Signs and checks access tokens.
pub struct TokenSigner {
    key: hmac::Key,
}

impl TokenSigner {
    /// A signer with a fresh random key.
    pub fn new(rng: &SystemRandom) -> TokenSigner {
        let key = hmac::Key::generate(hmac::HMAC_SHA256, rng).expect("the OS random source works");
        TokenSigner { key }
    }

    /// A compact JWS over `claims`.
    pub fn mint(&self, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(HEADER.as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let tag = hmac::sign(&self.key, input.as_bytes());
        format!("{input}.{}", b64(tag.as_ref()))
    }

    /// An OpenID Connect ID token over `claims` (HS256 under the same server key: libdpop's
    /// client checks its claims, not its signature, since it comes straight from the token
    /// endpoint).
    pub fn mint_id_token(&self, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(br#"{"alg":"HS256","typ":"JWT"}"#),
            b64(claims.to_string().as_bytes())
        );
        let tag = hmac::sign(&self.key, input.as_bytes());
        format!("{input}.{}", b64(tag.as_ref()))
    }

    /// The claims of a token this signer made.
    pub fn verify(&self, token: &str) -> Result<Map<String, Value>, &'static str> {
        const INVALID: &str = "access token signature is invalid";
        let parts: Vec<&str> = token.split('.').collect();
        let [header, payload, tag] = parts[..] else {
            return Err("access token is not a JWT");
        };
        let tag = decode_b64(tag).ok_or(INVALID)?;
        let input = &token[..header.len() + 1 + payload.len()];
        hmac::verify(&self.key, input.as_bytes(), &tag).map_err(|_| INVALID)?;
        decode_json_part(payload).ok_or("access token is not a JWT")
    }
}

/// What a refresh token stands for.
#[derive(Clone, Debug)]
pub struct RefreshGrant {
    /// The client it was issued to.
    pub client_id: String,
    /// Thumbprint of the DPoP key it is bound to.
    pub jkt: String,
    /// The scope of the original grant.
    pub scope: Option<String>,
}

/// Issued tokens: access token `jti`s still valid or revoked, and live refresh tokens.
#[derive(Default)]
pub struct TokenStore {
    active: HashSet<String>,
    revoked: HashSet<String>,
    refresh: HashMap<String, RefreshGrant>,
}

/// Whether an access token `jti` is usable.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenState {
    /// Issued and not revoked.
    Active,
    /// Revoked by [`TokenStore::revoke_all`].
    Revoked,
    /// Never issued by this server.
    Unknown,
}

impl TokenStore {
    /// Records an issued access token.
    pub fn add_access(&mut self, jti: String) {
        self.active.insert(jti);
    }

    /// The state of an access token.
    pub fn access_state(&self, jti: &str) -> TokenState {
        if self.active.contains(jti) {
            TokenState::Active
        } else if self.revoked.contains(jti) {
            TokenState::Revoked
        } else {
            TokenState::Unknown
        }
    }

    /// Revokes every access token issued so far (refresh tokens stay valid).
    pub fn revoke_all(&mut self) {
        self.revoked.extend(self.active.drain());
    }

    /// Records a refresh token.
    pub fn add_refresh(&mut self, token: String, grant: RefreshGrant) {
        self.refresh.insert(token, grant);
    }

    /// The grant of a live refresh token.
    pub fn refresh(&self, token: &str) -> Option<&RefreshGrant> {
        self.refresh.get(token)
    }

    /// Forgets every refresh token.
    pub fn revoke_refresh(&mut self) {
        self.refresh.clear();
    }

    /// Ends a refresh token (it was used and replaced).
    pub fn remove_refresh(&mut self, token: &str) {
        self.refresh.remove(token);
    }
}
