//! Signing a user in on a `dpop_http` object: the authorization code flow with PKCE and DPoP
//! through the system browser and a loopback redirect (RFC 8252, RFC 7636, RFC 9449 §10).

use crate::boundary::{call, FfiError, OutString};
use crate::error::{dpop_status, DPOP_ERR_NOT_FOUND};
use crate::http::dpop_http;
use dpop_macros::system_abi;
use std::ffi::c_char;
use std::time::Duration;

/// Starts signing the user in, with token settings whose `grant_type` is
/// `"authorization_code"` (see the README's sign-in settings: `redirect_uri` on 127.0.0.1,
/// `issuer` or `authorization_endpoint` and `token_endpoint`, `scope`, `par`,
/// `authorization_params`, `sign_in_timeout`) and the key set with `dpop_http_set_key`.
///
/// Fetches the issuer's metadata when the settings name one, binds the loopback listener of
/// `redirect_uri` (port 0: a free port, which the URL then names), makes the authorization URL
/// (S256 PKCE, `state`, a `nonce` when the scope has `openid`, `dpop_jkt` = the key's
/// thumbprint; a pushed authorization request first when `par` is set or the metadata requires
/// it) and, when `open_browser` is not 0, opens it in the system browser, or runs the program
/// named by the environment variable `DPOP_BROWSER` with the URL as its only argument. Then
/// call `dpop_http_sign_in_wait`. A sign-in already in progress on the object is cancelled.
///
/// Errors: `DPOP_ERR_TOKEN_CONFIG` (no settings, or another grant type),
/// `DPOP_ERR_KEY_NOT_LOADED`, `DPOP_ERR_METADATA`, `DPOP_ERR_SIGN_IN` (the port cannot be
/// bound, or the browser cannot be opened: the sign-in then stays in progress and
/// `dpop_http_sign_in_url` gives the URL to open by hand), the token endpoint's errors for the
/// pushed authorization request, transport errors.
///
/// Thread safety: may be called from any thread; one sign-in is in progress per object.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_sign_in_start(http: *mut dpop_http, open_browser: i32) -> dpop_status {
    call("dpop_http_sign_in_start", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let http = unsafe { call.handle(http) }?;
        Ok(http.client.sign_in_start(open_browser != 0)?)
    })
}

/// Copies the authorization URL of the sign-in in progress into `buf`, for a host that shows
/// it or opens it itself; `DPOP_ERR_NOT_FOUND` when no sign-in is in progress (none started,
/// or it has ended). The URL carries the sign-in's `state`: give it to the user's browser only.
/// Strings out as for `dpop_key_public_jwk`.
///
/// Thread safety: may be called from any thread, also while another waits.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_sign_in_url(
    http: *const dpop_http,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    call("dpop_http_sign_in_url", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let http = unsafe { call.handle(http) }?;
        // SAFETY: the header requires `buf` to be NULL or `buf_len` writable bytes and
        // `out_size` to be NULL or writable.
        let out = unsafe { OutString::new(buf, buf_len, out_size) };
        let url = http
            .client
            .sign_in_url()
            .ok_or_else(|| FfiError::new(DPOP_ERR_NOT_FOUND, "no sign-in is in progress"))?;
        out.write(&url)
    })
}

/// Waits up to `timeout_ms` milliseconds (0: just looks) for the browser to come back to the
/// redirect URI, then exchanges the code for tokens with a DPoP proof and caches them: requests
/// on the object then use them, and refresh them with the refresh token.
///
/// `DPOP_OK`: signed in. `DPOP_ERR_PENDING`: not yet; call again (a UI host polls with a short
/// timeout between its events). `DPOP_ERR_NOT_FOUND`: no sign-in is in progress. Any other
/// code ends the sign-in: `DPOP_ERR_SIGN_IN` (the authorization server answered with an error
/// such as `access_denied`, which the text names; `iss` is not the issuer's; the
/// `sign_in_timeout` passed), `DPOP_ERR_CANCELLED` (`dpop_http_sign_in_cancel`), the token
/// endpoint's errors (`DPOP_ERR_TOKEN_ENDPOINT`, `DPOP_ERR_PROOF_REJECTED`, ...). A redirect
/// with another `state` is answered with an error page and ignored. Once the redirect has come,
/// the code exchange runs (within the request timeout, or until `dpop_http_sign_in_cancel`)
/// before the call returns.
///
/// Thread safety: may be called from any thread; a second thread waiting at the same time
/// waits for the first.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_sign_in_wait(http: *mut dpop_http, timeout_ms: u32) -> dpop_status {
    call("dpop_http_sign_in_wait", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let http = unsafe { call.handle(http) }?;
        wait(http, timeout_ms)
    })
}

/// Cancels the sign-in in progress, if any (`DPOP_OK` also when there is none): a
/// `dpop_http_sign_in_start` or `dpop_http_sign_in_wait` running in another thread returns
/// `DPOP_ERR_CANCELLED` within a few tens of milliseconds (an exchange in flight, for the
/// metadata, the pushed request or the code, stops at its next step), the listener closes,
/// and the next wait returns `DPOP_ERR_CANCELLED` too.
///
/// Thread safety: may be called from any thread at any time, the point of it.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_sign_in_cancel(http: *mut dpop_http) -> dpop_status {
    call("dpop_http_sign_in_cancel", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let http = unsafe { call.handle(http) }?;
        http.client.sign_in_cancel();
        Ok(())
    })
}

/// `dpop_http_sign_in_start(http, 1)` then `dpop_http_sign_in_wait(http, timeout_ms)`: opens
/// the browser and waits. `DPOP_ERR_PENDING` when `timeout_ms` passes first; the sign-in
/// goes on, and `dpop_http_sign_in_wait` waits more. When the browser cannot be opened the
/// error is `DPOP_ERR_SIGN_IN` and the sign-in is in progress: show the URL of
/// `dpop_http_sign_in_url`, then wait.
///
/// Thread safety: as for `dpop_http_sign_in_start`.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_sign_in(http: *mut dpop_http, timeout_ms: u32) -> dpop_status {
    call("dpop_http_sign_in", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let http = unsafe { call.handle(http) }?;
        http.client.sign_in_start(true)?;
        wait(http, timeout_ms)
    })
}

fn wait(http: &dpop_http, timeout_ms: u32) -> Result<(), FfiError> {
    match http
        .client
        .sign_in_wait(Duration::from_millis(timeout_ms.into()))?
    {
        true => Ok(()),
        false => Err(FfiError::new(DPOP_ERR_NOT_FOUND, "no sign-in is in progress")),
    }
}
