//! The saved state: the DPoP key and the latest refresh token in one file, with what binds
//! them (the issuer or token endpoint, the client_id, the key's thumbprint), so that a desktop
//! program survives a restart without signing in again.
//!
//! A state is protected with a passphrase the host supplies, or with a [`Protector`] (DPAPI on
//! Windows, implemented in the C ABI crate). [`format`] has the file layout, [`file`] the
//! owner-only, atomic writes. After a save or a load the client keeps a [`Saver`] and writes
//! the file again by itself whenever the token endpoint issues a new refresh token, so the file
//! never holds a spent one; a new key, new settings, a host token or `clear_state` end that.

mod file;
mod format;
#[cfg(test)]
mod tests;

use super::token::{AuthToken, TokenCache};
use super::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::key::Algorithm;
use format::{Binding, Contents, Cost, Sealer};
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use zeroize::Zeroizing;

/// How a saved state is protected.
pub enum StateProtection<'a> {
    /// A passphrase the host supplies: the key is stored as encrypted PKCS#8 (PBES2,
    /// PBKDF2-SHA256, AES-256-CBC, as `Key::private_pem` exports it) and the refresh token and
    /// the binding with AES-256-GCM, under keys from PBKDF2-SHA256 with 600 000 iterations.
    Passphrase(&'a str),
    /// An operating system's protection for the current user (DPAPI on Windows).
    Protector(Arc<dyn Protector>),
}

/// Encrypts bytes for the current user of the computer, as Windows' DPAPI
/// (`CryptProtectData`) does. `context` is bound to the data (DPAPI's optional entropy): the
/// same context must be given to unprotect it.
pub trait Protector: Send + Sync {
    /// The protector's name, stored in the file and shown in messages (`"DPAPI"`): 1 to 64
    /// printable ASCII characters.
    fn name(&self) -> &str;
    /// Encrypts `data` for the current user.
    fn protect(&self, data: &[u8], context: &[u8]) -> Result<Vec<u8>>;
    /// Decrypts what [`Protector::protect`] made; fails for another user, another computer, or
    /// another context.
    fn unprotect(&self, blob: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
}

/// The state the client saves again by itself (see [`Saver`]), if any.
#[derive(Default)]
pub(crate) struct AutoSave {
    slot: Mutex<Option<Arc<Saver>>>,
}

impl AutoSave {
    /// Makes `saver` the one; the previous one writes no more.
    fn attach(&self, saver: Arc<Saver>) {
        let previous = self.slot.lock().replace(saver);
        if let Some(previous) = previous {
            previous.detach();
        }
    }

    /// Ends saving by itself; once this returns no write of the state is under way.
    fn detach(&self) {
        let previous = self.slot.lock().take();
        if let Some(previous) = previous {
            previous.detach();
        }
    }

    fn current(&self) -> Option<Arc<Saver>> {
        self.slot.lock().clone()
    }

    /// Drops `saver` if it is still the one.
    fn forget(&self, saver: &Arc<Saver>) {
        let mut slot = self.slot.lock();
        if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, saver)) {
            *slot = None;
        }
    }
}

/// Writes one state file again when the client's refresh token changes, for as long as the
/// key and the settings it was saved or loaded with stay (the token cache's lineage).
struct Saver {
    path: PathBuf,
    lineage: u64,
    sealer: Sealer,
    binding: Binding,
    alg: Algorithm,
    /// The refresh-token count the file is known to hold (read without the lock).
    saved_seq: AtomicU64,
    writes: Mutex<Writes>,
}

#[derive(Default)]
struct Writes {
    /// The count of the refresh token a write failed for, logged once.
    failed_seq: Option<u64>,
    detached: bool,
}

/// What a catch-up did, for the session log.
enum CatchUp {
    Nothing,
    Saved,
    Failed(Error),
    /// The key or the settings changed: this saver is done.
    Stale,
}

impl Saver {
    fn write(&self, refresh_token: Option<Zeroizing<String>>) -> Result<()> {
        let contents = Contents {
            binding: self.binding.clone(),
            alg: self.alg,
            refresh_token,
        };
        let bytes = self.sealer.seal(&contents)?;
        file::write_atomic(&self.path, &bytes)
    }

    fn detach(&self) {
        self.writes.lock().detached = true;
    }

    /// Writes the file again if the cache holds a newer refresh token than the file.
    fn catch_up(&self, tokens: &TokenCache) -> CatchUp {
        let (lineage, seq) = tokens.refresh_counters();
        if lineage == self.lineage && seq <= self.saved_seq.load(Ordering::Acquire) {
            return CatchUp::Nothing;
        }
        let mut writes = self.writes.lock();
        if writes.detached {
            return CatchUp::Nothing;
        }
        let now = tokens.refresh_state();
        if now.lineage != self.lineage {
            writes.detached = true;
            return CatchUp::Stale;
        }
        if now.seq <= self.saved_seq.load(Ordering::Acquire) {
            return CatchUp::Nothing;
        }
        match self.write(now.refresh_token) {
            Ok(()) => {
                self.saved_seq.store(now.seq, Ordering::Release);
                writes.failed_seq = None;
                CatchUp::Saved
            }
            Err(_) if writes.failed_seq == Some(now.seq) => CatchUp::Nothing,
            Err(e) => {
                writes.failed_seq = Some(now.seq);
                CatchUp::Failed(e)
            }
        }
    }
}

impl Binding {
    fn of(settings: &AuthToken, jkt: &str) -> Binding {
        Binding {
            issuer: settings.issuer.clone(),
            token_endpoint: settings.token_endpoint.clone(),
            client_id: settings.client_id.clone(),
            jkt: jkt.to_string(),
        }
    }

    /// The server a refresh token is good at: the issuer when the settings name one, else the
    /// token endpoint.
    fn server(issuer: &Option<String>, token_endpoint: &Option<String>) -> String {
        match (issuer, token_endpoint) {
            (Some(issuer), _) => format!("issuer {}", crate::redact::url(issuer)),
            (None, Some(endpoint)) => format!("token endpoint {}", crate::redact::url(endpoint)),
            (None, None) => "no server".to_string(),
        }
    }

    /// `StateForeign` unless `settings` name the same client at the same server.
    fn check(&self, settings: &AuthToken) -> Result<()> {
        let same_server = match (&settings.issuer, &self.issuer) {
            (Some(theirs), Some(ours)) => theirs == ours,
            (None, None) => settings.token_endpoint == self.token_endpoint,
            _ => false,
        };
        if same_server && settings.client_id == self.client_id {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::StateForeign,
            format!(
                "it belongs to client '{}' at the {}, and the token settings name client '{}' at the {}",
                self.client_id,
                Binding::server(&self.issuer, &self.token_endpoint),
                settings.client_id,
                Binding::server(&settings.issuer, &settings.token_endpoint)
            ),
        ))
    }
}

/// The path made absolute, so that saving again by itself does not depend on the current
/// directory of later calls.
fn absolute(path: &Path) -> Result<PathBuf> {
    if path.as_os_str().is_empty() {
        return Err(Error::new(ErrorKind::InvalidArgument, "the state path is empty"));
    }
    std::path::absolute(path).map_err(|e| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("the state path '{}' is unusable: {e}", path.display()),
        )
    })
}

fn with_path(e: Error, what: &str, path: &Path) -> Error {
    Error::new(e.kind(), format!("{what} '{}': {}", path.display(), e.message()))
}

fn no_settings(what: &str) -> Error {
    Error::new(
        ErrorKind::TokenConfig,
        format!(
            "set the token settings before {what} a state: a saved state is bound to their issuer \
             (or token endpoint) and client_id"
        ),
    )
}

impl Client {
    /// Saves the DPoP key and the latest refresh token (the one the token endpoint issued last,
    /// else the one the settings give; none yet is fine) to `path`, bound to the settings'
    /// issuer (or token endpoint) and client_id and to the key's thumbprint. The file is
    /// written owner-only to a temporary file in the same directory and renamed over the old
    /// one. From then on the client saves it again by itself whenever the token endpoint issues
    /// a new refresh token, until the key or the settings change or [`Client::clear_state`].
    ///
    /// Needs a key (`KeyNotLoaded`) and token settings (`TokenConfig`). A passphrase save takes
    /// about half a second (two key derivations); saving again by itself derives nothing.
    pub fn save_state(&self, path: &Path, protection: StateProtection<'_>) -> Result<()> {
        let path = absolute(path)?;
        let before = self.tokens.refresh_counters().0;
        let key = self.key.read().clone().ok_or_else(|| {
            Error::new(
                ErrorKind::KeyNotLoaded,
                "there is no DPoP key to save: set one first",
            )
        })?;
        let settings = self
            .auth_token
            .read()
            .clone()
            .ok_or_else(|| no_settings("saving"))?;
        let sealer = Sealer::new(&key, &protection, Cost::STANDARD)?;
        let now = self.tokens.refresh_state();
        if now.lineage != before {
            return Err(Error::new(
                ErrorKind::TokenConfig,
                "the key or the token settings changed while the state was saved; save it again",
            ));
        }
        let saver = Arc::new(Saver {
            path,
            lineage: now.lineage,
            sealer,
            binding: Binding::of(&settings, key.thumbprint()),
            alg: key.alg(),
            saved_seq: AtomicU64::new(now.seq),
            writes: Mutex::default(),
        });
        let refresh_token = now
            .refresh_token
            .or_else(|| settings.given_refresh_token().cloned());
        saver
            .write(refresh_token)
            .map_err(|e| with_path(e, "cannot save the state to", &saver.path))?;
        self.log.note(&format!("state saved to {}", saver.path.display()));
        self.state.attach(saver);
        // A refresh token issued while the file was written.
        self.save_rotated_state();
        Ok(())
    }

    /// Loads a state that [`Client::save_state`] wrote: the key becomes the client's key, the
    /// refresh token its latest refresh token (the next request uses it, without any other
    /// grant), and the fetched access token is dropped. Everything is read, decrypted and
    /// checked before the client changes: a failed load leaves it as it was. From then on the
    /// client saves the file again by itself, as after a save.
    ///
    /// Token settings must be set first (`TokenConfig` otherwise: the binding cannot be
    /// checked, and settings set later would drop the refresh token). Errors: `Io` (no file),
    /// `StateCorrupt` (not a saved state, damaged, cut off), `StateLocked` (wrong passphrase,
    /// other protection, or a protector that cannot decrypt it), `StateForeign` (saved for
    /// another issuer, token endpoint or client_id than the settings name).
    pub fn load_state(&self, path: &Path, protection: StateProtection<'_>) -> Result<()> {
        let path = absolute(path)?;
        let fail = |e: Error| with_path(e, "cannot load the saved state", &path);
        let settings = self
            .auth_token
            .read()
            .clone()
            .ok_or_else(|| fail(no_settings("loading")))?;
        let bytes = file::read(&path).map_err(fail)?;
        let (key, contents, sealer) = format::open(&bytes, &protection, Cost::STANDARD, |contents| {
            contents.binding.check(&settings)
        })
        .map_err(fail)?;
        let key = Arc::new(key);
        let installed = {
            // The settings checked stay in force until the key and the refresh token are in.
            let current = self.auth_token.read();
            if !current.as_ref().is_some_and(|s| Arc::ptr_eq(s, &settings)) {
                return Err(Error::new(
                    ErrorKind::TokenConfig,
                    "the token settings changed while the state was loaded; load it again",
                ));
            }
            self.tokens.restore(contents.refresh_token, || {
                *self.key.write() = Some(Arc::clone(&key));
            })
        };
        self.log.note(&format!("state loaded from {}", path.display()));
        self.state.attach(Arc::new(Saver {
            path,
            lineage: installed.lineage,
            sealer,
            binding: contents.binding,
            alg: key.alg(),
            saved_seq: AtomicU64::new(installed.seq),
            writes: Mutex::default(),
        }));
        self.save_rotated_state();
        Ok(())
    }

    /// Deletes the state file at `path` (one that is not there is fine), and forgets the key,
    /// the access token (the host's own too) and the refresh token: the way back to a clean
    /// start when a saved key or refresh token is no good any more. The client stops saving by
    /// itself. The settings stay.
    pub fn clear_state(&self, path: &Path) -> Result<()> {
        if path.as_os_str().is_empty() {
            return Err(Error::new(ErrorKind::InvalidArgument, "the state path is empty"));
        }
        self.state.detach();
        *self.key.write() = None;
        self.tokens.reset(false);
        file::remove(path)
    }

    /// After a token request: writes the saved state again if the token endpoint issued a new
    /// refresh token (notes in the session log what happened; the request goes on either way).
    pub(super) fn save_rotated_state(&self) {
        let Some(saver) = self.state.current() else {
            return;
        };
        match saver.catch_up(&self.tokens) {
            CatchUp::Nothing => {}
            CatchUp::Saved => self.log.note(&format!(
                "state saved again to {} (a new refresh token)",
                saver.path.display()
            )),
            CatchUp::Failed(e) => self.log.note(&format!(
                "the state could not be saved again to {} (a new refresh token): {}",
                saver.path.display(),
                e.message()
            )),
            CatchUp::Stale => {
                self.state.forget(&saver);
                self.log.note(&format!(
                    "the key or the token settings changed: the state at {} is no longer saved again",
                    saver.path.display()
                ));
            }
        }
    }
}

/// Opens a saved state without a client, for the fuzz targets (`crate::fuzzing`): as
/// [`Client::load_state`] opens it for `settings`, with a passphrase's key derivations at
/// [`Cost::FUZZING`]. Gives the key, the contents as JSON (as saving again writes them), and the
/// file that saving the state again writes.
#[cfg(feature = "fuzzing")]
pub(crate) fn open_for_fuzzing(
    file: &[u8],
    protection: &StateProtection<'_>,
    settings: &AuthToken,
) -> Result<(crate::Key, Zeroizing<String>, Vec<u8>)> {
    let (key, contents, sealer) = format::open(file, protection, Cost::FUZZING, |contents| {
        contents.binding.check(settings)
    })?;
    let saved_again = sealer.seal(&contents)?;
    Ok((key, contents.to_json(), saved_again))
}

/// A sealer at [`Cost::FUZZING`] for the fuzz targets (`crate::fuzzing`): made once for a key
/// and a protection, it seals any payload, JSON or not, as a state's contents.
#[cfg(feature = "fuzzing")]
pub(crate) struct FuzzingSealer(Sealer);

#[cfg(feature = "fuzzing")]
impl FuzzingSealer {
    pub(crate) fn new(key: &crate::Key, protection: &StateProtection<'_>) -> Result<Self> {
        Sealer::new(key, protection, Cost::FUZZING).map(FuzzingSealer)
    }

    pub(crate) fn seal(&self, payload: &[u8]) -> Result<Vec<u8>> {
        self.0.seal_payload(payload)
    }
}
