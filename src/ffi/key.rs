//! `dpop_key`: a DPoP private key handle.

use super::boundary::{
    arg_bytes, arg_ref, arg_str, call, call_value, drop_record, opt_str, read_only, record, with_record,
    write_error_text, write_string, FfiError, FfiResult,
};
use super::error::{dpop_status, DPOP_ERR_KEY_NOT_LOADED, DPOP_ERR_NULL_POINTER, DPOP_ERR_PANIC};
use crate::{Algorithm, Key};
use parking_lot::RwLock;
use std::ffi::{c_char, CStr};
use std::sync::Arc;

/// A DPoP private key: ES256 (P-256), ES384 (P-384) or EdDSA (Ed25519).
///
/// Made empty by `dpop_key_new`, filled by `dpop_key_load`, `dpop_key_load_memory` or
/// `dpop_key_generate`, released by `dpop_key_free`. Loading again replaces the key; objects
/// that were given the key earlier keep the key they were given.
///
/// Thread safety: a `dpop_key` may be used from several threads at once; every function
/// that takes one is safe to call concurrently. The private key is zeroized when it is
/// freed and never appears in any error text.
pub struct dpop_key {
    key: RwLock<Option<Arc<Key>>>,
}

impl dpop_key {
    /// The loaded key, shared, or `DPOP_ERR_KEY_NOT_LOADED`.
    pub(crate) fn current(&self) -> FfiResult<Arc<Key>> {
        self.key.read().clone().ok_or_else(|| {
            FfiError::new(
                DPOP_ERR_KEY_NOT_LOADED,
                "the key handle holds no key: call dpop_key_load or dpop_key_generate first",
            )
        })
    }

    /// Runs `body` on the handle behind `ptr`, recording its outcome on the handle.
    ///
    /// # Safety
    /// `ptr` is NULL or a live handle from `dpop_key_new`.
    pub(crate) unsafe fn with<T>(
        ptr: *const dpop_key,
        function: &str,
        body: impl FnOnce(&dpop_key) -> FfiResult<T>,
    ) -> FfiResult<T> {
        // SAFETY: forwarded from the caller.
        let handle = unsafe { arg_ref(ptr, "key") }?;
        record(ptr, function, body(handle))
    }

    fn set(&self, key: Key) {
        *self.key.write() = Some(Arc::new(key));
    }
}

/// Creates an empty key handle. Returns NULL only if libdpop fails internally.
///
/// Free it with `dpop_key_free`.
#[no_mangle]
pub extern "system" fn dpop_key_new() -> *mut dpop_key {
    call_value("dpop_key_new", std::ptr::null_mut(), || {
        Ok(Box::into_raw(Box::new(dpop_key {
            key: RwLock::new(None),
        })))
    })
}

/// Frees a key handle and zeroizes its private key. `dpop_key_free(NULL)` does nothing.
///
/// Must not be called twice on the same handle, nor while another thread uses it.
#[no_mangle]
pub extern "system" fn dpop_key_free(key: *mut dpop_key) {
    call("dpop_key_free", || {
        if !key.is_null() {
            drop_record(key);
            // SAFETY: `key` came from `Box::into_raw` in `dpop_key_new` and, per the contract
            // above, is freed only once and not in use.
            drop(unsafe { Box::from_raw(key) });
        }
        Ok(())
    });
}

/// Loads a private key from a file, detecting its format.
///
/// Formats: PEM `EC PRIVATE KEY` (SEC1), `PRIVATE KEY` (PKCS#8), `ENCRYPTED PRIVATE KEY`
/// (PKCS#8 with PBES2), the DER of each, and a private JWK (or a JWK Set with one key).
/// `password` (may be NULL) is used only for encrypted keys. On failure the handle keeps the
/// key it had.
///
/// Errors: `DPOP_ERR_IO`, `DPOP_ERR_KEY_*` (see their descriptions), `DPOP_ERR_NULL_POINTER`,
/// `DPOP_ERR_INVALID_UTF8`.
#[no_mangle]
pub extern "system" fn dpop_key_load(
    key: *mut dpop_key,
    path: *const c_char,
    password: *const c_char,
) -> dpop_status {
    call("dpop_key_load", || {
        // SAFETY: the header documents `key` as a handle and `path`/`password` as strings.
        unsafe {
            dpop_key::with(key, "dpop_key_load", |handle| {
                let path = arg_str(path, "path")?;
                let password = opt_str(password, "password")?;
                handle.set(Key::load_file(std::path::Path::new(path), password)?);
                Ok(())
            })
        }
    })
}

/// Loads a private key from `len` bytes of memory (PEM, DER or JWK), as `dpop_key_load`
/// does for files. libdpop copies what it needs; the caller keeps `data`.
#[no_mangle]
pub extern "system" fn dpop_key_load_memory(
    key: *mut dpop_key,
    data: *const u8,
    len: usize,
    password: *const c_char,
) -> dpop_status {
    call("dpop_key_load_memory", || {
        // SAFETY: the header documents `data` as `len` readable bytes and the rest as above.
        unsafe {
            dpop_key::with(key, "dpop_key_load_memory", |handle| {
                let data = arg_bytes(data, len, "data")?;
                let password = opt_str(password, "password")?;
                handle.set(Key::load(data, password)?);
                Ok(())
            })
        }
    })
}

/// Generates a new key from the operating system's random source.
///
/// `alg` is `"ES256"` (also when NULL), `"ES384"` or `"EdDSA"`. Persist the new key with
/// `dpop_key_private_pem` or `dpop_key_private_jwk`: tokens are bound to it.
#[no_mangle]
pub extern "system" fn dpop_key_generate(key: *mut dpop_key, alg: *const c_char) -> dpop_status {
    call("dpop_key_generate", || {
        // SAFETY: as for `dpop_key_load`.
        unsafe {
            dpop_key::with(key, "dpop_key_generate", |handle| {
                let alg = match opt_str(alg, "alg")? {
                    Some(name) => Algorithm::from_name(name)?,
                    None => Algorithm::Es256,
                };
                handle.set(Key::generate(alg)?);
                Ok(())
            })
        }
    })
}

/// The JWS algorithm of the loaded key (`"ES256"`, `"ES384"` or `"EdDSA"`), or NULL when the
/// handle is NULL or holds no key. The string is static: never free it.
#[no_mangle]
pub extern "system" fn dpop_key_alg(key: *const dpop_key) -> *const c_char {
    call_value("dpop_key_alg", std::ptr::null(), || {
        // SAFETY: as for `dpop_key_load`.
        let name: &CStr = unsafe {
            dpop_key::with(key, "dpop_key_alg", |handle| {
                Ok(match handle.current()?.algorithm() {
                    Algorithm::Es256 => c"ES256",
                    Algorithm::Es384 => c"ES384",
                    Algorithm::EdDsa => c"EdDSA",
                })
            })
        }?;
        Ok(name.as_ptr())
    })
}

/// The body of the exports that copy one string of the loaded key into the caller's buffer.
///
/// # Safety
/// `key` is NULL or a live handle, `buf` is NULL or `buf_len` writable bytes, `out_size` is
/// NULL or writable.
unsafe fn copy_key_string<S: AsRef<str>>(
    function: &str,
    key: *const dpop_key,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
    value: impl FnOnce(&Key) -> S,
) -> dpop_status {
    call(function, || {
        // SAFETY: forwarded from the caller.
        unsafe {
            dpop_key::with(key, function, |handle| {
                let text = value(handle.current()?.as_ref());
                write_string(text.as_ref(), buf, buf_len, out_size)
            })
        }
    })
}

/// Copies the public JWK (`{"crv":..,"kty":..,"x":..[,"y":..]}`) into `buf`.
///
/// Strings out: `*out_size` (if `out_size` is not NULL) receives the bytes needed with the
/// terminating NUL, on success and on `DPOP_ERR_BUFFER_TOO_SMALL`; `buf` is written only on
/// success. Pass `buf` NULL to ask for the size.
#[no_mangle]
pub extern "system" fn dpop_key_public_jwk(
    key: *const dpop_key,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    // SAFETY: the header documents the pointers as `copy_key_string` requires them.
    unsafe {
        copy_key_string("dpop_key_public_jwk", key, buf, buf_len, out_size, |k| {
            k.public_jwk().to_owned()
        })
    }
}

/// Copies the RFC 7638 JWK thumbprint (base64url SHA-256, 43 characters) into `buf`: the value
/// of `dpop_jkt` and of a bound token's `cnf.jkt`. Strings out as for `dpop_key_public_jwk`.
#[no_mangle]
pub extern "system" fn dpop_key_thumbprint(
    key: *const dpop_key,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    // SAFETY: the header documents the pointers as `copy_key_string` requires them.
    unsafe {
        copy_key_string("dpop_key_thumbprint", key, buf, buf_len, out_size, |k| {
            k.thumbprint().to_owned()
        })
    }
}

/// Copies the private key as a JWK (with `d`) into `buf`. Strings out as for
/// `dpop_key_public_jwk`. The caller owns the copy: wipe it when done.
#[no_mangle]
pub extern "system" fn dpop_key_private_jwk(
    key: *const dpop_key,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    // SAFETY: the header documents the pointers as `copy_key_string` requires them.
    unsafe {
        copy_key_string("dpop_key_private_jwk", key, buf, buf_len, out_size, |k| {
            k.private_jwk()
        })
    }
}

/// Copies the private key as PKCS#8 PEM into `buf`: `PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY`
/// (PBES2: PBKDF2-HMAC-SHA256, 600,000 iterations, AES-256-CBC) when `password` is not NULL.
/// Strings out as for `dpop_key_public_jwk`; an encrypted export differs on every call (new
/// salt and IV), so size it with a generous buffer rather than a separate query.
#[no_mangle]
pub extern "system" fn dpop_key_private_pem(
    key: *const dpop_key,
    password: *const c_char,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    call("dpop_key_private_pem", || {
        // SAFETY: as for `dpop_key_public_jwk`, and `password` is NULL or a string.
        unsafe {
            dpop_key::with(key, "dpop_key_private_pem", |handle| {
                let password = opt_str(password, "password")?;
                let pem = handle.current()?.to_pkcs8_pem(password)?;
                write_string(&pem, buf, buf_len, out_size)
            })
        }
    })
}

/// Copies the message of this thread's last call on the handle (empty after a success) into
/// `buf`. Each thread sees its own calls only.
///
/// Strings out as for `dpop_key_public_jwk`. This call never changes any error record, so a
/// too-small buffer here does not replace the text being asked for.
#[no_mangle]
pub extern "system" fn dpop_key_last_error_text(
    key: *const dpop_key,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    read_only(DPOP_ERR_PANIC, || {
        // SAFETY: as for `dpop_key_public_jwk`.
        match unsafe { key.as_ref() } {
            // SAFETY: as for `dpop_key_public_jwk`.
            Some(_) => unsafe {
                write_error_text(&with_record(key, |r| r.error.clone()), buf, buf_len, out_size)
            },
            None => DPOP_ERR_NULL_POINTER,
        }
    })
}
