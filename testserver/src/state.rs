//! The state one server shares between its connection threads.

use crate::authorize::{CodeGrant, Pushed};
use crate::clock::Clock;
use crate::config::{Config, RecordedRequest, Stats};
use crate::fault::Fault;
use crate::jws::b64;
use crate::token::{TokenSigner, TokenStore};
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Bytes of randomness in nonces, token ids and refresh tokens.
const RANDOM_BYTES: usize = 16;

/// Everything the request handlers share.
pub struct Shared {
    /// The settings the server started with.
    pub config: Config,
    /// The issuer: the base URL + `config.issuer_path`, the access token `iss`.
    pub issuer: String,
    /// `http(s)://127.0.0.1:PORT`.
    pub base_url: String,
    /// Set when the server stops; connection threads end soon after.
    pub stop: AtomicBool,
    /// Whether to log one line per request to stderr.
    pub log: AtomicBool,
    /// Signs access tokens.
    pub signer: TokenSigner,
    /// The server's clock, skewed by `config.clock_offset_secs`.
    pub clock: Clock,
    /// The token endpoint's fault now: `config.token_fault` until
    /// [`Server::set_token_fault`](crate::Server::set_token_fault) changes it.
    token_fault: Mutex<Option<Fault>>,
    stats: Mutex<Stats>,
    nonces: Mutex<Nonces>,
    /// Proof `jti`s seen, with the time after which they can be forgotten.
    replay: Mutex<HashMap<String, u64>>,
    tokens: Mutex<TokenStore>,
    /// Client assertion `jti`s seen.
    assertion_jtis: Mutex<HashSet<String>>,
    /// Authorization codes not yet redeemed.
    codes: Mutex<HashMap<String, CodeGrant>>,
    /// Pushed authorization requests not yet used, by `request_uri`.
    pushed: Mutex<HashMap<String, Pushed>>,
    rng: SystemRandom,
}

/// The current DPoP nonce and the one before it, both accepted.
struct Nonces {
    current: String,
    previous: Option<String>,
}

/// Why a proof with a `nonce` claim is refused by a server that issues no nonces: the client
/// took it from another origin (RFC 9449 §8: a nonce belongs to the server that sent it).
/// oidc-provider without a `nonceSecret` refuses such proofs too.
pub const NONCE_NOT_ISSUED: &str = "nonce was not issued by this server (it issues none)";

/// How a proof's `nonce` claim compares with the server's nonces.
pub enum NonceCheck {
    /// The current or the previous nonce.
    Valid,
    /// No nonce claim.
    Missing,
    /// Some other value.
    Stale,
}

impl Shared {
    /// State for a server with these settings and base URL.
    pub fn new(config: Config, base_url: String) -> Shared {
        let rng = SystemRandom::new();
        let issuer = format!("{base_url}{}", config.issuer_path.as_deref().unwrap_or_default());
        let nonces = Nonces {
            current: random_b64(&rng),
            previous: None,
        };
        Shared {
            token_fault: Mutex::new(config.token_fault.clone()),
            clock: Clock::new(config.clock_offset_secs),
            config,
            issuer,
            base_url,
            assertion_jtis: Mutex::new(HashSet::new()),
            codes: Mutex::new(HashMap::new()),
            pushed: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            log: AtomicBool::new(false),
            signer: TokenSigner::new(&rng),
            stats: Mutex::new(Stats::default()),
            nonces: Mutex::new(nonces),
            replay: Mutex::new(HashMap::new()),
            tokens: Mutex::new(TokenStore::default()),
            rng,
        }
    }

    /// A fresh random base64url string (nonces, token ids, refresh tokens).
    pub fn random(&self) -> String {
        random_b64(&self.rng)
    }

    /// The counters, to read or update.
    pub fn stats(&self) -> MutexGuard<'_, Stats> {
        lock(&self.stats)
    }

    /// Appends a request to the log of [`Stats::requests`].
    pub fn record(&self, request: RecordedRequest) {
        if self.config.record_requests {
            self.stats().requests.push(request);
        }
    }

    /// The issued tokens, to read or update.
    pub fn tokens(&self) -> MutexGuard<'_, TokenStore> {
        lock(&self.tokens)
    }

    /// The authorization codes not yet redeemed.
    pub fn codes(&self) -> MutexGuard<'_, HashMap<String, CodeGrant>> {
        lock(&self.codes)
    }

    /// The pushed authorization requests not yet used.
    pub fn pushed(&self) -> MutexGuard<'_, HashMap<String, Pushed>> {
        lock(&self.pushed)
    }

    /// The nonce clients should use now.
    pub fn current_nonce(&self) -> String {
        lock(&self.nonces).current.clone()
    }

    /// Replaces the nonce with a new one (the old one stays valid until the next rotation) and
    /// returns the new one.
    pub fn rotate_nonce(&self) -> String {
        let fresh = self.random();
        let mut nonces = lock(&self.nonces);
        nonces.previous = Some(std::mem::replace(&mut nonces.current, fresh.clone()));
        fresh
    }

    /// The token endpoint's fault now.
    pub fn token_fault(&self) -> Option<Fault> {
        lock(&self.token_fault).clone()
    }

    /// Replaces the token endpoint's fault (`None`: it answers as usual again).
    pub fn set_token_fault(&self, fault: Option<Fault>) {
        *lock(&self.token_fault) = fault;
    }

    /// Whether this server hands out nonces (at its token endpoint or its API), with the faults
    /// in force now.
    pub fn issues_nonces(&self) -> bool {
        let c = &self.config;
        let fault_sends_nonce = [&self.token_fault(), &c.api_fault]
            .into_iter()
            .flatten()
            .any(Fault::sends_nonce);
        c.require_nonce_token
            || c.require_nonce_api
            || c.api_nonce_every_request
            || c.token_nonce_every_request
            || fault_sends_nonce
    }

    /// Compares a proof's `nonce` claim with the server's nonces.
    pub fn check_nonce(&self, nonce: Option<&str>) -> NonceCheck {
        let nonces = lock(&self.nonces);
        match nonce {
            None => NonceCheck::Missing,
            Some(n) if n == nonces.current || nonces.previous.as_deref() == Some(n) => NonceCheck::Valid,
            Some(_) => NonceCheck::Stale,
        }
    }

    /// The token endpoint URL, base URL + `/token`.
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.base_url)
    }

    /// Records a client assertion `jti`; false if it was seen before.
    pub fn use_assertion_jti(&self, jti: &str) -> bool {
        lock(&self.assertion_jtis).insert(jti.to_owned())
    }

    /// Records a proof `jti`; false if it was seen before. `iat` bounds how long it is kept.
    pub fn use_jti(&self, jti: &str, iat: u64, now: u64) -> bool {
        let mut seen = lock(&self.replay);
        if seen.contains_key(jti) {
            return false;
        }
        if seen.len() >= 1024 {
            seen.retain(|_, forget_after| *forget_after >= now);
        }
        let forget_after = iat
            .max(now)
            .saturating_add(self.config.iat_window)
            .saturating_add(1);
        seen.insert(jti.to_owned(), forget_after);
        true
    }
}

/// Locks a mutex, ignoring poisoning: a panicking handler leaves the plain data usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn random_b64(rng: &SystemRandom) -> String {
    let mut bytes = [0u8; RANDOM_BYTES];
    rng.fill(&mut bytes).expect("the OS random source works");
    b64(&bytes)
}

/// Seconds since the Unix epoch, real time.
pub fn now() -> u64 {
    Clock::new(0).now()
}
