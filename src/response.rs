//! `dpop_response`: a received HTTP response, owned by the caller.

use crate::boundary::{arg_str, call, read_only, FfiError, OutString};
use crate::error::{dpop_status, DPOP_ERR_NOT_FOUND};
use crate::handle::{self, Boxed, Handle};
use dpop_core::Response;
use dpop_macros::system_abi;
use std::ffi::c_char;

/// A complete HTTP response (status, headers, body) from `dpop_http_request`.
///
/// Immutable: it may be read from several threads at once. Pointers it hands out stay valid
/// until `dpop_response_free`.
pub struct dpop_response {
    response: Response,
    /// The body followed by a NUL byte, so text bodies can be used as C strings.
    body_nul: Vec<u8>,
}

/// cbindgen:ignore
impl Handle for dpop_response {
    const PARAM: &'static str = "response";
    type Ownership = Boxed;
}

impl dpop_response {
    pub(crate) fn new(response: Response) -> Self {
        let mut body_nul = Vec::with_capacity(response.body().len() + 1);
        body_nul.extend_from_slice(response.body());
        body_nul.push(0);
        Self { response, body_nul }
    }
}

/// Frees a response. `dpop_response_free(NULL)` does nothing; must not be called twice.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_response_free(response: *mut dpop_response) {
    // SAFETY: the header requires `response` to be NULL or a response from `dpop_http_request`
    // that is freed once and that no other call uses any more.
    unsafe { handle::free("dpop_response_free", response) }
}

/// The HTTP status code, or 0 when `response` is NULL.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_response_status(response: *const dpop_response) -> i32 {
    read_only(0, || {
        // SAFETY: the header requires `response` to be NULL or a live response.
        let response = unsafe { dpop_response::borrow(response) };
        response.map_or(0, |r| i32::from(r.response.status()))
    })
}

/// The body and its length in `*len` (if `len` is not NULL). The body is followed by a NUL
/// byte that `*len` does not count, so a text body can be used as a C string. Valid until
/// `dpop_response_free`; NULL when `response` is NULL.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_response_body(response: *const dpop_response, len: *mut usize) -> *const u8 {
    read_only(std::ptr::null(), || {
        // SAFETY: the header requires `response` to be NULL or a live response.
        let Ok(response) = (unsafe { dpop_response::borrow(response) }) else {
            return std::ptr::null();
        };
        if !len.is_null() {
            // SAFETY: `len` is not NULL, and the header requires it to be writable.
            unsafe { len.write(response.response.body().len()) };
        }
        response.body_nul.as_ptr()
    })
}

/// Copies the value of header `name` (case-insensitive; repeated headers joined by `", "`)
/// into `buf`. `DPOP_ERR_NOT_FOUND` when the response has no such header. Strings out as for
/// `dpop_key_public_jwk`.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_response_header(
    response: *const dpop_response,
    name: *const c_char,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    call("dpop_response_header", |_| {
        // SAFETY: the header requires `response` to be NULL or a live response.
        let response = unsafe { dpop_response::borrow(response) }?;
        // SAFETY: the header requires `name` to be NULL or a NUL-terminated string.
        let name = unsafe { arg_str(name, "name") }?;
        // SAFETY: the header requires `buf` to be NULL or `buf_len` writable bytes and
        // `out_size` to be NULL or writable.
        let out = unsafe { OutString::new(buf, buf_len, out_size) };
        let value = response.response.header(name).ok_or_else(|| {
            FfiError::new(DPOP_ERR_NOT_FOUND, format!("the response has no '{name}' header"))
        })?;
        out.write(&value)
    })
}

/// Copies all headers as `"name: value\r\n"` lines (names lower-case, in received order)
/// into `buf`. Strings out as for `dpop_key_public_jwk`.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_response_headers(
    response: *const dpop_response,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    call("dpop_response_headers", |_| {
        // SAFETY: the header requires `response` to be NULL or a live response.
        let response = unsafe { dpop_response::borrow(response) }?;
        // SAFETY: the header requires `buf` to be NULL or `buf_len` writable bytes and
        // `out_size` to be NULL or writable.
        let out = unsafe { OutString::new(buf, buf_len, out_size) };
        out.write(&response.response.headers_text())
    })
}
