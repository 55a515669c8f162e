//! Asynchronous calls: a [`Task`] runs one request of a [`Client`] on a worker of the process's
//! pool ([`pool`]), so that the host's thread (a UI thread) is free meanwhile. The host waits
//! for it with a timeout, polls its status, cancels it, and takes the result as the
//! synchronous call gives it.
//!
//! A task holds its client (an `Arc`) until it has finished, so the host may drop its own
//! handle on the client while tasks run. Cancelling stops the request at its next step (see
//! the client's cancel flag): at once while it is queued, within a few tens of milliseconds
//! while it connects, reads or waits.

mod pool;

pub use pool::MAX_WORKERS;

use crate::error::{Error, ErrorKind, Result};
use crate::http::cancel::{self, Cancel};
use crate::{Client, Response};
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// Made but not started ([`Task::run`] queues it).
    Loaded,
    /// Waiting for a worker.
    Queued,
    /// A worker runs the request.
    Running,
    /// Finished with a response (whatever its HTTP status).
    Completed,
    /// Finished with an error, as the synchronous call would have returned it.
    Failed,
    /// Cancelled before it finished (before it started, or while it ran).
    Cancelled,
}

/// One asynchronous request. It may be used from several threads at once; dropping it cancels
/// the request if it has not finished (nobody can take its result any more).
pub struct Task {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    finished: Condvar,
    cancel: Cancel,
}

enum State {
    Loaded(Box<Request>),
    Queued,
    Running,
    Done {
        outcome: Result<Response>,
        /// Whether a worker had started the request (a cancel then interrupted it).
        started: bool,
    },
}

/// What a task sends, owned, with the client that sends it.
struct Request {
    client: Arc<dyn AsRef<Client> + Send + Sync>,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl AsRef<Client> for Client {
    fn as_ref(&self) -> &Client {
        self
    }
}

impl Client {
    /// A task that sends this request as [`Client::request`] would, not started yet: call
    /// [`Task::run`] (or [`Task::run_here`]). The arguments are copied; the task keeps the
    /// client alive until it has finished.
    pub fn request_task(
        self: &Arc<Self>,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Task {
        Task::new(Arc::clone(self), method, url, headers, body)
    }
}

impl Task {
    /// [`Client::request_task`] for the client inside `owner` (an object that holds one, such
    /// as the C `dpop_http`), which the task keeps alive until it has finished.
    pub fn new<O: AsRef<Client> + Send + Sync + 'static>(
        owner: Arc<O>,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Task {
        let request = Request {
            client: owner,
            method: method.to_string(),
            url: url.to_string(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        };
        Task {
            shared: Arc::new(Shared {
                state: Mutex::new(State::Loaded(Box::new(request))),
                finished: Condvar::new(),
                cancel: Cancel::new(),
            }),
        }
    }

    /// Queues a loaded task on the worker pool. `InvalidArgument` when it was started (or
    /// cancelled) already; `Internal` when no worker thread can be started, and the task is
    /// then `Failed` with that error.
    pub fn run(&self) -> Result<()> {
        let request = self.take_loaded(State::Queued)?;
        let shared = Arc::clone(&self.shared);
        pool::submit(Box::new(move || shared.execute(request))).inspect_err(|e| {
            self.shared.finish(Err(e.clone()), false);
        })
    }

    /// Runs a loaded task on the calling thread and returns when it has finished (Chilkat's
    /// `RunSynchronously`); another thread may cancel it meanwhile.
    pub fn run_here(&self) -> Result<()> {
        let request = self.take_loaded(State::Queued)?;
        self.shared.execute(request);
        Ok(())
    }

    fn take_loaded(&self, next: State) -> Result<Box<Request>> {
        let mut state = self.shared.state.lock();
        match std::mem::replace(&mut *state, next) {
            State::Loaded(request) => Ok(request),
            other => {
                *state = other;
                Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "the task was started already (a task runs once)",
                ))
            }
        }
    }

    /// Where the task is now.
    pub fn status(&self) -> TaskStatus {
        match &*self.shared.state.lock() {
            State::Loaded(_) => TaskStatus::Loaded,
            State::Queued => TaskStatus::Queued,
            State::Running => TaskStatus::Running,
            State::Done { outcome: Ok(_), .. } => TaskStatus::Completed,
            State::Done { outcome: Err(e), .. } if e.kind() == ErrorKind::Cancelled => TaskStatus::Cancelled,
            State::Done { .. } => TaskStatus::Failed,
        }
    }

    /// Whether a worker had started the request when the task finished: a cancelled task that
    /// never started says `false` (Chilkat's "canceled", as against "aborted").
    pub fn was_started(&self) -> bool {
        match &*self.shared.state.lock() {
            State::Loaded(_) | State::Queued => false,
            State::Running => true,
            State::Done { started, .. } => *started,
        }
    }

    /// Waits until the task has finished, for `timeout` at most (zero: just looks). `true`
    /// when it has finished; `false` when the time ran out, or at once for a task not started.
    pub fn wait(&self, timeout: Duration) -> bool {
        let until = Instant::now().checked_add(timeout);
        let mut state = self.shared.state.lock();
        loop {
            match &*state {
                State::Done { .. } => return true,
                State::Loaded(_) => return false,
                State::Queued | State::Running => {}
            }
            match until {
                Some(until) => {
                    if self.shared.finished.wait_until(&mut state, until).timed_out() {
                        return matches!(&*state, State::Done { .. });
                    }
                }
                None => self.shared.finished.wait(&mut state),
            }
        }
    }

    /// Asks the task to stop: a task not started yet (loaded or queued) ends `Cancelled` at
    /// once; a running one at its next step. A finished task is left as it is. Returns at once.
    pub fn cancel(&self) {
        let mut state = self.shared.state.lock();
        match &*state {
            State::Loaded(_) | State::Queued => {
                *state = State::Done {
                    outcome: Err(cancel::cancelled()),
                    started: false,
                };
                drop(state);
                self.shared.finished.notify_all();
            }
            State::Running => self.shared.cancel.cancel(),
            State::Done { .. } => {}
        }
    }

    /// The result once the task has finished, as the synchronous call gives it (the response,
    /// whatever its HTTP status, or the error); `None` before.
    pub fn outcome(&self) -> Option<Result<Response>> {
        match &*self.shared.state.lock() {
            State::Done { outcome, .. } => Some(outcome.clone()),
            _ => None,
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl Shared {
    /// Runs the request on the calling thread (a worker, or the host's for `run_here`), unless
    /// the task was cancelled while it waited.
    fn execute(&self, request: Box<Request>) {
        {
            let mut state = self.state.lock();
            if !matches!(*state, State::Queued) {
                return;
            }
            *state = State::Running;
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let headers: Vec<(&str, &str)> = request
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            (*request.client).as_ref().request_cancellable(
                &request.method,
                &request.url,
                &headers,
                &request.body,
                &self.cancel,
            )
        }))
        .unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Internal,
                "the task ended with an internal error in libdpop; please report it",
            ))
        });
        // A finished task holds nothing of the client.
        drop(request);
        self.finish(outcome, true);
    }

    fn finish(&self, outcome: Result<Response>, started: bool) {
        *self.state.lock() = State::Done { outcome, started };
        self.finished.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task whose request fails before any I/O (no server is needed).
    fn failing_task() -> Task {
        Arc::new(Client::new()).request_task("GET", "not a url", &[], b"")
    }

    #[test]
    fn a_task_runs_once_and_gives_the_synchronous_error() {
        let task = failing_task();
        assert_eq!(task.status(), TaskStatus::Loaded);
        assert!(
            !task.wait(Duration::from_secs(5)),
            "a task not started is not waited for"
        );
        task.run().unwrap();
        assert!(task.wait(Duration::from_secs(60)));
        assert_eq!(task.status(), TaskStatus::Failed);
        let sync = Client::new().get("not a url").unwrap_err();
        let outcome = task.outcome().unwrap().unwrap_err();
        assert_eq!((outcome.kind(), outcome.message()), (sync.kind(), sync.message()));
        assert_eq!(task.run().unwrap_err().kind(), ErrorKind::InvalidArgument);
        assert!(task.was_started());
    }

    #[test]
    fn a_task_cancelled_before_it_starts_never_runs() {
        let task = failing_task();
        task.cancel();
        assert_eq!(task.status(), TaskStatus::Cancelled);
        assert!(task.wait(Duration::ZERO));
        assert!(!task.was_started());
        assert_eq!(task.run().unwrap_err().kind(), ErrorKind::InvalidArgument);
        assert_eq!(task.outcome().unwrap().unwrap_err().kind(), ErrorKind::Cancelled);
    }

    #[test]
    fn run_here_runs_on_the_calling_thread() {
        let task = failing_task();
        task.run_here().unwrap();
        assert_eq!(task.status(), TaskStatus::Failed);
        task.cancel();
        assert_eq!(
            task.status(),
            TaskStatus::Failed,
            "a finished task stays as it is"
        );
    }
}
