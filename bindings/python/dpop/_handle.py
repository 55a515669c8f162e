"""What every object of the binding is built on: the argument conversions and _Handle,
the owner of one libdpop handle."""

from __future__ import annotations

import collections.abc
import json
import os
from typing import Any, Iterable, Mapping, Optional, Tuple, TypeVar, Union

from . import _lib
from ._codes import ERR_INVALID_ARGUMENT, ERR_PANIC, OK
from ._errors import make_error, thread_message


# The types of the arguments. typing's Mapping and Iterable, not collections.abc's: these
# aliases are evaluated at import, and Python 3.8 cannot subscript the latter.
_Text = Union[str, bytes, bytearray, memoryview]  # str is sent as UTF-8
_Path = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
_JsonObject = Union[Mapping[str, Any], str, bytes]  # a mapping, serialised here, or JSON text
_Headers = Union[Mapping[str, object], Iterable[Tuple[str, object]]]  # or (name, value) pairs

_H = TypeVar("_H", bound="_Handle")


def _cstr(value: Optional[_Text], what: str) -> Optional[bytes]:
    """A str (UTF-8) or bytes argument as bytes for C; None stays None (NULL)."""
    if value is None:
        return None
    if isinstance(value, str):
        data = value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")
    if b"\0" in data:
        raise ValueError(f"{what} contains a NUL character")
    return data


def _path(value: Optional[_Path], what: str = "path") -> Optional[bytes]:
    """A file path (str, bytes or os.PathLike) as bytes for C; None stays None."""
    return None if value is None else _cstr(os.fsencode(value), what)


def _json(value: _JsonObject, what: str) -> Optional[bytes]:
    """A JSON object argument given as a mapping (serialised here) or as its JSON text."""
    if isinstance(value, collections.abc.Mapping):
        value = json.dumps(dict(value), separators=(",", ":"))
    return _cstr(value, what)


def _data(value: _Text, what: str) -> bytes:
    """Binary data (bytes-like, or str as UTF-8; NUL bytes allowed) as bytes for C."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes or str, not {type(value).__name__}")


def _milliseconds(value: int, what: str) -> int:
    """A wait in milliseconds for a uint32_t: refused, not wrapped, when out of range."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**32:
        raise make_error(
            ERR_INVALID_ARGUMENT, f"{what} must be 0 to 4294967295 milliseconds, not {value!r}"
        )
    return value


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _request_arguments(
    method: _Text, url: _Text, headers: Optional[_Headers], body: Optional[_Text]
) -> Tuple[Optional[bytes], Optional[bytes], Optional[bytes], Optional[bytes], int]:
    """The C arguments of dpop_http_request and dpop_http_request_async after the handle:
    method, url, the headers as "Name: value" lines (None when there are none), the body and
    its length."""
    lines = None
    if headers:
        items = headers.items() if isinstance(headers, collections.abc.Mapping) else headers
        parts = []
        for raw_name, raw_value in items:
            name, value = str(raw_name), str(raw_value)
            if any(c in name for c in "\r\n:") or any(c in value for c in "\r\n"):
                raise ValueError(f"header {name!r}: CR, LF or ':' in the name, or CR or LF in the value")
            parts.append(f"{name}: {value}\r\n")
        lines = _cstr("".join(parts), "headers")
    data = None if body is None else _data(body, "body")
    return _cstr(method, "method"), _cstr(url, "url"), lines, data, len(data) if data else 0


class _Handle:
    """Owns one C handle: freed by close(), by leaving a ``with`` block, or when collected.

    After close() the handle is NULL, and libdpop refuses every call with
    DPOP_ERR_NULL_POINTER (raised as dpop.Error).
    """

    _free_name = ""
    _error_text_name = ""  # the object's *_last_error_text function, when it has one

    def __init__(self, handle: Any) -> None:  # a ctypes pointer to the C object
        self._handle: Any = handle

    def _last_error_text(self) -> str:
        """The handle's error text for this thread; the thread's message when the handle
        cannot be asked (closed)."""
        status, data = _lib.read_string(
            getattr(_lib.lib(), self._error_text_name), self._handle, capacity=256
        )
        return _text(data) if status == OK else thread_message()

    def _error_text(self) -> str:
        """The message of an exception from a failed call: the handle's, else the thread's."""
        text = self._last_error_text() if self._handle and self._error_text_name else ""
        return text or thread_message()

    def _check(self, status: int) -> None:
        if status != OK:
            raise make_error(status, self._error_text())

    def close(self) -> None:
        """Frees the handle now. Calling it again does nothing. It must not be called while
        another thread uses the object."""
        handle, self._handle = self._handle, None
        if handle:
            getattr(_lib.lib(), self._free_name)(handle)

    @property
    def closed(self) -> bool:
        """Whether close() was called (the handle is NULL)."""
        return not self._handle

    def __enter__(self: _H) -> _H:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # the interpreter may be shutting down
            pass


def _new(function_name: str) -> Any:
    """Calls a _new function; raises when libdpop returns NULL."""
    lib = _lib.lib()
    handle = getattr(lib, function_name)()
    if not handle:
        code = lib.dpop_last_error_code()
        raise make_error(code or ERR_PANIC, thread_message())
    return handle
