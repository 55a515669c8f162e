//! DPoP proofs for hosts that keep their own HTTP stack.

use super::boundary::{arg_str, call, opt_str, write_string};
use super::error::dpop_status;
use super::key::dpop_key;
use crate::Proof;
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
/// Errors: `DPOP_ERR_KEY_NOT_LOADED`, `DPOP_ERR_PROOF_*`, `DPOP_ERR_INVALID_ARGUMENT` (empty
/// access token), `DPOP_ERR_BUFFER_TOO_SMALL`, `DPOP_ERR_NULL_POINTER`, `DPOP_ERR_INVALID_UTF8`.
/// The error is recorded on the key handle too.
#[no_mangle]
pub extern "system" fn dpop_proof_create(
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
    call("dpop_proof_create", || {
        // SAFETY: the header documents `key` as a handle, the strings as NUL-terminated (the
        // optional ones may be NULL), `buf` as `buf_len` writable bytes or NULL and
        // `out_size` as writable or NULL.
        unsafe {
            dpop_key::with(key, "dpop_proof_create", |handle| {
                let method = arg_str(method, "method")?;
                let url = arg_str(url, "url")?;
                let proof = Proof::new(method, url)
                    .access_token(opt_str(access_token, "access_token")?)
                    .nonce(opt_str(nonce, "nonce")?)
                    .extra_claims(opt_str(extra_claims, "extra_claims")?)
                    .sign(handle.current()?.as_ref())?;
                write_string(&proof, buf, buf_len, out_size)
            })
        }
    })
}
