"""Task and TaskStatus: one asynchronous request, one dpop_task handle."""

from __future__ import annotations

import ctypes
import enum
import math
import sys
import time
from typing import Optional

from . import _lib
from ._codes import ERR_INVALID_ARGUMENT, ERR_NULL_POINTER, ERR_PENDING
from ._errors import make_error
from ._handle import _Handle
from ._response import Response


class TaskStatus(enum.IntEnum):
    """Where a Task is: the ``DPOP_TASK_*`` values of ``dpop_task_status``."""

    QUEUED = 1
    """It waits for one of libdpop's workers."""
    RUNNING = 2
    """A worker sends the request."""
    COMPLETED = 3
    """Finished with a response, whatever its HTTP status: ``result()`` returns it."""
    FAILED = 4
    """Finished without a response: ``result()`` raises what the synchronous call raises."""
    CANCELLED = 5
    """Cancelled before it finished: ``result()`` raises dpop.Error with ``ERR_CANCELLED``."""


# A long wait is made of waits this long at most, so that Ctrl-C (KeyboardInterrupt, which
# Python sees only between calls into C) is not held up until a task finishes.
_WAIT_SLICE_MS = 100


class Task(_Handle):
    """One asynchronous request from ``Http.get_async`` or ``Http.request_async``, already
    queued: libdpop's worker pool sends it as the synchronous call would, tokens, nonces and
    retries included, while the calling thread goes on. ``wait`` for it or poll ``status``,
    stop it with ``cancel``, and take the Response with ``result``.

    The task keeps what it needs of its Http object, which may be closed while it runs.
    ``close()`` (or leaving a ``with`` block, or collection) frees it, cancelling it if it has
    not finished. ``wait``, ``status``, ``cancel`` and ``result`` may be called from several
    threads at once; ``last_error_text`` is the calling thread's.
    """

    _free_name = "dpop_task_free"
    _error_text_name = "dpop_task_last_error_text"

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Waits until the task has finished (completed, failed or cancelled), for `timeout`
        seconds at most: None (or infinity) waits as long as it takes, 0 or less just looks.
        True when it has finished, False when the time ran out first."""
        seconds = math.inf
        if timeout is not None:
            if (
                not isinstance(timeout, (int, float))
                or isinstance(timeout, bool)
                or (isinstance(timeout, float) and math.isnan(timeout))
            ):
                raise make_error(
                    ERR_INVALID_ARGUMENT, f"timeout must be a number of seconds or None, not {timeout!r}"
                )
            # An int too large for a float waits as long as it takes, not an OverflowError.
            seconds = math.inf if timeout > sys.float_info.max else max(timeout, 0.0)
        deadline = time.monotonic() + seconds
        lib = _lib.lib()
        while True:
            left_ms = max(deadline - time.monotonic(), 0.0) * 1000
            wait_ms = math.ceil(min(left_ms, _WAIT_SLICE_MS))
            status = lib.dpop_task_wait(self._handle, wait_ms)
            if status != ERR_PENDING:
                self._check(status)
                return True
            if wait_ms == 0:
                return False

    @property
    def status(self) -> TaskStatus:
        """Where the task is (a TaskStatus). Raises dpop.Error (``ERR_NULL_POINTER``) after
        close()."""
        status = int(_lib.lib().dpop_task_status(self._handle))
        if status == 0:
            raise make_error(ERR_NULL_POINTER, "dpop_task_status: the task is closed")
        return TaskStatus(status)

    def cancel(self) -> None:
        """Asks the task to stop and returns at once: a queued task is cancelled there and
        then, a running one stops at its next step (``wait`` tells when). A task that has
        finished stays as it is. May be called from any thread, more than once."""
        self._check(_lib.lib().dpop_task_cancel(self._handle))

    def result(self, timeout: Optional[float] = None) -> Response:
        """The task's Response, once it has finished: waits for it as ``wait(timeout)`` does.
        It is what ``Http.request`` returns, for ``get_async`` too (its ``text`` is what
        ``Http.get`` returns); each call makes a new Response. Raises what the synchronous
        call raises when the request failed (dpop.TransportError, dpop.TokenError, ...),
        dpop.Error with ``ERR_CANCELLED`` when the task was cancelled, and with
        ``ERR_PENDING`` when `timeout` ran out first."""
        self.wait(timeout)
        out = _lib.RESPONSE_P()
        self._check(_lib.lib().dpop_task_result(self._handle, ctypes.byref(out)))
        return Response(out)

    @property
    def last_error_text(self) -> str:
        """The message of this thread's last call on the task: after ``result``, why the task
        failed, or, for a response, what is probably wrong with a DPoP proof the server
        rejected ("" otherwise), as ``Http.last_error_text`` after the synchronous call."""
        return self._last_error_text()

    def __repr__(self) -> str:
        if not self._handle:
            return "<dpop.Task closed>"
        return f"<dpop.Task {self.status.name.lower()}>"
