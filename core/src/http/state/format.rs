//! The saved state's file, format version 1: sealed with a passphrase or with a protector
//! (DPAPI), and checksummed.
//!
//! ```text
//! magic         16  "\x89libdpop state\r\n"
//! version        1  1
//! scheme         1  1 = passphrase, 2 = protector
//! passphrase:
//!   kdf          1  1 = PBKDF2-HMAC-SHA256 with 600 000 iterations (the only one; the cost is
//!                   libdpop's and is never read from the file: see [`Cost`])
//!   salt        16
//!   check       16  key-check value: tells a wrong passphrase from a damaged file
//!   nonce       12  AES-256-GCM's
//!   key_len      2  big-endian, then the key: encrypted PKCS#8 DER (libdpop's key export with
//!                   the same passphrase and as many iterations)
//!   sealed_len   4  big-endian, then the contents sealed with AES-256-GCM, with every byte
//!                   before them as associated data
//! protector:
//!   name_len     1  then the protector's name ("DPAPI")
//!   blob_len     4  big-endian, then the protector's blob of key_len (2) + PKCS#8 DER + the
//!                   contents; every byte before blob_len is the protector's context (DPAPI's
//!                   optional entropy)
//! checksum      32  SHA-256 of every byte before it
//! ```
//!
//! The contents are JSON: `{"issuer","token_endpoint","client_id","jkt","alg","refresh_token"}`.
//! The checksum finds damage before any key is derived, so a damaged file is `StateCorrupt`
//! whatever the passphrase; a wrong passphrase fails the key check (`StateLocked`); contents
//! that do not authenticate under the right passphrase were altered (`StateCorrupt`).

use super::{Protector, StateProtection};
use crate::error::{Error, ErrorKind, Result};
use crate::key::{Algorithm, Key};
use dpop_wipe::Wiped;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hmac, pbkdf2};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::num::NonZeroU32;
use std::sync::Arc;
use zeroize::Zeroizing;

const MAGIC: &[u8; 16] = b"\x89libdpop state\r\n";
const VERSION: u8 = 1;
const SCHEME_PASSPHRASE: u8 = 1;
const SCHEME_PROTECTOR: u8 = 2;
/// The one key derivation of version 1.
const KDF_PBKDF2_SHA256: u8 = 1;
const SALT_LEN: usize = 16;
const CHECK_LEN: usize = 16;
const CHECKSUM_LEN: usize = 32;

/// What binds the refresh token: the server and client it was issued to, and the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Binding {
    pub(super) issuer: Option<String>,
    pub(super) token_endpoint: Option<String>,
    pub(super) client_id: String,
    /// The key's RFC 7638 thumbprint.
    pub(super) jkt: String,
}

/// What the file holds besides the key.
pub(super) struct Contents {
    pub(super) binding: Binding,
    pub(super) alg: Algorithm,
    pub(super) refresh_token: Option<Zeroizing<String>>,
}

/// How a state is sealed, kept after a save or a load so that the client can save again by
/// itself without deriving the key again (the passphrase itself is not kept).
pub(super) enum Sealer {
    Passphrase {
        salt: [u8; SALT_LEN],
        check: [u8; CHECK_LEN],
        aead_key: Zeroizing<[u8; 32]>,
        /// The encrypted PKCS#8 DER of the key.
        key_der: Vec<u8>,
    },
    Protector {
        protector: Arc<dyn Protector>,
        /// The PKCS#8 DER of the key, sealed with the contents by the protector.
        key_der: Zeroizing<Vec<u8>>,
    },
}

/// The PBKDF2 iterations of a passphrase state: those of its own key derivation, and those of
/// its key's encryption. Version 1 has one cost, [`Cost::STANDARD`], which the file does not
/// record: it never comes from the file. The fuzz targets use [`Cost::FUZZING`], because
/// 600 000 iterations an input would leave no time for the parsers; a state sealed at one cost
/// does not open at the other (the key check fails: `StateLocked`).
#[derive(Clone, Copy)]
pub(super) struct Cost(NonZeroU32);

impl Cost {
    /// As for key exports (the OWASP figure for PBKDF2-HMAC-SHA256).
    pub(super) const STANDARD: Cost = match NonZeroU32::new(600_000) {
        Some(n) => Cost(n),
        None => unreachable!(),
    };
    /// One iteration, for the fuzz targets and their tests only.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(super) const FUZZING: Cost = Cost(NonZeroU32::MIN);
}

fn corrupt(why: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::StateCorrupt, format!("{why}"))
}

fn locked(why: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::StateLocked, format!("{why}"))
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| crate::key::rng_error())?;
    Ok(out)
}

#[cfg(test)]
pub(super) fn tests_random<const N: usize>() -> [u8; N] {
    random().unwrap()
}

/// The AES-256-GCM key and the key-check value of `passphrase` and `salt`: PBKDF2 gives a
/// master key, and HMACs of it with two labels give the two.
fn derive(passphrase: &str, salt: &[u8], cost: Cost) -> (Zeroizing<[u8; 32]>, [u8; CHECK_LEN]) {
    let mut master = Zeroizing::new([0u8; 32]);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        cost.0,
        salt,
        passphrase.as_bytes(),
        &mut *master,
    );
    let mac = Wiped::new(hmac::Key::new(hmac::HMAC_SHA256, &*master));
    let mut aead_key = Zeroizing::new([0u8; 32]);
    aead_key.copy_from_slice(hmac::sign(&mac, b"libdpop state v1: AES-256-GCM key").as_ref());
    let mut check = [0u8; CHECK_LEN];
    check.copy_from_slice(&hmac::sign(&mac, b"libdpop state v1: key check").as_ref()[..CHECK_LEN]);
    (aead_key, check)
}

fn aead(key: &[u8; 32]) -> Wiped<LessSafeKey> {
    Wiped::new(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, key).expect("32 bytes make an AES-256 key"),
    ))
}

impl Sealer {
    /// A sealer for `key`: derives the passphrase's keys and encrypts the key at `cost` (both
    /// slow on purpose), or exports the key for the protector.
    pub(super) fn new(key: &Key, protection: &StateProtection<'_>, cost: Cost) -> Result<Sealer> {
        match protection {
            StateProtection::Passphrase(passphrase) => {
                if passphrase.is_empty() {
                    return Err(Error::new(ErrorKind::InvalidArgument, "the passphrase is empty"));
                }
                let salt = random::<SALT_LEN>()?;
                let (aead_key, check) = derive(passphrase, &salt, cost);
                let key_der = key
                    .private_pkcs8_der_encrypted(passphrase, cost.0.get())?
                    .to_vec();
                Ok(Sealer::Passphrase {
                    salt,
                    check,
                    aead_key,
                    key_der,
                })
            }
            StateProtection::Protector(protector) => {
                check_name(protector.name())?;
                Ok(Sealer::Protector {
                    protector: Arc::clone(protector),
                    key_der: key.private_pkcs8_der()?,
                })
            }
        }
    }

    /// The whole file for `contents`.
    pub(super) fn seal(&self, contents: &Contents) -> Result<Vec<u8>> {
        self.seal_payload(contents.to_json().as_bytes())
    }

    /// The whole file around `payload`, the contents as JSON (whatever it holds, for the fuzz
    /// targets).
    pub(super) fn seal_payload(&self, payload: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(256 + payload.len());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        match self {
            Sealer::Passphrase {
                salt,
                check,
                aead_key,
                key_der,
            } => {
                out.push(SCHEME_PASSPHRASE);
                out.push(KDF_PBKDF2_SHA256);
                out.extend_from_slice(salt);
                out.extend_from_slice(check);
                let nonce = random::<NONCE_LEN>()?;
                out.extend_from_slice(&nonce);
                push_u16(&mut out, key_der.len())?;
                out.extend_from_slice(key_der);
                push_u32(&mut out, payload.len() + AES_256_GCM.tag_len())?;
                let mut sealed = Zeroizing::new(payload.to_vec());
                aead(aead_key)
                    .seal_in_place_append_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(out.as_slice()),
                        &mut *sealed,
                    )
                    .map_err(|_| Error::new(ErrorKind::Crypto, "AES-256-GCM sealing failed"))?;
                out.extend_from_slice(&sealed);
            }
            Sealer::Protector { protector, key_der } => {
                out.push(SCHEME_PROTECTOR);
                let name = protector.name();
                out.push(name.len() as u8); // checked by Sealer::new
                out.extend_from_slice(name.as_bytes());
                let mut inner = Zeroizing::new(Vec::with_capacity(2 + key_der.len() + payload.len()));
                push_u16(&mut inner, key_der.len())?;
                inner.extend_from_slice(key_der);
                inner.extend_from_slice(payload);
                let blob = protector.protect(&inner, &out)?;
                push_u32(&mut out, blob.len())?;
                out.extend_from_slice(&blob);
            }
        }
        let checksum = Sha256::digest(&out);
        out.extend_from_slice(&checksum);
        Ok(out)
    }
}

/// A protector's name is short printable ASCII (it is stored in the file and shown in messages).
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "a state protector's name must be 1 to 64 printable ASCII characters",
        ));
    }
    Ok(())
}

fn push_u16(out: &mut Vec<u8>, len: usize) -> Result<()> {
    let len = u16::try_from(len)
        .map_err(|_| Error::new(ErrorKind::InvalidArgument, "the key is too large to save"))?;
    out.extend_from_slice(&len.to_be_bytes());
    Ok(())
}

fn push_u32(out: &mut Vec<u8>, len: usize) -> Result<()> {
    let len = u32::try_from(len)
        .map_err(|_| Error::new(ErrorKind::InvalidArgument, "the state is too large to save"))?;
    out.extend_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Reads the file's fields in order; running out is damage.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|end| *end <= self.data.len());
        let Some(end) = end else {
            return Err(corrupt("the file is cut off"));
        };
        let part = &self.data[self.at..end];
        self.at = end;
        Ok(part)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<usize> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn u32(&mut self) -> Result<usize> {
        let b = self.take(4)?;
        usize::try_from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .map_err(|_| corrupt("a length is too large"))
    }

    fn end(&self) -> Result<()> {
        if self.at != self.data.len() {
            return Err(corrupt("the file has data after its end"));
        }
        Ok(())
    }
}

/// Opens a saved state with `protection` (a passphrase's at `cost`): the key, the contents, and
/// the sealer that saves it again. Nothing is changed anywhere. `check` sees the contents
/// before the key is decrypted (a foreign state is told without a second key derivation).
pub(super) fn open(
    file: &[u8],
    protection: &StateProtection<'_>,
    cost: Cost,
    check: impl FnOnce(&Contents) -> Result<()>,
) -> Result<(Key, Contents, Sealer)> {
    if file.is_empty() {
        return Err(corrupt("the file is empty"));
    }
    if file.len() < MAGIC.len() + 2 + CHECKSUM_LEN || !file.starts_with(MAGIC) {
        return Err(corrupt("the file is not a libdpop saved state"));
    }
    let (body, checksum) = file.split_at(file.len() - CHECKSUM_LEN);
    if Sha256::digest(body).as_slice() != checksum {
        return Err(corrupt(
            "the file is damaged or cut off (its checksum does not match)",
        ));
    }
    let mut r = Reader {
        data: body,
        at: MAGIC.len(),
    };
    let version = r.byte()?;
    if version != VERSION {
        return Err(corrupt(format!(
            "the file has format version {version}; this libdpop reads version {VERSION}"
        )));
    }
    match r.byte()? {
        SCHEME_PASSPHRASE => open_passphrase(&mut r, protection, cost, check),
        SCHEME_PROTECTOR => open_protector(&mut r, protection, check),
        other => Err(corrupt(format!("the file names an unknown protection ({other})"))),
    }
}

fn open_passphrase(
    r: &mut Reader<'_>,
    protection: &StateProtection<'_>,
    cost: Cost,
    check_contents: impl FnOnce(&Contents) -> Result<()>,
) -> Result<(Key, Contents, Sealer)> {
    let kdf = r.byte()?;
    if kdf != KDF_PBKDF2_SHA256 {
        return Err(corrupt(format!(
            "the file names an unknown key derivation ({kdf})"
        )));
    }
    let salt: [u8; SALT_LEN] = r.take(SALT_LEN)?.try_into().expect("SALT_LEN bytes");
    let check: [u8; CHECK_LEN] = r.take(CHECK_LEN)?.try_into().expect("CHECK_LEN bytes");
    let nonce: [u8; NONCE_LEN] = r.take(NONCE_LEN)?.try_into().expect("NONCE_LEN bytes");
    let key_len = r.u16()?;
    let key_der = r.take(key_len)?;
    let sealed_len = r.u32()?;
    let aad_end = r.at;
    let sealed = r.take(sealed_len)?;
    r.end()?;
    let passphrase = match protection {
        StateProtection::Passphrase(p) if !p.is_empty() => *p,
        StateProtection::Passphrase(_) => {
            return Err(Error::new(ErrorKind::InvalidArgument, "the passphrase is empty"))
        }
        StateProtection::Protector(p) => {
            return Err(locked(format!(
                "the state is protected with a passphrase, not with {}: give the passphrase",
                p.name()
            )))
        }
    };
    let (aead_key, derived_check) = derive(passphrase, &salt, cost);
    if !equal(&derived_check, &check) {
        return Err(locked("the passphrase does not open it"));
    }
    let mut plain = Zeroizing::new(sealed.to_vec());
    let opened = aead(&aead_key)
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&r.data[..aad_end]),
            &mut plain,
        )
        .map_err(|_| corrupt("its sealed contents do not authenticate (the file was altered)"))?;
    let contents = Contents::from_json(opened)?;
    check_contents(&contents)?;
    let key = Key::load_own_encrypted(key_der, passphrase, cost.0.get())
        .map_err(|e| corrupt(format!("its key does not load: {}", e.message())))?;
    let key = contents.check_key(key)?;
    Ok((
        key,
        contents,
        Sealer::Passphrase {
            salt,
            check,
            aead_key,
            key_der: key_der.to_vec(),
        },
    ))
}

fn open_protector(
    r: &mut Reader<'_>,
    protection: &StateProtection<'_>,
    check_contents: impl FnOnce(&Contents) -> Result<()>,
) -> Result<(Key, Contents, Sealer)> {
    let name_len = usize::from(r.byte()?);
    let name = r.take(name_len)?;
    let name = std::str::from_utf8(name)
        .ok()
        .filter(|n| check_name(n).is_ok())
        .ok_or_else(|| corrupt("the file names its protector with a malformed name"))?;
    let context_end = r.at;
    let blob_len = r.u32()?;
    let blob = r.take(blob_len)?;
    r.end()?;
    let protector = match protection {
        StateProtection::Protector(p) if p.name() == name => p,
        StateProtection::Protector(p) => {
            return Err(locked(format!(
                "the state is protected with {name}, not with {}",
                p.name()
            )))
        }
        StateProtection::Passphrase(_) => {
            return Err(locked(format!(
                "the state is protected with {name}, not with a passphrase: load it without one"
            )))
        }
    };
    let plain = protector.unprotect(blob, &r.data[..context_end]).map_err(|e| {
        locked(format!(
            "{name} does not decrypt it (was it saved by another user or on another computer?): {}",
            e.message()
        ))
    })?;
    let mut inner = Reader { data: &plain, at: 0 };
    let key_len = inner.u16()?;
    let key_der = inner.take(key_len)?;
    let contents = Contents::from_json(&inner.data[inner.at..])?;
    check_contents(&contents)?;
    let key = Key::load_memory(key_der, None)
        .map_err(|e| corrupt(format!("its key does not load: {}", e.message())))?;
    let key = contents.check_key(key)?;
    Ok((
        key,
        contents,
        Sealer::Protector {
            protector: Arc::clone(protector),
            key_der: Zeroizing::new(key_der.to_vec()),
        },
    ))
}

/// Compares without stopping at the first difference.
fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Contents {
    pub(super) fn to_json(&self) -> Zeroizing<String> {
        let b = &self.binding;
        let mut value = serde_json::json!({
            "issuer": b.issuer,
            "token_endpoint": b.token_endpoint,
            "client_id": b.client_id,
            "jkt": b.jkt,
            "alg": self.alg.name(),
            "refresh_token": self.refresh_token.as_deref(),
        });
        let text = Zeroizing::new(value.to_string());
        crate::json::wipe(&mut value);
        text
    }

    fn from_json(bytes: &[u8]) -> Result<Contents> {
        let value = serde_json::from_slice(bytes)
            .map(crate::json::SecretJson::new)
            .map_err(|_| corrupt("its contents are not JSON"))?;
        let Value::Object(members) = &*value else {
            return Err(corrupt("its contents are not a JSON object"));
        };
        let optional = |name: &str| match members.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(corrupt(format!("its '{name}' is not a string"))),
        };
        let required =
            |name: &str| optional(name)?.ok_or_else(|| corrupt(format!("its contents lack '{name}'")));
        let alg = Algorithm::from_name(required("alg")?)
            .map_err(|e| corrupt(format!("its 'alg': {}", e.message())))?;
        Ok(Contents {
            binding: Binding {
                issuer: optional("issuer")?.map(str::to_string),
                token_endpoint: optional("token_endpoint")?.map(str::to_string),
                client_id: required("client_id")?.to_string(),
                jkt: required("jkt")?.to_string(),
            },
            alg,
            refresh_token: optional("refresh_token")?.map(|s| Zeroizing::new(s.to_string())),
        })
    }

    /// The key as the state saved it: the one its refresh token is bound to, signing with the
    /// saved algorithm (an RSA key may have signed with RS256).
    fn check_key(&self, key: Key) -> Result<Key> {
        if key.thumbprint() != self.binding.jkt {
            return Err(corrupt("its key is not the key its refresh token is bound to"));
        }
        if key.alg() == self.alg {
            return Ok(key);
        }
        key.with_alg(self.alg)
            .map_err(|e| corrupt(format!("its 'alg' does not fit its key: {}", e.message())))
    }
}
