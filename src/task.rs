//! `dpop_task`: an asynchronous request of a `dpop_http`, run by libdpop's worker pool.

use crate::boundary::{arg_bytes, arg_str, call, opt_str, read_only, Call, FfiError, OutPtr};
use crate::error::{dpop_status, DPOP_ERR_PENDING};
use crate::handle::{self, Boxed, Handle};
use crate::http::dpop_http;
use crate::records::Records;
use crate::response::dpop_response;
use dpop_core::{parse_header_lines, Task, TaskStatus};
use dpop_macros::system_abi;
use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

/// The task waits for a worker (`dpop_task_status`).
pub const DPOP_TASK_QUEUED: i32 = 1;
/// A worker runs the request.
pub const DPOP_TASK_RUNNING: i32 = 2;
/// Finished with a response, whatever its HTTP status: `dpop_task_result` gives it.
pub const DPOP_TASK_COMPLETED: i32 = 3;
/// Finished with an error: `dpop_task_result` returns its code, `dpop_task_last_error_text`
/// tells why.
pub const DPOP_TASK_FAILED: i32 = 4;
/// Cancelled before it finished (`dpop_task_cancel`, or `dpop_task_free` of a running task):
/// `dpop_task_result` returns `DPOP_ERR_CANCELLED`.
pub const DPOP_TASK_CANCELLED: i32 = 5;

/// One asynchronous request, made by `dpop_http_get_async` or `dpop_http_request_async` and
/// already queued: libdpop's worker pool (at most 8 threads per process, created when needed;
/// further tasks wait in turn) sends it as the synchronous call would, tokens, nonces and
/// retries included, while the host's thread goes on. The host polls `dpop_task_status`,
/// waits with `dpop_task_wait`, stops it with `dpop_task_cancel`, and takes the result with
/// `dpop_task_result`. Free it with `dpop_task_free`.
///
/// The task keeps what it needs of its `dpop_http` until it has finished: the `dpop_http` may
/// be freed meanwhile. A cancel stops the request at its next step (before each exchange, in
/// each wait, within a few tens of milliseconds while it connects, reads or waits for a server
/// that does not answer); a token request it stops stores nothing, and the next request on the
/// `dpop_http` works as usual. A request already sent may have reached the server.
///
/// Thread safety: a `dpop_task` may be used from several threads at once (`dpop_task_wait`,
/// `_status`, `_cancel`, `_result`); `dpop_task_last_error_text` belongs to the calling thread,
/// as on every object. `dpop_task_free` must not run while another thread uses the task.
pub struct dpop_task {
    task: Task,
    records: Records,
}

/// cbindgen:ignore
impl Handle for dpop_task {
    const PARAM: &'static str = "task";
    type Ownership = Boxed;

    fn records(&self) -> Option<&Records> {
        Some(&self.records)
    }
}

/// The task's own reference to the `dpop_http` it is made on (the call's outcome is recorded
/// on the object too).
///
/// # Safety
/// As for [`Handle::borrow`]: `http` is NULL or a live `dpop_http`, alive for the call.
unsafe fn owner(call: &mut Call<'_>, http: *mut dpop_http) -> Result<Arc<dpop_http>, FfiError> {
    // SAFETY: `http` is NULL or a live handle (this function's contract).
    unsafe { call.handle(http) }?;
    // SAFETY: as above; `dpop_http` is a `Shared` handle, and the host's reference stays.
    unsafe { handle::share(http) }
}

/// Queues `task` and hands it to the host in `out`.
fn start(task: Task, out: OutPtr<dpop_task>) -> Result<(), FfiError> {
    task.run()?;
    out.write(
        dpop_task {
            task,
            records: Records::default(),
        }
        .into_raw(),
    );
    Ok(())
}

/// Starts `GET url` as a task (the asynchronous `dpop_http_get`) and stores it in `*out` (free
/// it with `dpop_task_free`); `*out` is written only on success. The arguments are copied.
/// Errors here are about the arguments only (NULL, invalid UTF-8); everything else, a bad URL
/// included, is the task's result.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_get_async(
    http: *mut dpop_http,
    url: *const c_char,
    out: *mut *mut dpop_task,
) -> dpop_status {
    call("dpop_http_get_async", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let owner = unsafe { owner(call, http) }?;
        // SAFETY: the header requires `url` to be NULL or a NUL-terminated string.
        let url = unsafe { arg_str(url, "url") }?;
        // SAFETY: the header requires `out` to be NULL or a writable pointer.
        let out = unsafe { OutPtr::new(out, "out") }?;
        start(Task::new(owner, "GET", url, &[], b""), out)
    })
}

/// Starts a request as a task (the asynchronous `dpop_http_request`) and stores it in `*out`
/// (free it with `dpop_task_free`); `*out` is written only on success. The arguments are those
/// of `dpop_http_request`, and copied: `headers` (may be NULL) as `"Name: value"` lines, `body`
/// may be NULL when `body_len` is 0. Errors here are about the arguments (NULL, invalid UTF-8,
/// a header line without `Name: value`); everything else is the task's result.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_http_request_async(
    http: *mut dpop_http,
    method: *const c_char,
    url: *const c_char,
    headers: *const c_char,
    body: *const u8,
    body_len: usize,
    out: *mut *mut dpop_task,
) -> dpop_status {
    call("dpop_http_request_async", |call| {
        // SAFETY: the header requires `http` to be NULL or a live handle from `dpop_http_new`.
        let owner = unsafe { owner(call, http) }?;
        // SAFETY: the header requires `method` to be NULL or a NUL-terminated string.
        let method = unsafe { arg_str(method, "method") }?;
        // SAFETY: the header requires `url` to be NULL or a NUL-terminated string.
        let url = unsafe { arg_str(url, "url") }?;
        // SAFETY: the header requires `headers` to be NULL or a NUL-terminated string.
        let headers = unsafe { opt_str(headers, "headers") }?;
        // SAFETY: the header requires `body` to be `body_len` readable bytes (NULL when
        // `body_len` is 0).
        let body = unsafe { arg_bytes(body, body_len, "body") }?;
        // SAFETY: the header requires `out` to be NULL or a writable pointer.
        let out = unsafe { OutPtr::new(out, "out") }?;
        let headers = parse_header_lines(headers.unwrap_or(""))?;
        start(Task::new(owner, method, url, &headers, body), out)
    })
}

/// Waits until the task has finished, for `timeout_ms` milliseconds at most (0: just looks).
/// `DPOP_OK` when it has finished (completed, failed or cancelled: see `dpop_task_status`),
/// `DPOP_ERR_PENDING` when the time ran out first.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_task_wait(task: *mut dpop_task, timeout_ms: u32) -> dpop_status {
    call("dpop_task_wait", |call| {
        // SAFETY: the header requires `task` to be NULL or a live task.
        let task = unsafe { call.handle(task) }?;
        if task.task.wait(Duration::from_millis(timeout_ms.into())) {
            Ok(())
        } else {
            Err(FfiError::new(
                DPOP_ERR_PENDING,
                format!("the task has not finished within {timeout_ms} ms"),
            ))
        }
    })
}

/// Where the task is: `DPOP_TASK_QUEUED`, `_RUNNING`, `_COMPLETED`, `_FAILED` or `_CANCELLED`;
/// 0 when `task` is NULL. Records nothing.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_task_status(task: *const dpop_task) -> i32 {
    read_only(0, || {
        // SAFETY: the header requires `task` to be NULL or a live task.
        let Ok(task) = (unsafe { dpop_task::borrow(task) }) else {
            return 0;
        };
        match task.task.status() {
            // A C task is queued when it is made; "loaded" is the COM Task's state before Run.
            TaskStatus::Loaded | TaskStatus::Queued => DPOP_TASK_QUEUED,
            TaskStatus::Running => DPOP_TASK_RUNNING,
            TaskStatus::Completed => DPOP_TASK_COMPLETED,
            TaskStatus::Failed => DPOP_TASK_FAILED,
            TaskStatus::Cancelled => DPOP_TASK_CANCELLED,
        }
    })
}

/// Asks the task to stop and returns at once: a task still queued is cancelled there and then;
/// a running one stops at its next step (`dpop_task_wait` tells when). A task that has
/// finished stays as it is (its response may have arrived just before). May be called from
/// any thread, more than once.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_task_cancel(task: *mut dpop_task) -> dpop_status {
    call("dpop_task_cancel", |call| {
        // SAFETY: the header requires `task` to be NULL or a live task.
        let task = unsafe { call.handle(task) }?;
        task.task.cancel();
        Ok(())
    })
}

/// The task's result, as the synchronous call gives it: `DPOP_OK` and a new `dpop_response` in
/// `*out` (free it with `dpop_response_free`; each call makes a new one) when a response
/// arrived, whatever its HTTP status; the call's status code when it failed
/// (`DPOP_ERR_CANCELLED` for a cancelled task; `dpop_task_last_error_text` then tells why, as
/// `dpop_http_last_error_text` would after the synchronous call, and so does it after a
/// response whose DPoP proof the server rejected); `DPOP_ERR_PENDING` while it has not
/// finished. `*out` is written only on `DPOP_OK`.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_task_result(task: *mut dpop_task, out: *mut *mut dpop_response) -> dpop_status {
    call("dpop_task_result", |call| {
        // SAFETY: the header requires `task` to be NULL or a live task.
        let task = unsafe { call.handle(task) }?;
        // SAFETY: the header requires `out` to be NULL or a writable pointer.
        let out = unsafe { OutPtr::new(out, "out") }?;
        let outcome = task
            .task
            .outcome()
            .ok_or_else(|| FfiError::new(DPOP_ERR_PENDING, "the task has not finished yet"))?;
        let response = outcome?;
        let note = response.diagnostic().map(|d| format!("dpop_task_result: {d}"));
        task.records.update(|record| record.note = note);
        out.write(dpop_response::new(response).into_raw());
        Ok(())
    })
}

/// Copies the message of this thread's last call on the task into `buf`: after
/// `dpop_task_result`, why the task failed (or, for a response, what is probably wrong with a
/// DPoP proof the server rejected; empty otherwise). Strings out as for `dpop_key_public_jwk`;
/// this call never changes any error record.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_task_last_error_text(
    task: *const dpop_task,
    buf: *mut c_char,
    buf_len: usize,
    out_size: *mut usize,
) -> dpop_status {
    // SAFETY: the header requires `task` to be NULL or a live task, `buf` to be NULL or
    // `buf_len` writable bytes and `out_size` to be NULL or writable.
    unsafe { handle::last_error_text(task, buf, buf_len, out_size) }
}

/// Frees a task, cancelling it if it has not finished (its request stops at its next step, in
/// the background). `dpop_task_free(NULL)` does nothing. Must not be called twice, nor while
/// another thread uses the task.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_task_free(task: *mut dpop_task) {
    // SAFETY: the header requires `task` to be NULL or a task from `dpop_http_get_async` or
    // `dpop_http_request_async` that is freed once and that no other call uses any more.
    unsafe { handle::free("dpop_task_free", task) }
}
