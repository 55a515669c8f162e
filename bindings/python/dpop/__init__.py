"""libdpop for Python: OAuth 2.0 DPoP (RFC 9449) keys, proofs and an HTTP client.

A thin ctypes wrapper over the libdpop C ABI (include/dpop.h): every call goes to the shared
library, found through ``DPOP_LIBRARY``, then next to this package, then the system loader
(see ``dpop._lib``).

    import dpop

    key = dpop.Key.load("ec.pem")
    http = dpop.Http(key, {"client_id": "m2m.dpop", "client_secret": "secret",
                           "token_endpoint": "https://as.example/connect/token",
                           "scope": "api"})
    body = http.get("https://api.example/dpop/test")
    print(http.last_status, body)

``http.get_async(url)`` and ``http.request_async(...)`` return a ``dpop.Task`` at once: the
request runs in libdpop's worker pool; ``task.wait(timeout)``, ``task.cancel()`` and
``task.result()`` (the Response, or the exception the synchronous call raises).

Failures raise ``dpop.Error`` (``code``, ``name``, message = libdpop's error text), or one of
its subclasses by group of codes: KeyFormatError, ProofError, TransportError, TokenError.
"""

from __future__ import annotations

import ctypes

from . import _lib
from ._codes import *  # noqa: F401,F403  (the DPOP status codes: OK, ERR_*)
from ._errors import (
    Error,
    KeyFormatError,
    ProofError,
    TokenError,
    TransportError,
    error_name,
)
from ._lib import LibraryError
from ._http import Http
from ._key import Key
from ._response import Response
from ._task import Task, TaskStatus

__version__ = "0.1.0"


def version() -> str:
    """The version of the loaded libdpop, "MAJOR.MINOR.PATCH"."""
    text: bytes = _lib.lib().dpop_version()
    return text.decode("ascii")


def library() -> ctypes.CDLL:
    """The loaded ctypes library object (loading it if needed)."""
    return _lib.lib()


__all__ = [
    "Error",
    "Http",
    "Key",
    "KeyFormatError",
    "LibraryError",
    "ProofError",
    "Response",
    "Task",
    "TaskStatus",
    "TokenError",
    "TransportError",
    "error_name",
    "library",
    "version",
]
