//! `dpop_http`: the Chilkat-style HTTP object with automatic DPoP tokens, proofs and nonces.

use super::boundary::{
    arg_bytes, arg_ref, arg_str, call, call_value, drop_record, opt_str, read_only, record, with_record,
    write_error_text, write_string, FfiError, FfiResult,
};
use super::error::{
    dpop_status, DPOP_ERR_INVALID_ARGUMENT, DPOP_ERR_NOT_FOUND, DPOP_ERR_NULL_POINTER, DPOP_ERR_PANIC,
};
use super::key::dpop_key;
use super::response::dpop_response;
use crate::{parse_header_lines, Client, Response};
use std::ffi::{c_char, CString};
use std::path::Path;
use std::time::Duration;

/// An HTTP client that adds DPoP to every request: it fetches an access token with the
/// client_credentials grant (with a DPoP proof), caches and refreshes it, sends
/// `Authorization: DPoP <token>` and a fresh proof on every request, keeps each server's
/// latest `DPoP-Nonce`, and retries once when a server asks for a nonce or rejects the token.
///
/// Thread safety: a `dpop_http` may be used from several threads at once. Concurrent first
/// requests cause a single token request. `dpop_http_last_status`,
/// `dpop_http_last_error_text` and the string returned by `dpop_http_get` belong to the
/// calling thread: each thread sees the results of its own calls.
pub struct dpop_http {
    client: Client,
}

/// Runs `body` on the handle behind `ptr`, recording its outcome for this thread.
///
/// # Safety
/// `ptr` is NULL or a live handle from `dpop_http_new`.
unsafe fn with_http<T>(
    ptr: *const dpop_http,
    function: &str,
    body: impl FnOnce(&Client) -> FfiResult<T>,
) -> FfiResult<T> {
    // SAFETY: forwarded from the caller.
    let handle = unsafe { arg_ref(ptr, "http") }?;
    record(ptr, function, body(&handle.client))
}

/// The shape of most setters: check the handle, run `body`, record and return the status.
fn setter(http: *mut dpop_http, function: &str, body: impl FnOnce(&Client) -> FfiResult<()>) -> dpop_status {
    call(function, || {
        // SAFETY: every setter's header documents `http` as a handle from `dpop_http_new`.
        unsafe { with_http(http, function, body) }
    })
}

/// Creates an HTTP object with default settings: no key, no token settings, 10 s connect
/// and 30 s read timeouts, the built-in root certificates, no proxy, plain http:// only to
/// loopback hosts. Returns NULL only if libdpop fails internally. Free it with
/// `dpop_http_free`.
#[no_mangle]
pub extern "system" fn dpop_http_new() -> *mut dpop_http {
    call_value("dpop_http_new", std::ptr::null_mut(), || {
        Ok(Box::into_raw(Box::new(dpop_http {
            client: Client::new(),
        })))
    })
}

/// Frees an HTTP object, its cached token and its connections. `dpop_http_free(NULL)` does
/// nothing. Must not be called twice, nor while another thread uses the object.
#[no_mangle]
pub extern "system" fn dpop_http_free(http: *mut dpop_http) {
    call("dpop_http_free", || {
        if !http.is_null() {
            drop_record(http);
            // SAFETY: `http` came from `Box::into_raw` in `dpop_http_new` and, per the contract
            // above, is freed only once and not in use.
            drop(unsafe { Box::from_raw(http) });
        }
        Ok(())
    });
}

/// Sets the key that signs every proof of this object (Chilkat's `SetDPoPKey`). The object
/// keeps the key it is given, even if `key` is loaded again or freed later. A token fetched
/// with another key is dropped.
#[no_mangle]
pub extern "system" fn dpop_http_set_key(http: *mut dpop_http, key: *const dpop_key) -> dpop_status {
    setter(http, "dpop_http_set_key", |client| {
        // SAFETY: the header documents `key` as a handle from `dpop_key_new`.
        let key = unsafe { arg_ref(key, "key") }?;
        client.set_key(key.current()?);
        Ok(())
    })
}

/// Sets the token settings (Chilkat's `AuthToken`) as JSON, and forgets any cached token:
///
/// `{"client_id": "...", "client_secret": "...", "token_endpoint": "https://...",
///   "scope": "...", "audience": "...", "resource": "..." or ["...", ...],
///   "auth_method": "client_secret_post" (default) or "client_secret_basic",
///   "extra_params": {"name": "value", ...}}`
///
/// `client_id`, `client_secret` and `token_endpoint` are required; unknown members are
/// refused (`DPOP_ERR_TOKEN_CONFIG`) so that a typo does not go unnoticed.
#[no_mangle]
pub extern "system" fn dpop_http_set_auth_token(http: *mut dpop_http, json: *const c_char) -> dpop_status {
    setter(http, "dpop_http_set_auth_token", |client| {
        // SAFETY: the header documents `json` as a string.
        let json = unsafe { arg_str(json, "json") }?;
        Ok(client.set_token_settings(json)?)
    })
}

/// Uses an access token the host obtained itself: no automatic fetch or refresh, and a 401
/// is returned as it is. `token_type` is `"DPoP"` (also when NULL) or `"Bearer"` (sent
/// without a proof). `token` NULL returns to automatic tokens from the token settings.
#[no_mangle]
pub extern "system" fn dpop_http_set_access_token(
    http: *mut dpop_http,
    token: *const c_char,
    token_type: *const c_char,
) -> dpop_status {
    setter(http, "dpop_http_set_access_token", |client| {
        // SAFETY: the header documents both as strings or NULL.
        let (token, token_type) = unsafe { (opt_str(token, "token")?, opt_str(token_type, "token_type")?) };
        Ok(client.set_access_token(token, token_type)?)
    })
}

/// Forgets the cached token, so the next request fetches a new one.
#[no_mangle]
pub extern "system" fn dpop_http_clear_token(http: *mut dpop_http) -> dpop_status {
    setter(http, "dpop_http_clear_token", |client| {
        client.clear_token();
        Ok(())
    })
}

/// Whether a `Bearer` token from the token endpoint is accepted (non-zero) or refused with
/// `DPOP_ERR_TOKEN_BEARER` (0, the default): a server that answers a DPoP request with a
/// Bearer token has not bound the token to the key.
#[no_mangle]
pub extern "system" fn dpop_http_set_accept_bearer(http: *mut dpop_http, accept: i32) -> dpop_status {
    setter(http, "dpop_http_set_accept_bearer", |client| {
        client.set_accept_bearer(accept != 0);
        Ok(())
    })
}

/// How many seconds before its expiry a token is replaced (default 60; at most half the
/// token's lifetime is used, so short-lived tokens are still reused).
#[no_mangle]
pub extern "system" fn dpop_http_set_refresh_margin(http: *mut dpop_http, seconds: u32) -> dpop_status {
    setter(http, "dpop_http_set_refresh_margin", |client| {
        client.set_refresh_margin(Duration::from_secs(seconds.into()));
        Ok(())
    })
}

/// Connect and read timeouts in milliseconds (defaults 10000 and 30000); each must be > 0.
/// The read timeout bounds the wait for the response's headers and for its body.
#[no_mangle]
pub extern "system" fn dpop_http_set_timeouts(
    http: *mut dpop_http,
    connect_ms: u32,
    read_ms: u32,
) -> dpop_status {
    setter(http, "dpop_http_set_timeouts", |client| {
        if connect_ms == 0 || read_ms == 0 {
            return Err(FfiError::new(
                DPOP_ERR_INVALID_ARGUMENT,
                "timeouts must be greater than 0 ms",
            ));
        }
        let ms = |v: u32| Duration::from_millis(v.into());
        Ok(client.set_timeouts(ms(connect_ms), ms(read_ms))?)
    })
}

/// Trusts the certificates of a PEM CA bundle file in addition to the built-in roots (for
/// a private CA); NULL removes them. TLS is always verified.
#[no_mangle]
pub extern "system" fn dpop_http_set_ca_file(http: *mut dpop_http, path: *const c_char) -> dpop_status {
    setter(http, "dpop_http_set_ca_file", |client| {
        // SAFETY: the header documents `path` as a string or NULL.
        let path = unsafe { opt_str(path, "path") }?;
        Ok(client.set_ca_file(path.map(Path::new))?)
    })
}

/// Sends requests through an HTTP proxy, e.g. `"http://proxy.example:3128"` (user and
/// password may be given in the URL); NULL connects directly. Proxy environment variables
/// are not read.
#[no_mangle]
pub extern "system" fn dpop_http_set_proxy(http: *mut dpop_http, url: *const c_char) -> dpop_status {
    setter(http, "dpop_http_set_proxy", |client| {
        // SAFETY: the header documents `url` as a string or NULL.
        let url = unsafe { opt_str(url, "url") }?;
        Ok(client.set_proxy(url)?)
    })
}

/// The `User-Agent` header (default `"libdpop/<version>"`).
#[no_mangle]
pub extern "system" fn dpop_http_set_user_agent(
    http: *mut dpop_http,
    user_agent: *const c_char,
) -> dpop_status {
    setter(http, "dpop_http_set_user_agent", |client| {
        // SAFETY: the header documents `user_agent` as a string.
        let user_agent = unsafe { arg_str(user_agent, "user_agent") }?;
        Ok(client.set_user_agent(user_agent)?)
    })
}

/// Allows plain `http://` to hosts other than loopback (non-zero). By default such URLs are
/// refused with `DPOP_ERR_HTTP_INSECURE`, so that secrets never travel in clear text by
/// accident; loopback (127.0.0.0/8, ::1, localhost) is always allowed.
#[no_mangle]
pub extern "system" fn dpop_http_set_allow_insecure_http(http: *mut dpop_http, allow: i32) -> dpop_status {
    setter(http, "dpop_http_set_allow_insecure_http", |client| {
        Ok(client.set_allow_insecure_http(allow != 0)?)
    })
}

/// The largest response body accepted, in bytes (default 16 MiB); larger ones fail with
/// `DPOP_ERR_HTTP_BODY_TOO_LARGE`.
#[no_mangle]
pub extern "system" fn dpop_http_set_max_response_size(http: *mut dpop_http, bytes: usize) -> dpop_status {
    setter(http, "dpop_http_set_max_response_size", |client| {
        Ok(client.set_max_body(bytes as u64)?)
    })
}

/// Appends every request and response (start line, headers, body up to 4 KiB) to the file at
/// `path` (Chilkat's `SessionLogFilename`); NULL stops logging. `Authorization`, `DPoP` and
/// cookie values, and `client_secret`, `access_token` and `refresh_token` values are masked.
#[no_mangle]
pub extern "system" fn dpop_http_set_session_log(http: *mut dpop_http, path: *const c_char) -> dpop_status {
    setter(http, "dpop_http_set_session_log", |client| {
        // SAFETY: the header documents `path` as a string or NULL.
        let path = unsafe { opt_str(path, "path") }?;
        Ok(client.set_session_log(path.map(Path::new))?)
    })
}

/// Records a response's status for this thread (0 when there was none).
fn note_status<T>(http: *const T, response: &FfiResult<Response>) {
    let status = response.as_ref().map_or(0, |r| i32::from(r.status()));
    with_record(http, |r| r.status = status);
}

/// `GET url` (Chilkat's `QuickGetStr`): returns the response body as a NUL-terminated
/// string, whatever the HTTP status, or NULL when no response was received (see
/// `dpop_http_last_error_text`). `dpop_http_last_status` tells the status.
///
/// The string belongs to the object and stays valid until the calling thread's next call on
/// this object; a body with NUL bytes is cut at the first one (use `dpop_http_request`).
#[no_mangle]
pub extern "system" fn dpop_http_get(http: *mut dpop_http, url: *const c_char) -> *const c_char {
    call_value("dpop_http_get", std::ptr::null(), || {
        // SAFETY: the header documents `http` as a handle and `url` as a string.
        let response = unsafe {
            with_http(http, "dpop_http_get", |client| {
                let url = arg_str(url, "url")?;
                Ok(client.get(url)?)
            })
        };
        note_status(http, &response);
        let response = response?;
        let body = response.body();
        let text = body.split(|b| *b == 0).next().unwrap_or_default();
        let text = CString::new(text).unwrap_or_default();
        Ok(with_record(http, |r| r.body.insert(text).as_ptr()))
    })
}

/// Sends a request and hands over the whole response as a new `dpop_response` in `*out`
/// (free it with `dpop_response_free`); `*out` is written only on success.
///
/// - `method`: e.g. `"GET"`, `"POST"`.
/// - `headers` (may be NULL): extra headers as `"Name: value"` lines separated by `"\r\n"`
///   or `"\n"`; `Authorization`, `DPoP`, `Host`, `Content-Length` and `Transfer-Encoding`
///   are set by libdpop and refused here.
/// - `body`, `body_len`: the request body (`body` may be NULL when `body_len` is 0).
///
/// HTTP error statuses are responses (`DPOP_OK`); a status code is returned when no response
/// was received. `dpop_http_last_status` tells the status too.
#[no_mangle]
pub extern "system" fn dpop_http_request(
    http: *mut dpop_http,
    method: *const c_char,
    url: *const c_char,
    headers: *const c_char,
    body: *const u8,
    body_len: usize,
    out: *mut *mut dpop_response,
) -> dpop_status {
    call("dpop_http_request", || {
        // SAFETY: the header documents `http` as a handle, `method`/`url` as strings,
        // `headers` as a string or NULL, `body` as `body_len` readable bytes and `out` as a
        // writable pointer.
        let response = unsafe {
            with_http(http, "dpop_http_request", |client| {
                let method = arg_str(method, "method")?;
                let url = arg_str(url, "url")?;
                let headers = parse_header_lines(opt_str(headers, "headers")?.unwrap_or(""))?;
                let body = arg_bytes(body, body_len, "body")?;
                if out.is_null() {
                    return Err(FfiError::new(DPOP_ERR_NULL_POINTER, "argument 'out' is NULL"));
                }
                Ok(client.request(method, url, &headers, body)?)
            })
        };
        note_status(http, &response);
        let response = dpop_response::into_raw(response?);
        // SAFETY: `out` was checked for NULL above and is documented as writable.
        unsafe { out.write(response) };
        Ok(())
    })
}

/// The HTTP status of this thread's last request on the object, or 0 when it received no
/// response (or the handle is NULL).
#[no_mangle]
pub extern "system" fn dpop_http_last_status(http: *const dpop_http) -> i32 {
    read_only(0, || {
        if http.is_null() {
            0
        } else {
            with_record(http, |r| r.status)
        }
    })
}

/// Copies the message of this thread's last call on the object (empty after a success;
/// Chilkat's `LastErrorText`) into `buf`. Strings out as for `dpop_key_public_jwk`; this call
/// never changes any error record.
#[no_mangle]
pub extern "system" fn dpop_http_last_error_text(
    http: *const dpop_http,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    read_only(DPOP_ERR_PANIC, || {
        if http.is_null() {
            return DPOP_ERR_NULL_POINTER;
        }
        let text = with_record(http, |r| r.error.clone());
        // SAFETY: the header documents `buf` as `buf_len` writable bytes or NULL and
        // `out_size` as writable or NULL.
        unsafe { write_error_text(&text, buf, buf_len, out_size) }
    })
}

/// Copies what is known of the current access token, as JSON without the token itself,
/// into `buf`: `{"token_type":"DPoP","scope":"api","expires_in":287,"refresh_token":false,
/// "source":"token_endpoint"}` (`expires_in` in seconds from now, null if unknown; `source`
/// is `"host"` for a token set with `dpop_http_set_access_token`). `DPOP_ERR_NOT_FOUND` when
/// there is no token yet. Strings out as for `dpop_key_public_jwk`.
#[no_mangle]
pub extern "system" fn dpop_http_token_info(
    http: *const dpop_http,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    call("dpop_http_token_info", || {
        // SAFETY: as for `dpop_http_last_error_text`, and `http` is a handle or NULL.
        unsafe {
            with_http(http, "dpop_http_token_info", |client| {
                let info = client
                    .token_info()
                    .ok_or_else(|| FfiError::new(DPOP_ERR_NOT_FOUND, "there is no access token yet"))?;
                write_string(&info, buf, buf_len, out_size)
            })
        }
    })
}
