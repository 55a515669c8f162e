//! The saved state of a `dpop_http`: its DPoP key and latest refresh token in one file,
//! protected with a passphrase or (Windows) DPAPI for the current user.

#[cfg(not(windows))]
use crate::boundary::FfiError;
use crate::boundary::{arg_str, call, opt_str, FfiResult};
use crate::error::dpop_status;
#[cfg(not(windows))]
use crate::error::DPOP_ERR_INVALID_ARGUMENT;
use crate::http::dpop_http;
use dpop_core::StateProtection;
use dpop_macros::system_abi;
use std::ffi::c_char;
use std::path::Path;

/// The protection a `passphrase` argument asks for: the passphrase, or without one DPAPI on
/// Windows.
fn protection(passphrase: Option<&str>) -> FfiResult<StateProtection<'_>> {
    match passphrase {
        Some(passphrase) => Ok(StateProtection::Passphrase(passphrase)),
        #[cfg(windows)]
        None => Ok(StateProtection::Protector(std::sync::Arc::new(
            crate::dpapi::Dpapi,
        ))),
        #[cfg(not(windows))]
        None => Err(FfiError::new(
            DPOP_ERR_INVALID_ARGUMENT,
            "a passphrase is required: a state without one is protected with DPAPI, which only \
             Windows has",
        )),
    }
}

/// Saves the object's DPoP key and latest refresh token (the one the token endpoint issued
/// last, else the `refresh_token` of the settings; a state without one yet is fine) to the file
/// at `path`, bound to the token settings' `issuer` (or `token_endpoint`) and `client_id` and to
/// the key's thumbprint.
///
/// `passphrase` (may be NULL): the key is stored as encrypted PKCS#8 and the refresh token with
/// AES-256-GCM, both under keys derived from it (PBKDF2-SHA256, 600 000 iterations each: a
/// save or load takes about half a second). With `passphrase` NULL or `""` the state is protected
/// with DPAPI for the current Windows user (`CryptProtectData`), on Windows only; elsewhere
/// that is `DPOP_ERR_INVALID_ARGUMENT`.
///
/// The file is written readable by its owner only (0600 on Unix; on Windows it takes the
/// folder's permissions, as the session log does) to a temporary file in the same folder, then
/// renamed over the old one: a crash never leaves half a file. After a successful save (or
/// load) the object saves the file again by itself whenever the server issues a new refresh
/// token (rotation), so the file never holds a spent refresh token; this ends when the key or
/// the token settings change, `dpop_http_set_access_token` is called, or
/// `dpop_http_clear_state`. A failure to save again is noted in the session log.
///
/// Needs a key (`DPOP_ERR_KEY_NOT_LOADED`) and token settings (`DPOP_ERR_TOKEN_CONFIG`);
/// `DPOP_ERR_IO` when the file cannot be written. Neither the passphrase nor the refresh token
/// appears in an error text or the session log. Thread safety: as every `dpop_http` call, from
/// any thread.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_save_state(
    http: *mut dpop_http,
    path: *const c_char,
    passphrase: *const c_char,
) -> dpop_status {
    call("dpop_http_save_state", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let client = &unsafe { call.handle(http) }?.client;
        // SAFETY: the header requires `path` to be NULL or a NUL-terminated string.
        let path = unsafe { arg_str(path, "path") }?;
        // SAFETY: the header requires `passphrase` to be NULL or a NUL-terminated string.
        let passphrase = unsafe { opt_str(passphrase, "passphrase") }?;
        Ok(client.save_state(Path::new(path), protection(passphrase)?)?)
    })
}

/// Loads a state that `dpop_http_save_state` wrote: its key becomes the object's key
/// (replacing one set before), its refresh token the object's latest refresh token, so the next
/// request gets an access token with the refresh_token grant and no sign-in; a cached access
/// token is dropped. `passphrase` as for `dpop_http_save_state` (NULL or `""`: DPAPI).
///
/// The token settings must be set first (`DPOP_ERR_TOKEN_CONFIG` otherwise): the state is
/// checked against them, and settings set later drop the refresh token. Everything is read,
/// decrypted and checked before the object changes: after a failure it is as it was. Errors:
/// - `DPOP_ERR_IO`: there is no file at `path` (a first run), or it cannot be read;
/// - `DPOP_ERR_STATE_CORRUPT`: not a libdpop state, damaged or cut off;
/// - `DPOP_ERR_STATE_LOCKED`: the wrong passphrase, a passphrase for a DPAPI state or none for a
///   passphrase state, or DPAPI cannot decrypt it (another Windows user or computer);
/// - `DPOP_ERR_STATE_FOREIGN`: saved for another `issuer` (or `token_endpoint`) or `client_id`
///   than the settings name.
///
/// After a successful load the object saves the file again by itself, as after a save.
/// Thread safety: as every `dpop_http` call, from any thread.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_load_state(
    http: *mut dpop_http,
    path: *const c_char,
    passphrase: *const c_char,
) -> dpop_status {
    call("dpop_http_load_state", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let client = &unsafe { call.handle(http) }?.client;
        // SAFETY: the header requires `path` to be NULL or a NUL-terminated string.
        let path = unsafe { arg_str(path, "path") }?;
        // SAFETY: the header requires `passphrase` to be NULL or a NUL-terminated string.
        let passphrase = unsafe { opt_str(passphrase, "passphrase") }?;
        Ok(client.load_state(Path::new(path), protection(passphrase)?)?)
    })
}

/// Deletes the state file at `path` (`DPOP_OK` when there is none) and makes the object forget
/// its key, its access token (one set with `dpop_http_set_access_token` too) and its refresh
/// token, and stop saving by itself: the way back to a clean start, e.g. when the server no
/// longer accepts the saved refresh token. The token settings stay; set or generate a key
/// before the next request. `DPOP_ERR_IO` when the file exists but cannot be deleted (the
/// object has forgotten its key and tokens all the same). Thread safety: as every `dpop_http`
/// call, from any thread.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_clear_state(http: *mut dpop_http, path: *const c_char) -> dpop_status {
    call("dpop_http_clear_state", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let client = &unsafe { call.handle(http) }?.client;
        // SAFETY: the header requires `path` to be NULL or a NUL-terminated string.
        let path = unsafe { arg_str(path, "path") }?;
        Ok(client.clear_state(Path::new(path))?)
    })
}
