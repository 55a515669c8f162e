//! C handles: how each handle type is owned, declared once per type, and the one place where
//! handles are created, borrowed and freed.
//!
//! A handle is a Rust value the host holds through an opaque pointer (`dpop_key *`, ...). Its
//! type implements [`Handle`] and names its [`Ownership`]: [`Boxed`] when the host's pointer
//! is the only owner, [`Shared`] when libdpop may hold references of its own. No export
//! converts a handle pointer any other way.

use crate::boundary::{call, call_value, read_only, FfiError, FfiResult, OutString};
use crate::error::{dpop_status, DPOP_ERR_NULL_POINTER, DPOP_ERR_PANIC, DPOP_OK};
use crate::records::Records;
use std::ffi::c_char;

/// A Rust value handed to the host as an opaque pointer.
pub(crate) trait Handle: Sized + Send + Sync + 'static {
    /// The handle's parameter name in messages: `"key"`, `"http"`, `"response"`.
    const PARAM: &'static str;

    /// How the host's pointer owns the value.
    type Ownership: Ownership;

    /// The handle's per-thread results (last error text, status, returned body), for handle
    /// types that keep them.
    fn records(&self) -> Option<&Records> {
        None
    }

    /// Hands the value to the host: the pointer a `_new` function returns.
    fn into_raw(self) -> *mut Self {
        Self::Ownership::into_raw(self)
    }

    /// Borrows the handle behind a host pointer, or fails with `DPOP_ERR_NULL_POINTER`.
    ///
    /// # Safety
    /// `ptr` is NULL or came from [`Handle::into_raw`], has not been freed, and stays alive for
    /// `'a` (a host frees a handle only when no call uses it).
    unsafe fn borrow<'a>(ptr: *const Self) -> FfiResult<&'a Self> {
        // SAFETY: by this function's contract a non-NULL `ptr` points to a live `Self` for 'a.
        unsafe { ptr.as_ref() }.ok_or_else(|| FfiError::null(Self::PARAM))
    }

    /// Gives the host's reference back, the body of every `_free` function; NULL is ignored.
    ///
    /// # Safety
    /// `ptr` is NULL or came from [`Handle::into_raw`], is freed only once, and no other call
    /// uses it any more.
    unsafe fn free(ptr: *mut Self) {
        if !ptr.is_null() {
            // SAFETY: by this function's contract `ptr` is the host's reference, given back once.
            unsafe { Self::Ownership::release(ptr) }
        }
    }
}

/// How a handle's memory is owned; implemented by [`Boxed`] and [`Shared`] only.
pub(crate) trait Ownership {
    /// Moves `value` to the heap and returns the host's pointer to it.
    fn into_raw<T>(value: T) -> *mut T;

    /// Gives back the host's reference, dropping the value if it was the last one.
    ///
    /// # Safety
    /// `ptr` is not NULL, came from this ownership's `into_raw` for the same `T`, and is
    /// released only once.
    unsafe fn release<T>(ptr: *mut T);
}

/// The host's pointer is the value's only owner (a `Box`): `_free` drops the value.
pub(crate) enum Boxed {}

impl Ownership for Boxed {
    fn into_raw<T>(value: T) -> *mut T {
        Box::into_raw(Box::new(value))
    }

    unsafe fn release<T>(ptr: *mut T) {
        // SAFETY: `ptr` came from `Box::into_raw` in `into_raw` and is released once.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// The host's pointer is one reference of an `Arc`: libdpop may hold others (a worker thread
/// finishing an asynchronous call), and the value is dropped with the last reference.
pub(crate) enum Shared {}

impl Ownership for Shared {
    fn into_raw<T>(value: T) -> *mut T {
        std::sync::Arc::into_raw(std::sync::Arc::new(value)).cast_mut()
    }

    unsafe fn release<T>(ptr: *mut T) {
        // SAFETY: `ptr` came from `Arc::into_raw` in `into_raw`, and the host's reference is
        // released once.
        drop(unsafe { std::sync::Arc::from_raw(ptr.cast_const()) });
    }
}

/// A new reference to a [`Shared`] handle, for libdpop's own use beside the host's.
///
/// # Safety
/// As for [`Handle::borrow`].
pub(crate) unsafe fn share<H: Handle<Ownership = Shared>>(ptr: *const H) -> FfiResult<std::sync::Arc<H>> {
    if ptr.is_null() {
        return Err(FfiError::null(H::PARAM));
    }
    // SAFETY: by this function's contract `ptr` came from `Arc::into_raw` in
    // `Shared::into_raw` and the host still holds that reference. The raw pointer itself is
    // used, not a reference made from it, whose provenance would not reach the reference
    // counts in front of the value. The count rises before the new `Arc` is made, so the
    // host's reference is left as it was.
    unsafe {
        std::sync::Arc::increment_strong_count(ptr);
        Ok(std::sync::Arc::from_raw(ptr))
    }
}

/// The body of every `_new` export: makes the handle behind the panic boundary, NULL if that
/// fails.
pub(crate) fn new<H: Handle>(function: &str, make: impl FnOnce() -> H) -> *mut H {
    call_value(function, std::ptr::null_mut(), |_| Ok(make().into_raw()))
}

/// The body of every `_free` export: gives the host's reference back behind the panic
/// boundary; NULL is ignored.
///
/// # Safety
/// As for [`Handle::free`].
pub(crate) unsafe fn free<H: Handle>(function: &str, ptr: *mut H) {
    call(function, |_| {
        // SAFETY: `ptr` is NULL or the host's reference, freed once and no longer used (this
        // function's contract), which is all `Handle::free` needs.
        unsafe { H::free(ptr) };
        Ok(())
    });
}

/// The body of every `*_last_error_text` export: copies the message of the calling thread's
/// last call on the handle (`""` after a success, or when it made none) into the caller's
/// buffer.
///
/// It changes no record, the thread's included, so asking for the text (even with a buffer
/// that is too small) never replaces the text being asked for.
///
/// # Safety
/// `handle` is NULL or a live handle; `buf` is NULL or valid for writes of `buf_len` bytes;
/// `out_size` is NULL or valid for a write.
pub(crate) unsafe fn last_error_text<H: Handle>(
    handle: *const H,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    read_only(DPOP_ERR_PANIC, || {
        // SAFETY: `handle` is NULL or a live handle (this function's contract).
        let Ok(handle) = (unsafe { H::borrow(handle) }) else {
            return DPOP_ERR_NULL_POINTER;
        };
        // SAFETY: `buf` is NULL or `buf_len` writable bytes and `out_size` NULL or writable
        // (this function's contract).
        let out = unsafe { OutString::new(buf, buf_len, out_size) };
        let written = match handle.records() {
            Some(records) => records.read(|record| out.write(record.map_or("", |r| r.error.as_str()))),
            None => out.write(""),
        };
        written.map_or_else(|e| e.code, |()| DPOP_OK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static DROPS: AtomicUsize = AtomicUsize::new(0);

    struct Counted;

    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }

    struct SharedThing(#[allow(dead_code)] Counted);

    impl Handle for SharedThing {
        const PARAM: &'static str = "thing";
        type Ownership = Shared;
    }

    #[test]
    fn a_shared_handle_lives_until_its_last_reference_is_gone() {
        let before = DROPS.load(Ordering::SeqCst);
        let ptr = SharedThing(Counted).into_raw();
        // SAFETY: `ptr` is a live handle from `into_raw`.
        let ours = unsafe { share(ptr) }.unwrap();
        // SAFETY: `ptr` came from `into_raw` and is freed once.
        unsafe { SharedThing::free(ptr) };
        assert_eq!(
            DROPS.load(Ordering::SeqCst),
            before,
            "libdpop's reference keeps it alive"
        );
        drop(ours);
        assert_eq!(DROPS.load(Ordering::SeqCst), before + 1);
    }

    #[test]
    fn null_handles_are_refused_by_name_and_freeing_null_does_nothing() {
        // SAFETY: NULL is allowed.
        let err = unsafe { SharedThing::borrow(std::ptr::null()) }.err().unwrap();
        assert_eq!(err.code, DPOP_ERR_NULL_POINTER);
        assert_eq!(err.message, "argument 'thing' is NULL");
        // SAFETY: NULL is allowed.
        unsafe { SharedThing::free(std::ptr::null_mut()) };
    }
}
