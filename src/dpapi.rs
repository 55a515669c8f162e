//! DPAPI (Windows only): the saved state's protection for the current Windows user, through
//! `CryptProtectData` and `CryptUnprotectData` of crypt32 (which the trust store already
//! imports). Windows keeps the key: it is derived from the user's logon credentials, so another
//! user (or the same user on another computer, without a roaming profile) cannot decrypt it.

use dpop_core::{Error, ErrorKind, Protector, Result};
use windows::core::w;
use windows::Win32::Foundation::{LocalFree, HLOCAL};
use windows::Win32::Security::Cryptography::{
    CryptProtectData, CryptUnprotectData, CRYPTPROTECT_UI_FORBIDDEN, CRYPT_INTEGER_BLOB,
};
use zeroize::{Zeroize, Zeroizing};

/// The current user's DPAPI, with no prompt ever (`CRYPTPROTECT_UI_FORBIDDEN`: a library must
/// not open a window).
pub(crate) struct Dpapi;

/// A blob that points into `data`, which must outlive it.
fn blob(data: &[u8]) -> Result<CRYPT_INTEGER_BLOB> {
    Ok(CRYPT_INTEGER_BLOB {
        cbData: u32::try_from(data.len())
            .map_err(|_| Error::new(ErrorKind::InvalidArgument, "the data is too large for DPAPI"))?,
        pbData: data.as_ptr().cast_mut(),
    })
}

/// Copies DPAPI's output out and frees it (after zeroing it, when it holds a secret).
fn take_output(out: CRYPT_INTEGER_BLOB, secret: bool) -> Zeroizing<Vec<u8>> {
    if out.pbData.is_null() {
        return Zeroizing::new(Vec::new());
    }
    // SAFETY: on success DPAPI sets `pbData` to `cbData` bytes it allocated with LocalAlloc,
    // which nothing else refers to until the LocalFree below.
    let bytes = unsafe { std::slice::from_raw_parts_mut(out.pbData, out.cbData as usize) };
    let copy = Zeroizing::new(bytes.to_vec());
    if secret {
        bytes.zeroize();
    }
    // SAFETY: `pbData` came from DPAPI's LocalAlloc and is freed once, here; the slice above is
    // not used after this.
    unsafe { LocalFree(Some(HLOCAL(out.pbData.cast()))) };
    copy
}

fn failed(function: &str, e: &windows::core::Error) -> String {
    format!("{function} failed ({:#010x}: {})", e.code().0, e.message())
}

impl Protector for Dpapi {
    fn name(&self) -> &str {
        "DPAPI"
    }

    fn protect(&self, data: &[u8], context: &[u8]) -> Result<Vec<u8>> {
        let input = blob(data)?;
        let entropy = blob(context)?;
        let mut out = CRYPT_INTEGER_BLOB::default();
        // SAFETY: `input` and `entropy` point into `data` and `context`, alive for the call; the
        // description is a static wide string; `out` is a writable blob DPAPI fills.
        let done = unsafe {
            CryptProtectData(
                &input,
                w!("libdpop saved state"),
                Some(&entropy),
                None,
                None,
                CRYPTPROTECT_UI_FORBIDDEN,
                &mut out,
            )
        };
        done.map_err(|e| Error::new(ErrorKind::Crypto, failed("CryptProtectData", &e)))?;
        Ok(take_output(out, false).to_vec())
    }

    fn unprotect(&self, protected: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let input = blob(protected)?;
        let entropy = blob(context)?;
        let mut out = CRYPT_INTEGER_BLOB::default();
        // SAFETY: `input` and `entropy` point into `protected` and `context`, alive for the call;
        // no description is asked for; `out` is a writable blob DPAPI fills.
        let done = unsafe {
            CryptUnprotectData(
                &input,
                None,
                Some(&entropy),
                None,
                None,
                CRYPTPROTECT_UI_FORBIDDEN,
                &mut out,
            )
        };
        done.map_err(|e| Error::new(ErrorKind::StateLocked, failed("CryptUnprotectData", &e)))?;
        Ok(take_output(out, true))
    }
}
