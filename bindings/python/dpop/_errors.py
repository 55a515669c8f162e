"""Status codes and the exceptions that carry them."""

from __future__ import annotations

from typing import Dict, Optional, Type

from . import _lib
from ._codes import *  # noqa: F401,F403  (re-exported by the package)


def error_name(code: int) -> str:
    """The name of a status code, e.g. ``"DPOP_ERR_KEY_RSA"`` (``"DPOP_ERR_UNKNOWN"`` if unknown)."""
    name: bytes = _lib.lib().dpop_error_name(code)
    return name.decode("ascii")


class Error(Exception):
    """A failed libdpop call. ``code`` is the status code, ``name`` its name, and the message
    (``str(e)``) the library's error text."""

    def __init__(self, code: int, message: str = "") -> None:
        self.code: int = code
        self.name: str = error_name(code)
        super().__init__(message or self.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, {str(self)!r})"


class KeyFormatError(Error):
    """The key data cannot be used (codes 100-199: unrecognised, RSA, encrypted, ...)."""


class ProofError(Error):
    """A proof cannot be made from these arguments (codes 200-299)."""


class TransportError(Error):
    """No HTTP response was received (codes 300-399: URL, TLS, connection, timeout, ...)."""


class TokenError(Error):
    """No usable access token (codes 400-499), or a server kept demanding a nonce."""


_GROUPS: Dict[int, Type[Error]] = {
    1: KeyFormatError,
    2: ProofError,
    3: TransportError,
    4: TokenError,
}


def make_error(code: int, message: str) -> Error:
    """The exception for `code`: a subclass of Error by its group of codes."""
    return _GROUPS.get(code // 100, Error)(code, message)


def thread_message() -> str:
    """The calling thread's last libdpop error message."""
    message: Optional[bytes] = _lib.lib().dpop_last_error_message()
    return message.decode("utf-8", "replace") if message else ""


__all__ = [name for name in list(globals()) if name == "OK" or name.startswith("ERR_")] + [
    "Error",
    "KeyFormatError",
    "ProofError",
    "TransportError",
    "TokenError",
    "error_name",
]
