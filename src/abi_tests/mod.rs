//! Tests of the C ABI's records through the exports themselves (they were integration tests
//! once; the crate builds no rlib, see `Cargo.toml`), and what they share: a minimal
//! keep-alive HTTP responder on 127.0.0.1 that answers every request `200` with a numbered
//! body and keeps nothing, and small wrappers over the exports.

mod records;
mod records_memory;

use crate::error::DPOP_OK;
use crate::http::{dpop_http, dpop_http_get, dpop_http_last_error_text, dpop_http_set_timeouts};
use std::ffi::{c_char, CStr, CString};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Open connections of the responder, so the memory test can wait until all have closed.
pub(crate) static OPEN_CONNECTIONS: AtomicUsize = AtomicUsize::new(0);
/// Bodies are numbered so that two responses never look alike.
static RESPONSES: AtomicUsize = AtomicUsize::new(0);

/// Starts the responder and returns the URL to GET.
pub(crate) fn responder() -> CString {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/r", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            OPEN_CONNECTIONS.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                serve(stream);
                OPEN_CONNECTIONS.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    CString::new(url).unwrap()
}

fn serve(stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut line = String::new();
    loop {
        // Read one request head (GET requests carry no body).
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        let body = format!("hello {}", RESPONSES.fetch_add(1, Ordering::SeqCst));
        let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// A handle pointer that may cross threads (the exports are thread-safe).
#[derive(Clone, Copy)]
pub(crate) struct Shared(pub(crate) *mut dpop_http);
// SAFETY: a `dpop_http` may be used from several threads at once (its header says so); the
// pointer itself is only an address.
unsafe impl Send for Shared {}
// SAFETY: `&Shared` only hands out the same thread-safe handle pointer.
unsafe impl Sync for Shared {}

impl Shared {
    /// The pointer (a method, so that closures capture the whole `Shared`).
    pub(crate) fn ptr(self) -> *mut dpop_http {
        self.0
    }
}

pub(crate) fn error_text(http: *const dpop_http) -> String {
    let mut buf = [0 as c_char; 512];
    let status = dpop_http_last_error_text(http, buf.as_mut_ptr(), buf.len(), std::ptr::null_mut());
    assert_eq!(status, DPOP_OK);
    // SAFETY: on DPOP_OK the buffer holds a NUL-terminated string.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .unwrap()
        .to_string()
}

pub(crate) fn get(http: *mut dpop_http, url: &CString) -> String {
    let body = dpop_http_get(http, url.as_ptr());
    assert!(!body.is_null(), "{}", error_text(http));
    // SAFETY: a non-NULL result is a NUL-terminated string, valid until this thread's next get.
    unsafe { CStr::from_ptr(body) }.to_str().unwrap().to_string()
}

/// A failing call that records an error on the handle for the calling thread.
pub(crate) fn fail(http: *mut dpop_http) {
    assert_ne!(dpop_http_set_timeouts(http, 0, 0), DPOP_OK);
}
