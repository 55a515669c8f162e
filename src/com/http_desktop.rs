//! `Dpop.Http`'s members for desktop programs, over the core's sign-in and saved state: the
//! bodies of `SignIn`, `SignInStart`, `SignInUrl`, `SignInWait`, `SignInCancel`, `SaveState`,
//! `LoadState` and `ClearState`, which the interface's methods in `http.rs` call.
//!
//! A sign-in wait that runs out of time is no failure: it returns False with
//! `LastMethodSuccess` True, so a host's timer tells "still waiting" from "failed" (False with
//! `LastMethodSuccess` False and the reason in `LastErrorText`).

use super::Http;
use crate::com::dispatch::{action, get, method, optional, text, Failure, Outcome};
use crate::com::interfaces::InBstr;
use crate::error::{name_of, DPOP_ERR_NOT_FOUND};
use dpop_core::{Client, ErrorKind, StateProtection};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use windows::Win32::Foundation::VARIANT_BOOL;
use windows_core::{BSTR, HRESULT};
use zeroize::Zeroizing;

impl Http {
    /// `SignIn` (`start` Some(true)), `SignInWait` (None): the sign-in's outcome in `out`.
    pub(super) fn sign_in(
        &self,
        name: &str,
        start: Option<bool>,
        timeout_ms: i32,
        out: *mut VARIANT_BOOL,
    ) -> HRESULT {
        method(&self.records, name, out, || {
            let timeout = milliseconds(timeout_ms)?;
            if let Some(open_browser) = start {
                self.client.sign_in_start(open_browser)?;
            }
            wait(&self.client, timeout)
        })
    }

    pub(super) fn sign_in_start(&self, open_browser: bool, out: *mut VARIANT_BOOL) -> HRESULT {
        method(&self.records, "SignInStart", out, || {
            self.client.sign_in_start(open_browser)?;
            Ok(true)
        })
    }

    pub(super) fn sign_in_url(&self, out: *mut BSTR) -> HRESULT {
        get(out, || self.client.sign_in_url().unwrap_or_default())
    }

    pub(super) fn sign_in_cancel(&self) -> HRESULT {
        action(&self.records, "SignInCancel", || {
            self.client.sign_in_cancel();
            Ok(())
        })
    }

    /// `SaveState` (`load` false) and `LoadState` (true).
    pub(super) fn state(
        &self,
        name: &str,
        load: bool,
        path: &InBstr,
        passphrase: &InBstr,
        out: *mut VARIANT_BOOL,
    ) -> HRESULT {
        method(&self.records, name, out, || {
            let path = text(path, "path")?;
            let passphrase = optional(passphrase, "passphrase")?.map(Zeroizing::new);
            let protection = match &passphrase {
                Some(passphrase) => StateProtection::Passphrase(passphrase),
                None => StateProtection::Protector(Arc::new(crate::dpapi::Dpapi)),
            };
            if load {
                self.client.load_state(Path::new(&path), protection)?;
            } else {
                self.client.save_state(Path::new(&path), protection)?;
            }
            Ok(true)
        })
    }

    pub(super) fn clear_state(&self, path: &InBstr, out: *mut VARIANT_BOOL) -> HRESULT {
        method(&self.records, "ClearState", out, || {
            self.client.clear_state(Path::new(&text(path, "path")?))?;
            Ok(true)
        })
    }
}

/// A wait in milliseconds; a negative one is refused.
fn milliseconds(value: i32) -> Outcome<Duration> {
    u64::try_from(value)
        .map(Duration::from_millis)
        .map_err(|_| Failure::from("timeoutMs cannot be negative"))
}

/// Waits for the sign-in in progress: true signed in, false still waiting.
fn wait(client: &Client, timeout: Duration) -> Outcome<bool> {
    match client.sign_in_wait(timeout) {
        Ok(true) => Ok(true),
        Ok(false) => Err(Failure(format!(
            "no sign-in is in progress: call SignIn or SignInStart first ({})",
            name_of(DPOP_ERR_NOT_FOUND).to_string_lossy()
        ))),
        Err(e) if e.kind() == ErrorKind::Pending => Ok(false),
        Err(e) => Err(e.into()),
    }
}
