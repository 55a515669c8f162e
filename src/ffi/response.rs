//! `dpop_response`: a received HTTP response, owned by the caller.

use super::boundary::{arg_ref, arg_str, call, read_only, write_string, FfiError};
use super::error::{dpop_status, DPOP_ERR_NOT_FOUND};
use crate::Response;
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

impl dpop_response {
    pub(crate) fn into_raw(response: Response) -> *mut dpop_response {
        let mut body_nul = Vec::with_capacity(response.body().len() + 1);
        body_nul.extend_from_slice(response.body());
        body_nul.push(0);
        Box::into_raw(Box::new(dpop_response { response, body_nul }))
    }
}

/// Frees a response. `dpop_response_free(NULL)` does nothing; must not be called twice.
#[no_mangle]
pub extern "system" fn dpop_response_free(response: *mut dpop_response) {
    call("dpop_response_free", || {
        if !response.is_null() {
            // SAFETY: `response` came from `Box::into_raw` in `into_raw` and, per the contract
            // above, is freed only once.
            drop(unsafe { Box::from_raw(response) });
        }
        Ok(())
    });
}

/// The HTTP status code, or 0 when `response` is NULL.
#[no_mangle]
pub extern "system" fn dpop_response_status(response: *const dpop_response) -> i32 {
    read_only(0, || {
        // SAFETY: the header documents `response` as a response or NULL.
        unsafe { response.as_ref() }.map_or(0, |r| i32::from(r.response.status()))
    })
}

/// The body and its length in `*len` (if `len` is not NULL). The body is followed by a NUL
/// byte that `*len` does not count, so a text body can be used as a C string. Valid until
/// `dpop_response_free`; NULL when `response` is NULL.
#[no_mangle]
pub extern "system" fn dpop_response_body(response: *const dpop_response, len: *mut usize) -> *const u8 {
    read_only(std::ptr::null(), || {
        // SAFETY: the header documents `response` as a response or NULL.
        let Some(r) = (unsafe { response.as_ref() }) else {
            return std::ptr::null();
        };
        if !len.is_null() {
            // SAFETY: `len` is not NULL and is documented as writable.
            unsafe { len.write(r.response.body().len()) };
        }
        r.body_nul.as_ptr()
    })
}

/// Copies the value of header `name` (case-insensitive; repeated headers joined by `", "`)
/// into `buf`. `DPOP_ERR_NOT_FOUND` when the response has no such header. Strings out as for
/// `dpop_key_public_jwk`.
#[no_mangle]
pub extern "system" fn dpop_response_header(
    response: *const dpop_response,
    name: *const c_char,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    call("dpop_response_header", || {
        // SAFETY: the header documents `response` as a response, `name` as a string, `buf` as
        // `buf_len` writable bytes or NULL and `out_size` as writable or NULL.
        unsafe {
            let r = arg_ref(response, "response")?;
            let name = arg_str(name, "name")?;
            let value = r.response.header(name).ok_or_else(|| {
                FfiError::new(DPOP_ERR_NOT_FOUND, format!("the response has no '{name}' header"))
            })?;
            write_string(&value, buf, buf_len, out_size)
        }
    })
}

/// Copies all headers as `"name: value\r\n"` lines (names lower-case, in received order)
/// into `buf`. Strings out as for `dpop_key_public_jwk`.
#[no_mangle]
pub extern "system" fn dpop_response_headers(
    response: *const dpop_response,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    call("dpop_response_headers", || {
        // SAFETY: as for `dpop_response_header`.
        unsafe {
            let r = arg_ref(response, "response")?;
            write_string(&r.response.headers_text(), buf, buf_len, out_size)
        }
    })
}
