//! `dpop_key`: a DPoP private key handle.

use crate::boundary::{arg_bytes, arg_str, call, call_value, opt_str, FfiError, FfiResult, OutString};
use crate::error::{dpop_status, DPOP_ERR_INVALID_ARGUMENT, DPOP_ERR_KEY_NOT_LOADED};
use crate::handle::{self, Boxed, Handle};
use crate::records::Records;
use dpop_core::{Algorithm, Key};
use dpop_macros::system_abi;
use parking_lot::RwLock;
use std::ffi::{c_char, CStr};
use std::path::Path;
use std::sync::Arc;

/// A DPoP private key: ES256 (P-256), ES384 (P-384), EdDSA (Ed25519), or RSA (2048 to 4096
/// bits) signing with PS256 or RS256.
///
/// Made empty by `dpop_key_new`, filled by `dpop_key_load`, `dpop_key_load_memory`,
/// `dpop_key_generate` or `dpop_key_generate_rsa`, released by `dpop_key_free`. Loading again
/// (or `dpop_key_set_alg`) replaces the key; objects that were given the key earlier keep the
/// key they were given.
///
/// Thread safety: a `dpop_key` may be used from several threads at once; every function
/// that takes one is safe to call concurrently. The private key is zeroized when it is
/// freed and never appears in any error text.
#[derive(Default)]
pub struct dpop_key {
    key: RwLock<Option<Arc<Key>>>,
    records: Records,
}

/// cbindgen:ignore
impl Handle for dpop_key {
    const PARAM: &'static str = "key";
    type Ownership = Boxed;

    fn records(&self) -> Option<&Records> {
        Some(&self.records)
    }
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

    fn set(&self, key: Key) {
        *self.key.write() = Some(Arc::new(key));
    }
}

/// Creates an empty key handle. Returns NULL only if libdpop fails internally.
///
/// Free it with `dpop_key_free`.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_key_new() -> *mut dpop_key {
    handle::new("dpop_key_new", dpop_key::default)
}

/// Frees a key handle and zeroizes its private key. `dpop_key_free(NULL)` does nothing.
///
/// Must not be called twice on the same handle, nor while another thread uses it.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_key_free(key: *mut dpop_key) {
    // SAFETY: the header requires `key` to be NULL or a handle from `dpop_key_new` that is
    // freed once and that no other call uses any more.
    unsafe { handle::free("dpop_key_free", key) }
}

/// Loads a private key from a file, detecting its format.
///
/// Formats: PEM `EC PRIVATE KEY` (SEC1), `RSA PRIVATE KEY` (PKCS#1), `PRIVATE KEY`
/// (PKCS#8), `ENCRYPTED PRIVATE KEY` (PKCS#8 with PBES2), the DER of each, and a private JWK
/// (or a JWK Set with one key). `password` (may be NULL) is used only for encrypted keys. On
/// failure the handle keeps the key it had.
///
/// An RSA key signs with PS256, or with RS256 when its JWK has `"alg":"RS256"`; switch with
/// `dpop_key_set_alg`. RSA keys under 2048 or over 4096 bits are refused (`DPOP_ERR_KEY_RSA`).
///
/// Errors: `DPOP_ERR_IO`, `DPOP_ERR_KEY_*` (see their descriptions), `DPOP_ERR_NULL_POINTER`,
/// `DPOP_ERR_INVALID_UTF8`.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_key_load(
    key: *mut dpop_key,
    path: *const c_char,
    password: *const c_char,
) -> dpop_status {
    call("dpop_key_load", |call| {
        // SAFETY: the header requires `key` to be NULL or a live handle from `dpop_key_new`.
        let key = unsafe { call.handle(key) }?;
        // SAFETY: the header requires `path` to be NULL or a NUL-terminated string.
        let path = unsafe { arg_str(path, "path") }?;
        // SAFETY: the header requires `password` to be NULL or a NUL-terminated string.
        let password = unsafe { opt_str(password, "password") }?;
        key.set(Key::load(Path::new(path), password)?);
        Ok(())
    })
}

/// Loads a private key from `len` bytes of memory (PEM, DER or JWK), as `dpop_key_load`
/// does for files. libdpop copies what it needs; the caller keeps `data`.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_key_load_memory(
    key: *mut dpop_key,
    data: *const u8,
    len: usize,
    password: *const c_char,
) -> dpop_status {
    call("dpop_key_load_memory", |call| {
        // SAFETY: the header requires `key` to be NULL or a live handle from `dpop_key_new`.
        let key = unsafe { call.handle(key) }?;
        // SAFETY: the header requires `data` to be `len` readable bytes (NULL when `len` is 0).
        let data = unsafe { arg_bytes(data, len, "data") }?;
        // SAFETY: the header requires `password` to be NULL or a NUL-terminated string.
        let password = unsafe { opt_str(password, "password") }?;
        key.set(Key::load_memory(data, password)?);
        Ok(())
    })
}

/// Generates a new key from the operating system's random source.
///
/// `alg` is `"ES256"` (also when NULL), `"ES384"`, `"EdDSA"`, or `"PS256"` or `"RS256"` for a
/// 3072-bit RSA key (see `dpop_key_generate_rsa` for other sizes; RSA generation takes from a
/// fraction of a second to a few seconds). Persist the new key with `dpop_key_private_pem` or
/// `dpop_key_private_jwk`: tokens are bound to it. An unknown `alg` is
/// `DPOP_ERR_INVALID_ARGUMENT`.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_key_generate(key: *mut dpop_key, alg: *const c_char) -> dpop_status {
    call("dpop_key_generate", |call| {
        // SAFETY: the header requires `key` to be NULL or a live handle from `dpop_key_new`.
        let key = unsafe { call.handle(key) }?;
        // SAFETY: the header requires `alg` to be NULL or a NUL-terminated string.
        let alg = unsafe { opt_str(alg, "alg") }?;
        let alg = alg.map_or(Ok(Algorithm::Es256), Algorithm::from_name)?;
        key.set(Key::generate(alg)?);
        Ok(())
    })
}

/// Generates a new RSA key of `bits` bits (2048, 3072 or 4096: the sizes libdpop signs with)
/// that signs with `alg`: `"PS256"` (also when NULL) or `"RS256"`.
///
/// Any other `bits` or `alg` is `DPOP_ERR_INVALID_ARGUMENT`; on failure the handle keeps the
/// key it had. A PKCS#8 PEM export does not record RS256: a reloaded key signs with PS256
/// until `dpop_key_set_alg` says otherwise (a private JWK export keeps it as `alg`).
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_key_generate_rsa(key: *mut dpop_key, bits: i32, alg: *const c_char) -> dpop_status {
    call("dpop_key_generate_rsa", |call| {
        // SAFETY: the header requires `key` to be NULL or a live handle from `dpop_key_new`.
        let key = unsafe { call.handle(key) }?;
        // SAFETY: the header requires `alg` to be NULL or a NUL-terminated string.
        let alg = unsafe { opt_str(alg, "alg") }?;
        let alg = alg.map_or(Ok(Algorithm::Ps256), Algorithm::from_name)?;
        let bits = usize::try_from(bits).map_err(|_| {
            FfiError::new(
                DPOP_ERR_INVALID_ARGUMENT,
                format!("bits is {bits}: RSA keys are generated with 2048, 3072 or 4096 bits"),
            )
        })?;
        key.set(Key::generate_rsa(bits, alg)?);
        Ok(())
    })
}

/// Makes the handle's key sign with `alg`: the same key (same thumbprint, so tokens bound to
/// it stay valid), another algorithm. An RSA key takes `"PS256"` or `"RS256"`; any key takes
/// its own algorithm.
///
/// Errors: `DPOP_ERR_KEY_NOT_LOADED`, `DPOP_ERR_INVALID_ARGUMENT` (an unknown algorithm, or one
/// the key cannot sign with; the message lists those it can), `DPOP_ERR_NULL_POINTER` (`alg`
/// is required), `DPOP_ERR_INVALID_UTF8`. Objects given the key earlier keep signing as before.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_key_set_alg(key: *mut dpop_key, alg: *const c_char) -> dpop_status {
    call("dpop_key_set_alg", |call| {
        // SAFETY: the header requires `key` to be NULL or a live handle from `dpop_key_new`.
        let key = unsafe { call.handle(key) }?;
        // SAFETY: the header requires `alg` to be NULL or a NUL-terminated string.
        let alg = Algorithm::from_name(unsafe { arg_str(alg, "alg") }?)?;
        let switched = key.current()?.with_alg(alg)?;
        key.set(switched);
        Ok(())
    })
}

/// The JWS algorithm of the loaded key (`"ES256"`, `"ES384"`, `"EdDSA"`, `"PS256"` or
/// `"RS256"`), or NULL when the handle is NULL or holds no key. The string is static: never
/// free it.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_key_alg(key: *const dpop_key) -> *const c_char {
    call_value("dpop_key_alg", std::ptr::null(), |call| {
        // SAFETY: the header requires `key` to be NULL or a live handle from `dpop_key_new`.
        let key = unsafe { call.handle(key) }?;
        let name: &'static CStr = match key.current()?.alg() {
            Algorithm::Es256 => c"ES256",
            Algorithm::Es384 => c"ES384",
            Algorithm::EdDsa => c"EdDSA",
            Algorithm::Ps256 => c"PS256",
            Algorithm::Rs256 => c"RS256",
        };
        Ok(name.as_ptr())
    })
}

/// The body of the exports that copy one string of the loaded key out; `value` picks it.
///
/// # Safety
/// `key` is NULL or a live handle from `dpop_key_new`, `buf` is NULL or valid for writes of
/// `buf_len` bytes, and `out_size` is NULL or valid for a write.
unsafe fn copy_out<S: AsRef<str>>(
    function: &str,
    key: *const dpop_key,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
    value: impl FnOnce(&Key) -> FfiResult<S>,
) -> dpop_status {
    call(function, |call| {
        // SAFETY: `key` is NULL or a live handle from `dpop_key_new` (this function's contract).
        let key = unsafe { call.handle(key) }?;
        // SAFETY: `buf` is NULL or `buf_len` writable bytes and `out_size` is NULL or writable
        // (this function's contract).
        let out = unsafe { OutString::new(buf, buf_len, out_size) };
        let key = key.current()?;
        out.write(value(&key)?.as_ref())
    })
}

/// Copies the public JWK (`{"crv":..,"kty":..,"x":..[,"y":..]}`; RSA: `{"e":..,"kty":"RSA","n":..}`)
/// into `buf`.
///
/// Strings out: `*out_size` (if `out_size` is not NULL) receives the bytes needed with the
/// terminating NUL, on success and on `DPOP_ERR_BUFFER_TOO_SMALL`; `buf` is written only on
/// success. Pass `buf` NULL to ask for the size.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_key_public_jwk(
    key: *const dpop_key,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    // SAFETY: the header requires `key` to be NULL or a live handle from `dpop_key_new`, `buf`
    // to be NULL or `buf_len` writable bytes and `out_size` to be NULL or writable.
    unsafe {
        copy_out("dpop_key_public_jwk", key, buf, buf_len, out_size, |k| {
            Ok(k.public_jwk().to_owned())
        })
    }
}

/// Copies the RFC 7638 JWK thumbprint (base64url SHA-256, 43 characters) into `buf`: the value
/// of `dpop_jkt` and of a bound token's `cnf.jkt`. Strings out as for `dpop_key_public_jwk`.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_key_thumbprint(
    key: *const dpop_key,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    // SAFETY: the header requires `key` to be NULL or a live handle from `dpop_key_new`, `buf`
    // to be NULL or `buf_len` writable bytes and `out_size` to be NULL or writable.
    unsafe {
        copy_out("dpop_key_thumbprint", key, buf, buf_len, out_size, |k| {
            Ok(k.thumbprint().to_owned())
        })
    }
}

/// Copies the private key as a JWK (with `d`; an RSA key with `alg` and its CRT members) into
/// `buf`. Strings out as for
/// `dpop_key_public_jwk`. The caller owns the copy: wipe it when done.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_key_private_jwk(
    key: *const dpop_key,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    // SAFETY: the header requires `key` to be NULL or a live handle from `dpop_key_new`, `buf`
    // to be NULL or `buf_len` writable bytes and `out_size` to be NULL or writable.
    unsafe {
        copy_out("dpop_key_private_jwk", key, buf, buf_len, out_size, |k| {
            Ok(k.private_jwk())
        })
    }
}

/// Copies the private key as PKCS#8 PEM into `buf`: `PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY`
/// (PBES2: PBKDF2-HMAC-SHA256, 600,000 iterations, AES-256-CBC) when `password` is not NULL.
/// Strings out as for `dpop_key_public_jwk`; an encrypted export differs on every call (new
/// salt and IV), so size it with a generous buffer rather than a separate query.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_key_private_pem(
    key: *const dpop_key,
    password: *const c_char,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    let pem = |k: &Key| {
        // SAFETY: the header requires `password` to be NULL or a NUL-terminated string.
        let password = unsafe { opt_str(password, "password") }?;
        Ok(k.private_pem(password)?)
    };
    // SAFETY: the header requires `key` to be NULL or a live handle from `dpop_key_new`, `buf`
    // to be NULL or `buf_len` writable bytes and `out_size` to be NULL or writable.
    unsafe { copy_out("dpop_key_private_pem", key, buf, buf_len, out_size, pem) }
}

/// Copies the message of this thread's last call on the handle (empty after a success) into
/// `buf`. Each thread sees its own calls only.
///
/// Strings out as for `dpop_key_public_jwk`. This call never changes any error record, so a
/// too-small buffer here does not replace the text being asked for.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_key_last_error_text(
    key: *const dpop_key,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    // SAFETY: the header requires `key` to be NULL or a live handle from `dpop_key_new`, `buf`
    // to be NULL or `buf_len` writable bytes and `out_size` to be NULL or writable.
    unsafe { handle::last_error_text(key, buf, buf_len, out_size) }
}
