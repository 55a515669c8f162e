//! What every export shares: the panic boundary, the outcome records, the conversion of raw
//! arguments (strings and bytes in, strings out) and the thread's last error.

use crate::error::{
    code_of, dpop_status, DPOP_ERR_BUFFER_TOO_SMALL, DPOP_ERR_INVALID_UTF8, DPOP_ERR_NULL_POINTER,
    DPOP_ERR_PANIC, DPOP_OK,
};
use crate::handle::Handle;
use crate::records::Records;
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A failure on its way to C: a status code and a message (which never holds a secret).
#[derive(Debug)]
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

    /// A required pointer argument is NULL.
    pub(crate) fn null(name: &str) -> Self {
        Self::new(DPOP_ERR_NULL_POINTER, format!("argument '{name}' is NULL"))
    }
}

impl From<dpop_core::Error> for FfiError {
    fn from(e: dpop_core::Error) -> Self {
        Self::new(code_of(e.kind()), e.message())
    }
}

pub(crate) type FfiResult<T> = Result<T, FfiError>;

/// One export call in progress: the handle whose records receive its outcome, once known.
pub(crate) struct Call<'a> {
    records: Option<&'a Records>,
}

impl<'a> Call<'a> {
    /// Borrows the handle the call is made on (the first parameter of most exports). The
    /// call's outcome is then recorded on it for the calling thread, besides the thread's last
    /// error.
    ///
    /// # Safety
    /// As for [`Handle::borrow`], with the handle alive for `'a`.
    pub(crate) unsafe fn handle<H: Handle>(&mut self, ptr: *const H) -> FfiResult<&'a H> {
        // SAFETY: `ptr` is NULL or a live handle that outlives 'a (this function's contract),
        // which is all `borrow` needs.
        let handle = unsafe { H::borrow(ptr) }?;
        self.records = handle.records();
        Ok(handle)
    }
}

/// Runs the body of an export that returns a status: catches panics, records the outcome on
/// the call's handle and failures for the thread, and returns the status code. `function`
/// starts every message, so that a log line says where it came from.
pub(crate) fn call<'a>(function: &str, body: impl FnOnce(&mut Call<'a>) -> FfiResult<()>) -> dpop_status {
    run(function, body).err().unwrap_or(DPOP_OK)
}

/// Like [`call`] for exports that return a value instead of a status: `fallback` on failure.
pub(crate) fn call_value<'a, T>(
    function: &str,
    fallback: T,
    body: impl FnOnce(&mut Call<'a>) -> FfiResult<T>,
) -> T {
    run(function, body).unwrap_or(fallback)
}

fn run<'a, T>(function: &str, body: impl FnOnce(&mut Call<'a>) -> FfiResult<T>) -> Result<T, dpop_status> {
    let mut call = Call { records: None };
    let outcome = catch_unwind(AssertUnwindSafe(|| body(&mut call)));
    let records = call.records;
    let (code, message) = match outcome {
        Ok(Ok(value)) => {
            if let Some(records) = records {
                // Recording is behind the boundary too (a thread being torn down, say).
                let _ = catch_unwind(AssertUnwindSafe(|| records.clear_error()));
            }
            return Ok(value);
        }
        Ok(Err(e)) => (e.code, e.message),
        Err(_) => (
            DPOP_ERR_PANIC,
            "internal error in libdpop (caught panic); please report it".to_string(),
        ),
    };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let text = format!("{function}: {message}");
        if let Some(records) = records {
            records.update(|r| {
                r.note = None;
                r.failed = true;
                r.error.clear();
                r.error.push_str(&text);
            });
        }
        set_thread_error(code, &text);
    }));
    Err(code)
}

/// The panic boundary of the exports that only read (error records, status, response parts):
/// records nothing, so asking never changes what is asked about; `fallback` if the body panics.
pub(crate) fn read_only<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

thread_local! {
    static THREAD_ERROR: RefCell<(dpop_status, CString)> = RefCell::new((DPOP_OK, CString::default()));
}

/// Turns a message into a C string, replacing any NUL byte so nothing is cut off.
pub(crate) fn to_cstring(message: &str) -> CString {
    CString::new(message.replace('\0', "\\0")).unwrap_or_default()
}

fn set_thread_error(code: dpop_status, message: &str) {
    let text = to_cstring(message);
    // During the thread's teardown the record may be gone: the status code still returns.
    let _ = THREAD_ERROR.try_with(|cell| *cell.borrow_mut() = (code, text));
}

/// The code of this thread's last failure.
pub(crate) fn thread_error_code() -> dpop_status {
    THREAD_ERROR.try_with(|cell| cell.borrow().0).unwrap_or(DPOP_OK)
}

/// Points into this thread's record; the pointer stays valid until the record is replaced,
/// which only a failing call on this same thread does.
pub(crate) fn thread_error_message() -> *const c_char {
    THREAD_ERROR
        .try_with(|cell| cell.borrow().1.as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// A required NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays unchanged for `'a`.
pub(crate) unsafe fn arg_str<'a>(ptr: *const c_char, name: &str) -> FfiResult<&'a str> {
    // SAFETY: `ptr` is NULL or a NUL-terminated string unchanged for 'a (this function's
    // contract), which is all `any_str` needs.
    unsafe { any_str(ptr, name) }?.ok_or_else(|| FfiError::null(name))
}

/// An optional NUL-terminated UTF-8 string argument: NULL and `""` both give `None`, since
/// 4GL hosts often cannot pass NULL for a string.
///
/// # Safety
/// As for [`arg_str`].
pub(crate) unsafe fn opt_str<'a>(ptr: *const c_char, name: &str) -> FfiResult<Option<&'a str>> {
    // SAFETY: `ptr` is NULL or a NUL-terminated string unchanged for 'a (this function's
    // contract), which is all `any_str` needs.
    Ok(unsafe { any_str(ptr, name) }?.filter(|s| !s.is_empty()))
}

/// A NUL-terminated UTF-8 string argument, `None` for NULL.
///
/// # Safety
/// As for [`arg_str`].
unsafe fn any_str<'a>(ptr: *const c_char, name: &str) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: `ptr` is not NULL, so by this function's contract it is a NUL-terminated string
    // that stays unchanged for 'a.
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

/// A byte-buffer argument of `len` bytes; `len` 0 allows a NULL `ptr`.
///
/// # Safety
/// `ptr` is NULL or valid for reads of `len` bytes that stay unchanged for `'a`.
pub(crate) unsafe fn arg_bytes<'a>(ptr: *const u8, len: usize, name: &str) -> FfiResult<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(FfiError::null(name));
    }
    // SAFETY: `ptr` is not NULL, so by this function's contract it is `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A string-out argument: the caller's buffer `buf` of `buf_len` bytes and `out_size`, which
/// receives the bytes needed (NUL included) on success and on `DPOP_ERR_BUFFER_TOO_SMALL`.
/// The buffer is written only on success; `buf` NULL asks for the size.
pub(crate) struct OutString {
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
}

impl OutString {
    /// Takes the three raw parameters of a string-out argument.
    ///
    /// # Safety
    /// `buf` is NULL or valid for writes of `buf_len` bytes, `out_size` is NULL or valid for a
    /// write, both until the export returns, and neither overlaps memory libdpop reads.
    pub(crate) unsafe fn new(buf: *mut c_char, buf_len: usize, out_size: *mut usize) -> Self {
        Self {
            buf,
            buf_len,
            out_size,
        }
    }

    /// Copies `s` and a terminating NUL into the buffer, or reports the size needed.
    pub(crate) fn write(self, s: &str) -> FfiResult<()> {
        let needed = s.len() + 1;
        if !self.out_size.is_null() {
            // SAFETY: `out_size` is not NULL, so by `new`'s contract it is writable.
            unsafe { self.out_size.write(needed) };
        }
        if self.buf.is_null() || self.buf_len < needed {
            return Err(FfiError::new(
                DPOP_ERR_BUFFER_TOO_SMALL,
                format!(
                    "the output buffer holds {} bytes; {needed} are needed",
                    self.buf_len
                ),
            ));
        }
        // SAFETY: `buf` is not NULL and holds at least `needed` writable bytes (checked above,
        // and `new`'s contract), and it does not overlap `s`, which libdpop owns.
        unsafe {
            std::ptr::copy_nonoverlapping(s.as_ptr(), self.buf.cast::<u8>(), s.len());
            self.buf.add(s.len()).write(0);
        }
        Ok(())
    }
}

/// An out-pointer argument (`T **out`), written only on success.
pub(crate) struct OutPtr<T> {
    ptr: *mut *mut T,
}

impl<T> OutPtr<T> {
    /// Takes a raw out-pointer, refusing NULL.
    ///
    /// # Safety
    /// `ptr` is NULL or valid for a write of one pointer until the export returns.
    pub(crate) unsafe fn new(ptr: *mut *mut T, name: &str) -> FfiResult<Self> {
        if ptr.is_null() {
            return Err(FfiError::null(name));
        }
        Ok(Self { ptr })
    }

    /// Stores `value` for the caller.
    pub(crate) fn write(self, value: *mut T) {
        // SAFETY: `ptr` is not NULL (checked in `new`) and by `new`'s contract writable.
        unsafe { self.ptr.write(value) }
    }
}

#[cfg(test)]
mod tests {
    //! The conversions and the panic boundary on their own; `make miri` runs these under Miri.
    use super::*;
    use crate::error::{DPOP_ERR_INVALID_UTF8, DPOP_ERR_PANIC};

    #[test]
    fn strings_in_are_checked_for_null_and_utf8() {
        let good = c"héllo";
        // SAFETY: a NUL-terminated string that outlives the call.
        assert_eq!(unsafe { arg_str(good.as_ptr(), "s") }.unwrap(), "héllo");
        // SAFETY: NULL is allowed.
        let null = unsafe { arg_str(std::ptr::null(), "s") }.unwrap_err();
        assert_eq!(
            (null.code, null.message.as_str()),
            (DPOP_ERR_NULL_POINTER, "argument 's' is NULL")
        );
        let bad = c"a\xffb";
        // SAFETY: a NUL-terminated string that outlives the call.
        let bad = unsafe { arg_str(bad.as_ptr(), "s") }.unwrap_err();
        assert_eq!(bad.code, DPOP_ERR_INVALID_UTF8);
        assert!(bad.message.contains("at byte 1"), "{}", bad.message);
        // SAFETY: NULL and a NUL-terminated string.
        unsafe {
            assert_eq!(opt_str(std::ptr::null(), "o").unwrap(), None);
            assert_eq!(opt_str(c"".as_ptr(), "o").unwrap(), None, "\"\" means absent");
        }
    }

    #[test]
    fn byte_buffers_may_be_null_only_when_empty() {
        let data = [1u8, 2, 3];
        // SAFETY: `data` is 3 readable bytes; NULL with 0 and NULL with 3 are what is tested.
        unsafe {
            assert_eq!(arg_bytes(data.as_ptr(), 3, "d").unwrap(), &data);
            assert!(arg_bytes(std::ptr::null(), 0, "d").unwrap().is_empty());
            assert_eq!(
                arg_bytes(std::ptr::null(), 3, "d").unwrap_err().code,
                DPOP_ERR_NULL_POINTER
            );
        }
    }

    #[test]
    fn strings_out_are_written_only_when_they_fit() {
        let mut buf = [b'#' as c_char; 8];
        let mut size = 0usize;
        // SAFETY: `buf` is 8 writable bytes and `size` is writable, for each call below.
        let small = unsafe { OutString::new(buf.as_mut_ptr(), 5, &mut size) }.write("hello");
        assert_eq!(small.unwrap_err().code, DPOP_ERR_BUFFER_TOO_SMALL);
        assert_eq!(size, 6, "the size needed, NUL included");
        assert!(buf.iter().all(|&b| b == b'#' as c_char), "nothing written");
        // SAFETY: as above.
        unsafe { OutString::new(buf.as_mut_ptr(), 6, &mut size) }
            .write("hello")
            .unwrap();
        assert_eq!(
            &buf[..6],
            c"hello"
                .to_bytes_with_nul()
                .iter()
                .map(|&b| b as c_char)
                .collect::<Vec<_>>()
        );
        // SAFETY: NULL buffer and NULL size are allowed.
        let query = unsafe { OutString::new(std::ptr::null_mut(), 0, std::ptr::null_mut()) }.write("x");
        assert_eq!(query.unwrap_err().code, DPOP_ERR_BUFFER_TOO_SMALL);
    }

    #[test]
    fn out_pointers_refuse_null_and_are_written_once() {
        let mut slot: *mut u8 = std::ptr::null_mut();
        let mut value = 7u8;
        // SAFETY: `slot` is writable; NULL is what is tested next.
        unsafe {
            OutPtr::new(&mut slot, "out").unwrap().write(&mut value);
            assert_eq!(
                OutPtr::<u8>::new(std::ptr::null_mut(), "out").err().unwrap().code,
                DPOP_ERR_NULL_POINTER
            );
        }
        assert_eq!(slot, &mut value as *mut u8);
    }

    #[test]
    fn a_panic_in_a_body_becomes_a_status_and_a_message() {
        let status = call("dpop_test_panic", |_| panic!("boom"));
        assert_eq!(status, DPOP_ERR_PANIC);
        assert_eq!(thread_error_code(), DPOP_ERR_PANIC);
        // SAFETY: the thread's message is a NUL-terminated string valid until the next failure.
        let message = unsafe { CStr::from_ptr(thread_error_message()) }
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            message.starts_with("dpop_test_panic: internal error"),
            "{message}"
        );
        assert_eq!(call_value("dpop_test_value", 9, |_| Ok(3)), 3);
        assert_eq!(call_value("dpop_test_value", 9, |_| Err(FfiError::null("x"))), 9);
    }
}
