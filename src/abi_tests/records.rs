//! Each handle's per-thread records (last error text, last status, the string `dpop_http_get`
//! returned), through the real exports: they belong to the calling thread, and they never leak
//! into a new handle, even one placed at the address of a freed handle.

use super::{error_text, fail, get, responder, Shared};
use crate::http::{dpop_http_free, dpop_http_get, dpop_http_last_status, dpop_http_new};
use std::ffi::CStr;

#[test]
#[cfg_attr(miri, ignore = "talks to a loopback responder")]
fn a_new_handle_at_a_freed_handles_address_reports_nothing_of_the_old_one() {
    let url = responder();
    let mut reused = 0;
    for _ in 0..20 {
        let old = Shared(dpop_http_new());
        // Thread A fails on the handle and gets a response from it.
        std::thread::scope(|s| {
            s.spawn(|| {
                get(old.ptr(), &url);
                fail(old.ptr());
                assert!(error_text(old.ptr()).contains("timeouts must be greater than 0"));
                assert_eq!(dpop_http_last_status(old.ptr()), 200);
            });
        });
        // Thread B (this one) frees it and makes a new one, which the allocator tends to
        // place at the same address; thread A then asks the new handle.
        dpop_http_free(old.ptr());
        let new = Shared(dpop_http_new());
        reused += usize::from(new.ptr() == old.ptr());
        std::thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(error_text(new.ptr()), "");
                assert_eq!(dpop_http_last_status(new.ptr()), 0);
            });
        });
        assert_eq!(error_text(new.ptr()), "");
        dpop_http_free(new.ptr());
    }
    assert!(
        reused > 0,
        "no new handle was placed at a freed handle's address: the case was not tried"
    );
}

#[test]
#[cfg_attr(miri, ignore = "talks to a loopback responder")]
fn the_string_from_get_stays_valid_until_the_same_threads_next_get() {
    let url = responder();
    let http = Shared(dpop_http_new());
    let first = dpop_http_get(http.ptr(), url.as_ptr());
    assert!(!first.is_null());
    // SAFETY: valid until this thread's next get on the handle.
    let seen = unsafe { CStr::from_ptr(first) }.to_owned();
    // Other threads' gets and this thread's other calls leave the string alone.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..25 {
                    get(http.ptr(), &url);
                    fail(http.ptr());
                }
            });
        }
    });
    fail(http.ptr());
    assert_eq!(dpop_http_last_status(http.ptr()), 200);
    // SAFETY: this thread has made no get on the handle since `first`.
    assert_eq!(unsafe { CStr::from_ptr(first) }, seen.as_c_str());
    let second = get(http.ptr(), &url);
    assert_ne!(second.as_bytes(), seen.as_bytes());
    dpop_http_free(http.ptr());
}
