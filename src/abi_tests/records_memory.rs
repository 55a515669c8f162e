//! Handles take their records with them: create/use/free cycles across threads leave the
//! process's live memory where it was. Every allocation of the test binary is counted, so the
//! test runs in a process of its own: it starts this binary again with only itself selected.

use super::{fail, get, responder, OPEN_CONNECTIONS};
use crate::http::{dpop_http_free, dpop_http_new};
use std::alloc::{GlobalAlloc, Layout, System};
use std::process::Command;
use std::sync::atomic::{AtomicIsize, AtomicPtr, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

/// Counts the bytes allocated and not yet freed.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator with the same arguments; the
// counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `layout` has a non-zero size, as `GlobalAlloc::alloc` requires of our caller;
        // the system allocator asks nothing more.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` (through `alloc` above) with `layout`, as
        // `GlobalAlloc::dealloc` requires of our caller.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with `layout` and `new_size` is non-zero, as
        // `GlobalAlloc::realloc` requires of our caller.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Set in the process that measures.
const CHILD: &str = "DPOP_RECORDS_MEMORY_CHILD";

/// 10,000 rounds: one thread makes a handle, four threads each get a body and an error on it,
/// another thread frees it. Every record must go with its handle.
#[test]
#[cfg_attr(miri, ignore = "starts a process and talks to a loopback responder")]
fn create_use_free_cycles_across_threads_leave_memory_flat() {
    if std::env::var_os(CHILD).is_some() {
        return measure();
    }
    let path = module_path!().split_once("::").map_or("", |(_, p)| p);
    let name = format!("{path}::create_use_free_cycles_across_threads_leave_memory_flat");
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &name, "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    print!("{stdout}{}", String::from_utf8_lossy(&child.stderr));
    assert!(
        child.status.success(),
        "the measuring process failed: {}",
        child.status
    );
    assert!(
        stdout.contains("live bytes after") && stdout.contains("1 passed"),
        "the measuring process did not run the test"
    );
}

fn measure() {
    const THREADS: usize = 4;
    const WARM_UP: usize = 200;
    const ROUNDS: usize = 10_000;
    let url = responder();
    let current = AtomicPtr::new(std::ptr::null_mut());
    let barrier = Barrier::new(THREADS);
    let measured = Mutex::new((0isize, 0isize));
    let settle = || {
        // Wait until the responder has seen every connection close (each handle's pool closes
        // its connections when freed), so its buffers are not counted.
        let deadline = Instant::now() + Duration::from_secs(30);
        while OPEN_CONNECTIONS.load(Ordering::SeqCst) > 0 {
            assert!(
                Instant::now() < deadline,
                "the responder's connections did not close"
            );
            std::thread::yield_now();
        }
        LIVE_BYTES.load(Ordering::SeqCst)
    };
    std::thread::scope(|s| {
        for id in 0..THREADS {
            let (url, current, barrier, measured) = (&url, &current, &barrier, &measured);
            s.spawn(move || {
                for round in 0..WARM_UP + ROUNDS {
                    if round == WARM_UP || round == WARM_UP + ROUNDS - 1 {
                        if barrier.wait().is_leader() {
                            let live = settle();
                            let mut m = measured.lock().unwrap();
                            if round == WARM_UP {
                                m.0 = live;
                            } else {
                                m.1 = live;
                            }
                        }
                        barrier.wait();
                    }
                    if round % THREADS == id {
                        current.store(dpop_http_new(), Ordering::SeqCst);
                    }
                    barrier.wait();
                    let http = current.load(Ordering::SeqCst);
                    get(http, url);
                    fail(http);
                    barrier.wait();
                    if (round + 1) % THREADS == id {
                        dpop_http_free(http);
                    }
                }
            });
        }
    });
    let (before, after) = *measured.lock().unwrap();
    let growth = after - before;
    println!("live bytes after {WARM_UP} rounds: {before}; after {ROUNDS} more: {after} ({growth:+})");
    assert!(
        growth.abs() < 64 * 1024,
        "{ROUNDS} create/use/free rounds changed live memory by {growth} bytes"
    );
}
