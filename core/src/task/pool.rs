//! The process's worker pool: at most [`MAX_WORKERS`] threads, started when work arrives and
//! none is idle, ending after [`IDLE_EXIT`] without work; work beyond them waits in a queue, in
//! the order it came.

use crate::error::{Error, ErrorKind, Result};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::time::Duration;

/// The most threads the pool runs at once (browsers open about as many connections per host).
pub const MAX_WORKERS: usize = 8;

/// How long an idle worker waits for work before it ends.
const IDLE_EXIT: Duration = Duration::from_secs(20);

type Work = Box<dyn FnOnce() + Send>;

struct Pool {
    state: Mutex<State>,
    work_arrived: Condvar,
}

struct State {
    queue: VecDeque<Work>,
    /// Workers alive.
    workers: usize,
    /// Workers waiting for work.
    idle: usize,
}

static POOL: Pool = Pool {
    state: parking_lot::const_mutex(State {
        queue: VecDeque::new(),
        workers: 0,
        idle: 0,
    }),
    work_arrived: Condvar::new(),
};

/// Queues `work`, starting a worker when the idle ones cannot take all that waits. Fails only
/// when no worker runs and none can be started (the work is then dropped, not queued).
pub(crate) fn submit(work: Work) -> Result<()> {
    let mut state = POOL.state.lock();
    state.queue.push_back(work);
    if state.idle < state.queue.len() && state.workers < MAX_WORKERS {
        state.workers += 1;
        if let Err(e) = crate::threads::spawn("dpop-task", worker) {
            state.workers -= 1;
            if state.workers == 0 {
                state.queue.pop_back();
                return Err(Error::new(
                    ErrorKind::Internal,
                    format!("cannot start a worker thread for the task: {e}"),
                ));
            }
            // The workers alive take it in turn.
        }
    }
    drop(state);
    POOL.work_arrived.notify_one();
    Ok(())
}

fn worker() {
    let mut state = POOL.state.lock();
    loop {
        if let Some(work) = state.queue.pop_front() {
            // Work catches its own panics; this keeps the worker whatever happens.
            parking_lot::MutexGuard::unlocked(&mut state, || {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            });
            continue;
        }
        state.idle += 1;
        let timed_out = POOL.work_arrived.wait_for(&mut state, IDLE_EXIT).timed_out();
        state.idle -= 1;
        if timed_out && state.queue.is_empty() {
            state.workers -= 1;
            return;
        }
    }
}

/// Workers alive now, and the most there were (for tests).
#[cfg(test)]
pub(crate) fn workers() -> usize {
    POOL.state.lock().workers
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc};

    #[test]
    fn work_beyond_the_workers_waits_and_every_piece_runs() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (done, finished) = mpsc::channel();
        let pieces = 3 * MAX_WORKERS;
        for _ in 0..pieces {
            let (running, most, done) = (Arc::clone(&running), Arc::clone(&most), done.clone());
            submit(Box::new(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
                done.send(()).unwrap();
            }))
            .unwrap();
        }
        for _ in 0..pieces {
            finished.recv_timeout(Duration::from_secs(60)).unwrap();
        }
        assert!(
            most.load(Ordering::SeqCst) <= MAX_WORKERS,
            "never more than the pool's threads"
        );
        assert!(workers() <= MAX_WORKERS);
    }

    #[test]
    fn a_panic_in_the_work_keeps_the_worker() {
        submit(Box::new(|| panic!("a bug in the work"))).unwrap();
        let (done, finished) = mpsc::channel();
        submit(Box::new(move || done.send(()).unwrap())).unwrap();
        finished.recv_timeout(Duration::from_secs(60)).unwrap();
    }
}
