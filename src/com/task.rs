//! `Dpop.Task`: Chilkat's `Task` over the core's [`CoreTask`]. `Dpop.Http`'s `...Async` methods
//! return one loaded; `Run` queues it on the worker pool. One made with
//! `CreateObject("Dpop.Task")` is empty.

use super::dispatch::{
    dispatch_from_type_library, get, last_error_text, last_method_success, method, Failure, Object, Outcome,
};
use super::interfaces::{IDpopHttpResponse, IDpopTask, IDpopTask_Impl};
use super::response::HttpResponse;
use super::Live;
use crate::records::Records;
use dpop_core::{Response, Task as CoreTask, TaskStatus};
use std::ffi::c_void;
use std::time::Duration;
use windows::Win32::Foundation::VARIANT_BOOL;
use windows::Win32::System::Com::IDispatch;
use windows_core::{implement, Interface, BSTR, HRESULT};

/// An asynchronous call. May be used from several threads at once; `LastErrorText` and
/// `LastMethodSuccess` belong to the calling thread. Releasing the last reference to a task
/// that has not finished cancels it.
#[implement(IDpopTask)]
#[derive(Default)]
pub(crate) struct Task {
    task: Option<CoreTask>,
    /// The `Dpop.Http` method that made it, which starts `ResultErrorText`.
    call: &'static str,
    records: Records,
    _live: Live,
}

impl Task {
    /// A loaded task for `task`, made by the method `call`.
    pub(crate) fn loaded(task: CoreTask, call: &'static str) -> Self {
        Self {
            task: Some(task),
            call,
            ..Self::default()
        }
    }

    fn task(&self) -> Outcome<&CoreTask> {
        self.task.as_ref().ok_or_else(|| {
            Failure::from("the task is empty: an ...Async method of Dpop.Http makes a loaded one")
        })
    }

    /// Chilkat's status: its number and its name.
    fn status(&self) -> (i32, &'static str) {
        let Some(task) = &self.task else {
            return (1, "empty");
        };
        match task.status() {
            TaskStatus::Loaded => (2, "loaded"),
            TaskStatus::Queued => (3, "queued"),
            TaskStatus::Running => (4, "running"),
            TaskStatus::Cancelled if !task.was_started() => (5, "canceled"),
            TaskStatus::Cancelled => (6, "aborted"),
            TaskStatus::Completed | TaskStatus::Failed => (7, "completed"),
        }
    }

    /// The response of a task that completed successfully.
    fn response(&self) -> Outcome<Response> {
        let outcome = self
            .task()?
            .outcome()
            .ok_or_else(|| Failure::from("the task has not finished (see Wait and Finished)"))?;
        Ok(outcome?)
    }
}

dispatch_from_type_library!(Task_Impl, IDpopTask);

impl IDpopTask_Impl for Task_Impl {
    unsafe fn Run(&self, out: *mut VARIANT_BOOL) -> HRESULT {
        method(&self.records, "Run", out, || {
            self.task()?.run()?;
            Ok(true)
        })
    }

    unsafe fn RunSynchronously(&self, out: *mut VARIANT_BOOL) -> HRESULT {
        method(&self.records, "RunSynchronously", out, || {
            self.task()?.run_here()?;
            Ok(true)
        })
    }

    unsafe fn Wait(&self, max_wait_ms: i32, out: *mut VARIANT_BOOL) -> HRESULT {
        method(&self.records, "Wait", out, || {
            let ms = u64::try_from(max_wait_ms).map_err(|_| Failure::from("maxWaitMs cannot be negative"))?;
            let task = self.task()?;
            if task.status() == TaskStatus::Loaded {
                return Err("the task was not started: call Run first".into());
            }
            if task.wait(Duration::from_millis(ms)) {
                Ok(true)
            } else {
                Err(format!("the task has not finished within {ms} ms").into())
            }
        })
    }

    unsafe fn Cancel(&self, out: *mut VARIANT_BOOL) -> HRESULT {
        method(&self.records, "Cancel", out, || {
            self.task()?.cancel();
            Ok(true)
        })
    }

    unsafe fn get_Status(&self, out: *mut BSTR) -> HRESULT {
        get(out, || self.status().1.to_string())
    }

    unsafe fn get_StatusInt(&self, out: *mut i32) -> HRESULT {
        get(out, || self.status().0)
    }

    unsafe fn get_Finished(&self, out: *mut VARIANT_BOOL) -> HRESULT {
        get(out, || self.status().0 >= 5)
    }

    unsafe fn get_Live(&self, out: *mut VARIANT_BOOL) -> HRESULT {
        get(out, || matches!(self.status().0, 3 | 4))
    }

    unsafe fn get_Inert(&self, out: *mut VARIANT_BOOL) -> HRESULT {
        get(out, || self.status().0 <= 2)
    }

    unsafe fn get_TaskSuccess(&self, out: *mut VARIANT_BOOL) -> HRESULT {
        get(out, || {
            self.task
                .as_ref()
                .is_some_and(|t| t.status() == TaskStatus::Completed)
        })
    }

    unsafe fn get_ResultErrorText(&self, out: *mut BSTR) -> HRESULT {
        get(out, || match self.task.as_ref().and_then(CoreTask::outcome) {
            Some(Err(e)) => format!("{}: {}", self.call, Failure::from(e).0),
            Some(Ok(response)) => response
                .diagnostic()
                .map_or_else(String::new, |d| format!("{}: {d}", self.call)),
            None => String::new(),
        })
    }

    unsafe fn GetResultString(&self, out: *mut BSTR) -> HRESULT {
        method(&self.records, "GetResultString", out, || {
            Ok(self.response()?.body_text().into_owned())
        })
    }

    unsafe fn GetResultResponse(&self, out: *mut *mut c_void) -> HRESULT {
        method(&self.records, "GetResultResponse", out, || {
            let response: IDpopHttpResponse = HttpResponse::from(self.response()?).into();
            let response: IDispatch = response.cast().map_err(|e| Failure(format!("{e}")))?;
            Ok(Object(Some(response)))
        })
    }

    unsafe fn get_LastErrorText(&self, out: *mut BSTR) -> HRESULT {
        get(out, || last_error_text(&self.records))
    }

    unsafe fn get_LastMethodSuccess(&self, out: *mut VARIANT_BOOL) -> HRESULT {
        get(out, || last_method_success(&self.records))
    }
}
