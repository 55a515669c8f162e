//! Each handle's per-thread results: the outcome of a thread's last call on the handle
//! (Chilkat's `LastErrorText` and `LastStatus`) and the body `dpop_http_get` returned to it.
//!
//! The records live inside the handle, one per thread that called it, so threads sharing a
//! handle never see (or free) each other's results. Freeing the handle frees every thread's
//! record; a new handle, even at a reused address, starts with none; a thread that ends takes
//! its records out of the handles that are still alive; asking for a record never makes one.

use parking_lot::Mutex;
use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::ffi::CString;
use std::sync::{Arc, Weak};
use std::thread::ThreadId;

/// What a handle remembers for one thread.
#[derive(Default)]
pub(crate) struct Record {
    /// The message of the thread's last call on the handle, empty after a success.
    pub(crate) error: String,
    /// The HTTP status of the thread's last request (0: no response).
    pub(crate) status: i32,
    /// The body the thread's last `dpop_http_get` returned; the pointer handed out points here.
    pub(crate) body: Option<CString>,
    /// What a call that succeeds leaves as its error text instead of nothing: libdpop's
    /// diagnostic of a rejected DPoP proof, whose response the call still returns.
    pub(crate) note: Option<String>,
    /// Whether the thread's last call on the handle failed (COM's `LastMethodSuccess` is its
    /// negation: a returned response with a diagnostic is a success).
    pub(crate) failed: bool,
}

/// The records of one handle, by thread.
#[derive(Default)]
pub(crate) struct Records {
    map: Arc<RecordMap>,
}

#[derive(Default)]
struct RecordMap {
    by_thread: Mutex<HashMap<ThreadId, Record>>,
}

impl Records {
    /// Runs `f` on the calling thread's record, making it if the thread has none yet.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut Record) -> R) -> R {
        let thread = std::thread::current().id();
        let mut by_thread = self.map.by_thread.lock();
        let record = match by_thread.entry(thread) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                ThreadRecords::remember(thread, &self.map);
                entry.insert(Record::default())
            }
        };
        f(record)
    }

    /// Clears the calling thread's error text, if it has a record (a success makes none), or
    /// replaces it with the note the call left (see [`Record::note`]).
    pub(crate) fn clear_error(&self) {
        let thread = std::thread::current().id();
        if let Some(record) = self.map.by_thread.lock().get_mut(&thread) {
            record.error.clear();
            record.failed = false;
            if let Some(note) = record.note.take() {
                record.error.push_str(&note);
            }
        }
    }

    /// Runs `f` on the calling thread's record, or on `None` when it has none; never makes one.
    pub(crate) fn read<R>(&self, f: impl FnOnce(Option<&Record>) -> R) -> R {
        let thread = std::thread::current().id();
        f(self.map.by_thread.lock().get(&thread))
    }

    /// How many threads have a record here (for tests).
    #[cfg(test)]
    pub(crate) fn threads(&self) -> usize {
        self.map.by_thread.lock().len()
    }
}

/// The handles a thread has records in, so that the thread's end removes them.
struct ThreadRecords {
    thread: ThreadId,
    maps: Vec<Weak<RecordMap>>,
    /// Handles freed since are pruned from `maps` when it doubles past this length.
    pruned_len: usize,
}

thread_local! {
    static THREAD_RECORDS: RefCell<Option<ThreadRecords>> = const { RefCell::new(None) };
}

impl ThreadRecords {
    /// Notes that `thread` (the calling one) has a record in `map`.
    fn remember(thread: ThreadId, map: &Arc<RecordMap>) {
        // During the thread's own exit the list may be gone already; the record then stays
        // until its handle is freed.
        let _ = THREAD_RECORDS.try_with(|cell| {
            let mut cell = cell.borrow_mut();
            let list = cell.get_or_insert_with(|| ThreadRecords {
                thread,
                maps: Vec::new(),
                pruned_len: 0,
            });
            if list.maps.len() >= 2 * list.pruned_len.max(8) {
                list.maps.retain(|m| m.strong_count() > 0);
                list.pruned_len = list.maps.len();
            }
            list.maps.push(Arc::downgrade(map));
        });
    }
}

impl Drop for ThreadRecords {
    fn drop(&mut self) {
        for map in self.maps.iter().filter_map(Weak::upgrade) {
            map.by_thread.lock().remove(&self.thread);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_makes_no_record_and_updating_makes_one_per_thread() {
        let records = Records::default();
        assert!(records.read(|r| r.is_none()));
        assert_eq!(records.threads(), 0);
        records.clear_error();
        assert_eq!(records.threads(), 0, "clearing an error makes no record");
        records.update(|r| r.status = 200);
        assert_eq!(records.read(|r| r.map(|r| r.status)), Some(200));
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(
                    records.read(|r| r.is_none()),
                    "another thread sees nothing of ours"
                );
                records.update(|r| r.error.push_str("theirs"));
                assert_eq!(records.threads(), 2);
            });
        });
        assert_eq!(records.read(|r| r.map(|r| r.error.clone())), Some(String::new()));
    }

    #[test]
    fn a_thread_that_ends_takes_its_records_out_of_live_handles() {
        let records = Arc::new(Records::default());
        let for_thread = Arc::clone(&records);
        std::thread::spawn(move || for_thread.update(|r| r.body = Some(CString::new("x").unwrap())))
            .join()
            .unwrap();
        assert_eq!(records.threads(), 0);
    }

    #[test]
    fn a_thread_keeps_no_trace_of_many_freed_handles() {
        for _ in 0..1000 {
            Records::default().update(|r| r.status = 1);
        }
        let kept = THREAD_RECORDS.with(|cell| cell.borrow().as_ref().map_or(0, |l| l.maps.len()));
        assert!(kept <= 16, "{kept} weak references kept");
    }
}
