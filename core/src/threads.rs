//! The threads libdpop starts for itself (task workers, name lookups and connects that a
//! deadline or a cancel must be able to abandon), counted, so that a host that unloads the
//! library (COM's `DllCanUnloadNow`) can wait until none of them runs its code any more.

use std::sync::atomic::{AtomicUsize, Ordering};

static ALIVE: AtomicUsize = AtomicUsize::new(0);

/// How many threads libdpop started are still running. A DLL must not be unloaded while this
/// is above 0: those threads run its code.
pub fn background_threads() -> usize {
    ALIVE.load(Ordering::SeqCst)
}

/// Counts one thread for as long as it lives.
struct Counted;

impl Drop for Counted {
    fn drop(&mut self) {
        ALIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Starts a detached thread named `name` running `work`, counted in [`background_threads`].
pub(crate) fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    ALIVE.fetch_add(1, Ordering::SeqCst);
    let counted = Counted;
    let started = std::thread::Builder::new().name(name.to_string()).spawn(move || {
        let _counted = counted;
        work();
    });
    // On failure the closure, and with it `counted`, has been dropped: the count is back.
    started.map(drop)
}
