"""Response: one HTTP response, one dpop_response handle."""

from __future__ import annotations

import ctypes
import json
from typing import Any, Dict, List, Optional, Tuple

from . import _lib
from ._codes import ERR_NOT_FOUND, ERR_NULL_POINTER, OK
from ._errors import make_error, thread_message
from ._handle import _cstr, _text, _Handle, _Text


class Response(_Handle):
    """A complete HTTP response from ``Http.request`` or ``Task.result``: status, headers and
    body. It may be read from several threads at once."""

    _free_name = "dpop_response_free"

    def __init__(self, handle: Any) -> None:
        super().__init__(handle)
        self._body: Optional[bytes] = None

    @property
    def status(self) -> int:
        """The HTTP status code."""
        return int(_lib.lib().dpop_response_status(self._handle))

    @property
    def body(self) -> bytes:
        """The body as bytes."""
        if self._body is None:
            length = ctypes.c_size_t(0)
            address: Optional[int] = _lib.lib().dpop_response_body(
                self._handle, ctypes.byref(length)
            )
            if address is None:
                raise make_error(ERR_NULL_POINTER, thread_message())
            self._body = ctypes.string_at(address, length.value)
        return self._body

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return _text(self.body)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def header(self, name: _Text) -> Optional[str]:
        """The value of header `name` (case-insensitive; repeated headers joined with
        ", "), or None when the response has no such header."""
        status, data = _lib.read_string(
            _lib.lib().dpop_response_header, self._handle, _cstr(name, "name"), capacity=256
        )
        if status == ERR_NOT_FOUND:
            return None
        if status != OK:
            raise make_error(status, thread_message())
        return _text(data)

    @property
    def raw_headers(self) -> List[Tuple[str, str]]:
        """Every header as a (name, value) pair, names lower-case, in received order."""
        status, data = _lib.read_string(_lib.lib().dpop_response_headers, self._handle)
        if status != OK:
            raise make_error(status, thread_message())
        pairs: List[Tuple[str, str]] = []
        for line in _text(data).split("\r\n"):
            if line:
                name, _, value = line.partition(":")
                pairs.append((name, value.strip()))
        return pairs

    @property
    def headers(self) -> Dict[str, str]:
        """The headers as a dict: lower-case name to value (repeated ones joined by libdpop
        with ", ")."""
        headers: Dict[str, str] = {}
        for name, value in self.raw_headers:
            joined = self.header(name)
            headers[name] = value if joined is None else joined
        return headers

    def __repr__(self) -> str:
        return "<dpop.Response closed>" if not self._handle else f"<dpop.Response {self.status}>"
