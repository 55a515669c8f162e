//! Cancelling a request in flight (a task's `cancel`): a flag the request looks at before each
//! exchange and in every wait of its own (a `Retry-After` pause, another request's token
//! fetch, a connect or a name lookup on a helper thread, a read or a write that has to wait:
//! see [`interrupt`](super::interrupt)); a cancel wakes the waits at once.
//!
//! The request carries its [`Cancel`] down to [`transport::send`](super::transport::send) as an
//! argument. ureq gives a connection no per-request context, so `send` lends it to the calling
//! thread for the one exchange ([`lend`]); the wrappers read it there ([`lent`]). A call that
//! nothing can cancel (a synchronous request) carries [`Cancel::NEVER`], which costs nothing
//! and lends nothing.

use crate::error::{Error, ErrorKind, Result};
use parking_lot::{Condvar, Mutex};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a wait that a cancel cannot wake (a connect or a name lookup on a helper thread,
/// another request's token fetch) lasts before it looks at the flag again: the longest a
/// cancel goes unnoticed there. Also the longest pause between a cancellable call's attempts
/// to read or write.
pub(crate) const SLICE: Duration = Duration::from_millis(25);

/// The cancel flag of one request; clones share it.
#[derive(Clone, Default)]
pub(crate) struct Cancel(Option<Arc<Flag>>);

#[derive(Default)]
struct Flag {
    set: AtomicBool,
    /// Wakes a [`Cancel::sleep`] at once.
    lock: Mutex<()>,
    wake: Condvar,
}

impl Cancel {
    /// The flag of a call that cannot be cancelled (a synchronous request).
    pub(crate) const NEVER: Cancel = Cancel(None);

    /// A flag that [`Cancel::cancel`] sets.
    pub(crate) fn new() -> Self {
        Cancel(Some(Arc::default()))
    }

    /// Asks the request to stop at its next step, and wakes its [`Cancel::sleep`]; any thread
    /// may call it, more than once.
    pub(crate) fn cancel(&self) {
        if let Some(flag) = &self.0 {
            flag.set.store(true, Ordering::SeqCst);
            let _sleepers = flag.lock.lock();
            flag.wake.notify_all();
        }
    }

    /// Whether `other` is a clone of this flag (two `NEVER`s are the same too).
    pub(crate) fn same(&self, other: &Cancel) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.set.load(Ordering::SeqCst))
    }

    /// Whether this call can be cancelled at all (blocking steps then wait in slices).
    pub(crate) fn can_cancel(&self) -> bool {
        self.0.is_some()
    }

    /// `Err(Cancelled)` once the flag is set.
    pub(crate) fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            return Err(cancelled());
        }
        Ok(())
    }

    /// Sleeps for `wait`, or until the flag is set (then `Err(Cancelled)`).
    pub(crate) fn sleep(&self, wait: Duration) -> Result<()> {
        let Some(flag) = &self.0 else {
            std::thread::sleep(wait);
            return Ok(());
        };
        let until = Instant::now() + wait;
        let mut guard = flag.lock.lock();
        while !flag.set.load(Ordering::SeqCst) {
            if flag.wake.wait_until(&mut guard, until).timed_out() {
                break;
            }
        }
        drop(guard);
        self.check()
    }
}

/// The error of a cancelled call.
pub(crate) fn cancelled() -> Error {
    Error::new(
        ErrorKind::Cancelled,
        "the request was cancelled (a request already sent may have reached the server)",
    )
}

thread_local! {
    static LENT: RefCell<Cancel> = const { RefCell::new(Cancel::NEVER) };
}

/// The cancel flag lent to this thread, given back (the one before restored) when dropped.
pub(crate) struct Lent(Cancel);

/// Lends `cancel` to the calling thread while the returned guard lives.
pub(crate) fn lend(cancel: &Cancel) -> Lent {
    let before = LENT
        .try_with(|lent| lent.replace(cancel.clone()))
        .unwrap_or_default();
    Lent(before)
}

impl Drop for Lent {
    fn drop(&mut self) {
        let before = std::mem::take(&mut self.0);
        let _ = LENT.try_with(|lent| *lent.borrow_mut() = before);
    }
}

/// The cancel flag lent to the calling thread, [`Cancel::NEVER`] when none is.
pub(crate) fn lent() -> Cancel {
    LENT.try_with(|lent| lent.borrow().clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancel_wakes_a_sleep_and_every_clone_sees_it() {
        let cancel = Cancel::new();
        let other = cancel.clone();
        let sleeper = std::thread::spawn(move || other.sleep(Duration::from_secs(600)));
        // The sleeper may or may not have started sleeping: either way it ends at once.
        cancel.cancel();
        assert_eq!(sleeper.join().unwrap().unwrap_err().kind(), ErrorKind::Cancelled);
        assert!(cancel.is_cancelled());
        assert!(!Cancel::NEVER.is_cancelled() && !Cancel::NEVER.can_cancel());
        Cancel::NEVER.cancel();
        assert!(Cancel::NEVER.check().is_ok(), "NEVER cannot be cancelled");
    }

    #[test]
    fn a_lent_flag_is_seen_on_its_thread_only_and_given_back() {
        let cancel = Cancel::new();
        {
            let _lent = lend(&cancel);
            assert!(lent().can_cancel());
            std::thread::spawn(|| assert!(!lent().can_cancel()))
                .join()
                .unwrap();
            {
                let _inner = lend(&Cancel::NEVER);
                assert!(!lent().can_cancel());
            }
            cancel.cancel();
            assert!(lent().is_cancelled(), "the outer flag is back");
        }
        assert!(!lent().can_cancel(), "nothing is lent any more");
    }
}
