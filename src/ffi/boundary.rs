//! What every export shares: the panic boundary, argument checks, string output and the
//! last-error records (per thread and per handle).

use super::error::{
    code_of, dpop_status, DPOP_ERR_BUFFER_TOO_SMALL, DPOP_ERR_INVALID_UTF8, DPOP_ERR_NULL_POINTER,
    DPOP_ERR_PANIC, DPOP_OK,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A failure on its way to C: a status code and a message.
pub(crate) struct FfiError {
    pub(crate) code: dpop_status,
    pub(crate) message: String,
}

impl FfiError {
    pub(crate) fn new(code: dpop_status, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<crate::Error> for FfiError {
    fn from(e: crate::Error) -> Self {
        Self::new(code_of(e.kind()), e.message())
    }
}

pub(crate) type FfiResult<T> = Result<T, FfiError>;

thread_local! {
    static THREAD_ERROR: RefCell<(dpop_status, CString)> = RefCell::new((DPOP_OK, CString::default()));
}

/// Turns a message into a C string, replacing any NUL byte so nothing is cut off.
fn to_cstring(message: &str) -> CString {
    CString::new(message.replace('\0', "\\0")).unwrap_or_default()
}

fn set_thread_error(code: dpop_status, message: &str) {
    let text = to_cstring(message);
    THREAD_ERROR.with(|cell| *cell.borrow_mut() = (code, text));
}

pub(crate) fn thread_error_code() -> dpop_status {
    THREAD_ERROR.with(|cell| cell.borrow().0)
}

/// Points into this thread's record; the pointer stays valid until the record is replaced,
/// which only a failing call on this same thread does.
pub(crate) fn thread_error_message() -> *const c_char {
    THREAD_ERROR.with(|cell| cell.borrow().1.as_ptr())
}

/// Runs the body of an export: catches panics, records failures for this thread and returns
/// the status code. `function` prefixes the message so a log line says where it came from.
pub(crate) fn call(function: &str, body: impl FnOnce() -> FfiResult<()>) -> dpop_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => DPOP_OK,
        Ok(Err(e)) => {
            set_thread_error(e.code, &format!("{function}: {}", e.message));
            e.code
        }
        Err(_) => {
            set_thread_error(
                DPOP_ERR_PANIC,
                &format!("{function}: internal error in libdpop (caught panic); please report it"),
            );
            DPOP_ERR_PANIC
        }
    }
}

/// The panic boundary of the exports that only read (getters of error records, status,
/// response parts): records nothing, so asking never changes what is asked about; `fallback`
/// if the body panics.
pub(crate) fn read_only<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Like [`call`] for exports that return a value instead of a status: `fallback` on failure.
pub(crate) fn call_value<T>(function: &str, fallback: T, body: impl FnOnce() -> FfiResult<T>) -> T {
    let mut out = None;
    call(function, || {
        out = Some(body()?);
        Ok(())
    });
    out.unwrap_or(fallback)
}

/// What a handle remembers for the calling thread: the outcome of the thread's last call on
/// it (Chilkat's `LastErrorText`, `LastStatus`) and the body that call returned.
///
/// Kept per thread so that threads sharing a handle never see (or free) each other's results;
/// the records live in thread-local storage and go away with their thread.
#[derive(Default)]
pub(crate) struct HandleRecord {
    pub(crate) error: String,
    pub(crate) status: i32,
    pub(crate) body: Option<CString>,
}

thread_local! {
    static HANDLE_RECORDS: RefCell<HashMap<usize, HandleRecord>> = RefCell::new(HashMap::new());
}

/// Runs `f` on this thread's record for the handle at `handle`.
pub(crate) fn with_record<T, R>(handle: *const T, f: impl FnOnce(&mut HandleRecord) -> R) -> R {
    HANDLE_RECORDS.with(|records| f(records.borrow_mut().entry(handle as usize).or_default()))
}

/// Forgets this thread's record of a handle being freed.
pub(crate) fn drop_record<T>(handle: *const T) {
    HANDLE_RECORDS.with(|records| records.borrow_mut().remove(&(handle as usize)));
}

/// Records the outcome of `function` on the handle for this thread and passes it on.
pub(crate) fn record<T, R>(handle: *const T, function: &str, result: FfiResult<R>) -> FfiResult<R> {
    with_record(handle, |record| {
        record.error.clear();
        if let Err(e) = &result {
            record.error.push_str(function);
            record.error.push_str(": ");
            record.error.push_str(&e.message);
        }
    });
    result
}

/// A shared reference from a handle pointer, or `DPOP_ERR_NULL_POINTER`.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` that outlives `'a`.
pub(crate) unsafe fn arg_ref<'a, T>(ptr: *const T, name: &str) -> FfiResult<&'a T> {
    // SAFETY: the caller guarantees `ptr` is NULL or valid for `'a`.
    unsafe { ptr.as_ref() }.ok_or_else(|| null_error(name))
}

fn null_error(name: &str) -> FfiError {
    FfiError::new(DPOP_ERR_NULL_POINTER, format!("argument '{name}' is NULL"))
}

/// A required NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn arg_str<'a>(ptr: *const c_char, name: &str) -> FfiResult<&'a str> {
    // SAFETY: forwarded from the caller.
    unsafe { any_str(ptr, name) }?.ok_or_else(|| null_error(name))
}

/// An optional NUL-terminated UTF-8 string argument: NULL and `""` both give `None`, since
/// 4GL hosts often cannot pass NULL for a string.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn opt_str<'a>(ptr: *const c_char, name: &str) -> FfiResult<Option<&'a str>> {
    // SAFETY: forwarded from the caller.
    Ok(unsafe { any_str(ptr, name) }?.filter(|s| !s.is_empty()))
}

/// A NUL-terminated UTF-8 string argument, `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
unsafe fn any_str<'a>(ptr: *const c_char, name: &str) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: `ptr` is not NULL, and the caller guarantees it is NUL-terminated and live.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    std::str::from_utf8(bytes).map(Some).map_err(|e| {
        FfiError::new(
            DPOP_ERR_INVALID_UTF8,
            format!(
                "argument '{name}' is not valid UTF-8 (at byte {})",
                e.valid_up_to()
            ),
        )
    })
}

/// A byte-buffer argument; `len` 0 allows a NULL `ptr`.
///
/// # Safety
/// `ptr` is NULL or valid for reads of `len` bytes for `'a`.
pub(crate) unsafe fn arg_bytes<'a>(ptr: *const u8, len: usize, name: &str) -> FfiResult<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(null_error(name));
    }
    // SAFETY: `ptr` is not NULL and the caller guarantees `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Copies `s` with a terminating NUL into the caller's buffer.
///
/// `*out_size` (when `out_size` is not NULL) receives the bytes needed, NUL included, both on
/// success and on `DPOP_ERR_BUFFER_TOO_SMALL`; the buffer is written only on success.
///
/// # Safety
/// `buf` is NULL or valid for writes of `buf_len` bytes; `out_size` is NULL or valid for a
/// write.
pub(crate) unsafe fn write_string(
    s: &str,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> FfiResult<()> {
    let needed = s.len() + 1;
    if !out_size.is_null() {
        // SAFETY: `out_size` is not NULL and the caller guarantees it is writable.
        unsafe { out_size.write(needed) };
    }
    if buf.is_null() || buf_len < needed {
        return Err(FfiError::new(
            DPOP_ERR_BUFFER_TOO_SMALL,
            format!("the output buffer holds {buf_len} bytes; {needed} are needed"),
        ));
    }
    // SAFETY: `buf` holds at least `needed` bytes (checked above) and cannot overlap `s`,
    // which libdpop owns.
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), s.len());
        buf.add(s.len()).write(0);
    }
    Ok(())
}

/// Copies a handle's last-error text out without touching any error record, so that asking
/// for the text (even with a too-small buffer) never replaces it.
///
/// # Safety
/// As for [`write_string`].
pub(crate) unsafe fn write_error_text(
    text: &str,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    // SAFETY: forwarded from the caller.
    match unsafe { write_string(text, buf, buf_len, out_size) } {
        Ok(()) => DPOP_OK,
        Err(e) => e.code,
    }
}
