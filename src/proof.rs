//! DPoP proofs for hosts that keep their own HTTP stack.

use crate::boundary::{arg_str, call, opt_str, OutString};
use crate::error::dpop_status;
use crate::key::dpop_key;
use dpop_core::Proof;
use dpop_macros::system_abi;
use std::ffi::c_char;

/// Signs a DPoP proof JWT (RFC 9449 §4.2) with `key` and copies the compact JWS into `buf`.
///
/// - `method`: the request's HTTP method, e.g. `"GET"` (`htm`).
/// - `url`: the request's absolute http(s) URL; `htu` is derived from it (scheme and host
///   lower-cased, default port, query and fragment removed).
/// - `access_token` (may be NULL): binds the proof to the token (`ath`).
/// - `nonce` (may be NULL): the server's latest `DPoP-Nonce`.
/// - `extra_claims` (may be NULL): a JSON object merged into the payload; it may not set
///   `jti`, `htm`, `htu`, `iat`, `ath` or `nonce`.
///
/// Every call makes a new proof (new `jti`, current `iat`). Strings out as for
/// `dpop_key_public_jwk`; a proof with a short nonce and no extra claims fits in 1024 bytes.
///
/// Errors: `DPOP_ERR_KEY_NOT_LOADED`, `DPOP_ERR_PROOF_*`, `DPOP_ERR_BUFFER_TOO_SMALL`,
/// `DPOP_ERR_NULL_POINTER`, `DPOP_ERR_INVALID_UTF8`. The error is recorded on the key handle
/// too.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_proof_create(
    key: *const dpop_key,
    method: *const c_char,
    url: *const c_char,
    access_token: *const c_char,
    nonce: *const c_char,
    extra_claims: *const c_char,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    call("dpop_proof_create", |call| {
        // SAFETY: the header requires `key` to be NULL or a live handle from `dpop_key_new`.
        let key = unsafe { call.handle(key) }?;
        // SAFETY: the header requires `method` to be NULL or a NUL-terminated string.
        let method = unsafe { arg_str(method, "method") }?;
        // SAFETY: the header requires `url` to be NULL or a NUL-terminated string.
        let url = unsafe { arg_str(url, "url") }?;
        // SAFETY: the header requires `access_token` to be NULL or a NUL-terminated string.
        let access_token = unsafe { opt_str(access_token, "access_token") }?;
        // SAFETY: the header requires `nonce` to be NULL or a NUL-terminated string.
        let nonce = unsafe { opt_str(nonce, "nonce") }?;
        // SAFETY: the header requires `extra_claims` to be NULL or a NUL-terminated string.
        let extra_claims = unsafe { opt_str(extra_claims, "extra_claims") }?;
        // SAFETY: the header requires `buf` to be NULL or `buf_len` writable bytes and
        // `out_size` to be NULL or writable.
        let out = unsafe { OutString::new(buf, buf_len, out_size) };
        let key = key.current()?;
        let proof = Proof::new(method, url)
            .access_token(access_token)
            .nonce(nonce)
            .extra_claims(extra_claims)
            .sign(&key)?;
        out.write(&proof)
    })
}
