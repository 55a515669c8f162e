//! `dpop_http`: the Chilkat-style HTTP object with automatic DPoP tokens, proofs and nonces.

use crate::boundary::{
    arg_bytes, arg_str, call, call_value, opt_str, read_only, FfiError, FfiResult, OutPtr, OutString,
};
use crate::error::{dpop_status, DPOP_ERR_NOT_FOUND};
use crate::handle::{self, Handle, Shared};
use crate::key::dpop_key;
use crate::records::Records;
use crate::response::dpop_response;
use dpop_core::{parse_header_lines, Client};
use dpop_macros::system_abi;
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
#[derive(Default)]
pub struct dpop_http {
    pub(crate) client: Client,
    records: Records,
}

/// cbindgen:ignore
impl AsRef<Client> for dpop_http {
    fn as_ref(&self) -> &Client {
        &self.client
    }
}

// Shared: the object's tasks (`dpop_http_get_async`) hold a reference until they finish.
/// cbindgen:ignore
impl Handle for dpop_http {
    const PARAM: &'static str = "http";
    type Ownership = Shared;

    fn records(&self) -> Option<&Records> {
        Some(&self.records)
    }
}

/// Creates an HTTP object with default settings: no key, no token settings, 10 s connect
/// and 30 s read timeouts, the built-in root certificates, no proxy, plain http:// only to
/// loopback hosts. Returns NULL only if libdpop fails internally. Free it with
/// `dpop_http_free`.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_new() -> *mut dpop_http {
    handle::new("dpop_http_new", dpop_http::default)
}

/// Frees an HTTP object, its cached token, its connections and every thread's results
/// (error texts, statuses, strings returned by `dpop_http_get`). `dpop_http_free(NULL)` does
/// nothing. Must not be called twice, nor while another thread uses the object. Tasks of the
/// object (`dpop_http_get_async`) that still run keep what they need and finish normally.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_free(http: *mut dpop_http) {
    // SAFETY: the header requires `http` to be NULL or a handle from `dpop_http_new` that is
    // freed once and that no other call uses any more.
    unsafe { handle::free("dpop_http_free", http) }
}

/// Sets the key that signs every proof of this object (Chilkat's `SetDPoPKey`). The object
/// keeps the key it is given, even if `key` is loaded again or freed later. A token fetched
/// with another key is dropped.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_set_key(http: *mut dpop_http, key: *const dpop_key) -> dpop_status {
    call("dpop_http_set_key", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let client = &unsafe { call.handle(http) }?.client;
        // SAFETY: the header requires `key` to be NULL or a live handle from `dpop_key_new`.
        let key = unsafe { dpop_key::borrow(key) }?;
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
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_set_auth_token(http: *mut dpop_http, json: *const c_char) -> dpop_status {
    call("dpop_http_set_auth_token", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let client = &unsafe { call.handle(http) }?.client;
        // SAFETY: the header requires `json` to be NULL or a NUL-terminated string.
        let json = unsafe { arg_str(json, "json") }?;
        Ok(client.set_auth_token(json)?)
    })
}

/// Uses an access token the host obtained itself: no automatic fetch or refresh, and a 401
/// is returned as it is. `token_type` is `"DPoP"` (also when NULL) or `"Bearer"` (sent
/// without a proof). `token` NULL returns to automatic tokens from the token settings.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_set_access_token(
    http: *mut dpop_http,
    token: *const c_char,
    token_type: *const c_char,
) -> dpop_status {
    call("dpop_http_set_access_token", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let client = &unsafe { call.handle(http) }?.client;
        // SAFETY: the header requires `token` to be NULL or a NUL-terminated string.
        let token = unsafe { opt_str(token, "token") }?;
        // SAFETY: the header requires `token_type` to be NULL or a NUL-terminated string.
        let token_type = unsafe { opt_str(token_type, "token_type") }?;
        Ok(client.set_access_token(token, token_type)?)
    })
}

/// Forgets the cached token, so the next request fetches a new one (with the latest refresh
/// token, which is kept).
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_clear_token(http: *mut dpop_http) -> dpop_status {
    call("dpop_http_clear_token", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let client = &unsafe { call.handle(http) }?.client;
        client.clear_token();
        Ok(())
    })
}

/// Whether a `Bearer` token from the token endpoint is accepted (non-zero) or refused with
/// `DPOP_ERR_TOKEN_BEARER` (0, the default): a server that answers a DPoP request with a
/// Bearer token has not bound the token to the key.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_set_accept_bearer(http: *mut dpop_http, accept: i32) -> dpop_status {
    call("dpop_http_set_accept_bearer", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let client = &unsafe { call.handle(http) }?.client;
        client.set_accept_bearer(accept != 0);
        Ok(())
    })
}

/// How many seconds before its expiry a token is replaced (default 60; at most half the
/// token's lifetime is used, so short-lived tokens are still reused).
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_set_refresh_margin(http: *mut dpop_http, seconds: u32) -> dpop_status {
    call("dpop_http_set_refresh_margin", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let client = &unsafe { call.handle(http) }?.client;
        client.set_refresh_margin(Duration::from_secs(seconds.into()));
        Ok(())
    })
}

/// Connect and read timeouts in milliseconds (defaults 10000 and 30000); each must be > 0.
/// The read timeout bounds the wait for the response's headers and for its body.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_set_timeouts(http: *mut dpop_http, connect_ms: u32, read_ms: u32) -> dpop_status {
    call("dpop_http_set_timeouts", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let client = &unsafe { call.handle(http) }?.client;
        let ms = |v: u32| Duration::from_millis(v.into());
        Ok(client.set_timeouts(ms(connect_ms), ms(read_ms))?)
    })
}

/// What one request may take in all, in milliseconds (default 60000; > 0): the token request
/// it may need, its retries (nonce, new token) and every name lookup. When it runs out the
/// call fails with `DPOP_ERR_HTTP_TIMEOUT`, and the text says which step ran out.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_set_request_timeout(http: *mut dpop_http, total_ms: u32) -> dpop_status {
    call("dpop_http_set_request_timeout", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let client = &unsafe { call.handle(http) }?.client;
        Ok(client.set_request_timeout(Duration::from_millis(total_ms.into()))?)
    })
}

/// Trusts the certificates of a PEM CA bundle file in addition to the trusted roots (for a
/// private CA); NULL removes them. TLS is always verified.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_set_ca_file(http: *mut dpop_http, path: *const c_char) -> dpop_status {
    call("dpop_http_set_ca_file", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let client = &unsafe { call.handle(http) }?.client;
        // SAFETY: the header requires `path` to be NULL or a NUL-terminated string.
        let path = unsafe { opt_str(path, "path") }?;
        Ok(client.set_ca_file(path.map(Path::new))?)
    })
}

/// Which roots TLS trusts: the operating system's store (non-zero, the default: the Windows
/// certificate store with its enterprise roots, the system bundle on Linux, read once per
/// process) or the built-in Mozilla roots only (0). A CA file (`dpop_http_set_ca_file`) is
/// trusted besides either.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_set_system_roots(http: *mut dpop_http, use_system: i32) -> dpop_status {
    call("dpop_http_set_system_roots", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let client = &unsafe { call.handle(http) }?.client;
        Ok(client.set_system_roots(use_system != 0)?)
    })
}

/// Sends requests through an HTTP proxy, e.g. `"http://proxy.example:3128"` (user and
/// password may be given in the URL); NULL connects directly. Proxy environment variables
/// are not read.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_set_proxy(http: *mut dpop_http, url: *const c_char) -> dpop_status {
    call("dpop_http_set_proxy", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let client = &unsafe { call.handle(http) }?.client;
        // SAFETY: the header requires `url` to be NULL or a NUL-terminated string.
        let url = unsafe { opt_str(url, "url") }?;
        Ok(client.set_proxy(url)?)
    })
}

/// The `User-Agent` header (default `"libdpop/<version>"`).
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_set_user_agent(http: *mut dpop_http, user_agent: *const c_char) -> dpop_status {
    call("dpop_http_set_user_agent", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let client = &unsafe { call.handle(http) }?.client;
        // SAFETY: the header requires `user_agent` to be NULL or a NUL-terminated string.
        let user_agent = unsafe { arg_str(user_agent, "user_agent") }?;
        Ok(client.set_user_agent(user_agent)?)
    })
}

/// Allows plain `http://` to hosts other than loopback (non-zero). By default such URLs are
/// refused with `DPOP_ERR_HTTP_INSECURE`, so that secrets never travel in clear text by
/// accident; loopback (127.0.0.0/8, ::1, localhost) is always allowed.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_set_allow_insecure_http(http: *mut dpop_http, allow: i32) -> dpop_status {
    call("dpop_http_set_allow_insecure_http", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let client = &unsafe { call.handle(http) }?.client;
        Ok(client.set_allow_insecure_http(allow != 0)?)
    })
}

/// The largest response body accepted, in bytes (default 16 MiB; 1 byte to 1 GiB, else
/// `DPOP_ERR_INVALID_ARGUMENT`); larger bodies fail with `DPOP_ERR_HTTP_BODY_TOO_LARGE` and are
/// never read whole.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_set_max_response_size(http: *mut dpop_http, bytes: usize) -> dpop_status {
    call("dpop_http_set_max_response_size", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let client = &unsafe { call.handle(http) }?.client;
        Ok(client.set_max_response_size(u64::try_from(bytes).unwrap_or(u64::MAX))?)
    })
}

/// Appends every request and response (start line, headers, body up to 4 KiB) to the file at
/// `path` (Chilkat's `SessionLogFilename`); NULL stops logging. `Authorization`, `DPoP` and
/// cookie values, and `client_secret`, `access_token` and `refresh_token` values are masked.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_set_session_log(http: *mut dpop_http, path: *const c_char) -> dpop_status {
    call("dpop_http_set_session_log", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let client = &unsafe { call.handle(http) }?.client;
        // SAFETY: the header requires `path` to be NULL or a NUL-terminated string.
        let path = unsafe { opt_str(path, "path") }?;
        Ok(client.set_session_log(path.map(Path::new))?)
    })
}

/// `GET url` (Chilkat's `QuickGetStr`): returns the response body as a NUL-terminated
/// string, whatever the HTTP status, or NULL when no response was received (see
/// `dpop_http_last_error_text`). `dpop_http_last_status` tells the status.
///
/// The string belongs to the object and to the calling thread: it stays valid until the same
/// thread calls `dpop_http_get` on the object again, the thread ends, or the object is freed;
/// other threads' calls and this thread's other calls leave it alone. A body with NUL bytes is
/// cut at the first one (use `dpop_http_request`).
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_get(http: *mut dpop_http, url: *const c_char) -> *const c_char {
    call_value("dpop_http_get", std::ptr::null(), |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let http = unsafe { call.handle(http) }?;
        // SAFETY: the header requires `url` to be NULL or a NUL-terminated string.
        let url = unsafe { arg_str(url, "url") };
        let response = url.and_then(|url| Ok(http.client.get(url)?));
        let status = response.as_ref().map_or(0, |r| i32::from(r.status()));
        let body = response.as_ref().ok().map(|r| {
            let text = r.body().split(|b| *b == 0).next().unwrap_or_default();
            CString::new(text).unwrap_or_default()
        });
        let note = response.as_ref().ok().and_then(|r| r.diagnostic());
        let returned = http.records.update(|record| {
            record.status = status;
            record.note = note.map(|d| format!("dpop_http_get: {d}"));
            record.body = body;
            record.body.as_ref().map_or(std::ptr::null(), |b| b.as_ptr())
        });
        response.map(|_| returned)
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
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_request(
    http: *mut dpop_http,
    method: *const c_char,
    url: *const c_char,
    headers: *const c_char,
    body: *const u8,
    body_len: usize,
    out: *mut *mut dpop_response,
) -> dpop_status {
    call("dpop_http_request", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let http = unsafe { call.handle(http) }?;
        let response: FfiResult<_> = (|| {
            // SAFETY: the header requires `method` to be NULL or a NUL-terminated string.
            let method = unsafe { arg_str(method, "method") }?;
            // SAFETY: the header requires `url` to be NULL or a NUL-terminated string.
            let url = unsafe { arg_str(url, "url") }?;
            // SAFETY: the header requires `headers` to be NULL or a NUL-terminated string.
            let headers = unsafe { opt_str(headers, "headers") }?;
            // SAFETY: the header requires `body` to be `body_len` readable bytes (NULL when
            // `body_len` is 0).
            let body = unsafe { arg_bytes(body, body_len, "body") }?;
            // SAFETY: the header requires `out` to be NULL or a writable pointer.
            let out = unsafe { OutPtr::new(out, "out") }?;
            let headers = parse_header_lines(headers.unwrap_or(""))?;
            Ok((http.client.request(method, url, &headers, body)?, out))
        })();
        let status = response.as_ref().map_or(0, |(r, _)| i32::from(r.status()));
        let note = response.as_ref().ok().and_then(|(r, _)| r.diagnostic());
        http.records.update(|record| {
            record.status = status;
            record.note = note.map(|d| format!("dpop_http_request: {d}"));
        });
        let (response, out) = response?;
        out.write(dpop_response::new(response).into_raw());
        Ok(())
    })
}

/// The HTTP status of this thread's last request on the object, or 0 when it received no
/// response (or the handle is NULL).
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_last_status(http: *const dpop_http) -> i32 {
    read_only(0, || {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let http = unsafe { dpop_http::borrow(http) };
        http.map_or(0, |h| h.records.read(|r| r.map_or(0, |r| r.status)))
    })
}

/// Copies the message of this thread's last call on the object (Chilkat's `LastErrorText`)
/// into `buf`. Empty after a success, except when the request's DPoP proof was rejected
/// (`invalid_dpop_proof`, or `invalid_token` with a token bound to another key): the call
/// still returns the response, and the text says what the proof carried and what is probably
/// wrong. Strings out as for `dpop_key_public_jwk`; this call
/// never changes any error record.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_last_error_text(
    http: *const dpop_http,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`, `buf`
    // to be NULL or `buf_len` writable bytes and `out_size` to be NULL or writable.
    unsafe { handle::last_error_text(http, buf, buf_len, out_size) }
}

/// Copies what is known of the current access token, as JSON without the token itself,
/// into `buf`: `{"token_type":"DPoP","scope":"api","expires_in":287,"refresh_token":false,
/// "source":"token_endpoint","clock_offset":0}` (`expires_in` in seconds from now, null if
/// unknown; `source` is `"host"` for a token set with `dpop_http_set_access_token`;
/// `clock_offset` is the servers' clock minus this computer's in seconds, learned from their
/// `Date` headers, null before any; proofs follow it when it reaches 5 s, see the AuthToken
/// setting `clock_correction`). `DPOP_ERR_NOT_FOUND` when
/// there is no token yet. Strings out as for `dpop_key_public_jwk`.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_token_info(
    http: *const dpop_http,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    call("dpop_http_token_info", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let http = unsafe { call.handle(http) }?;
        // SAFETY: the header requires `buf` to be NULL or `buf_len` writable bytes and
        // `out_size` to be NULL or writable.
        let out = unsafe { OutString::new(buf, buf_len, out_size) };
        let info = http
            .client
            .token_info()
            .ok_or_else(|| FfiError::new(DPOP_ERR_NOT_FOUND, "there is no access token yet"))?;
        out.write(&info)
    })
}
