"""Key, Http, Response and Task: Python objects that each own one libdpop handle."""

from __future__ import annotations

import collections.abc
import ctypes
import enum
import json
import math
import os
import sys
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, TypeVar, Union

from . import _lib
from ._codes import (
    ERR_INVALID_ARGUMENT,
    ERR_NOT_FOUND,
    ERR_NULL_POINTER,
    ERR_PANIC,
    ERR_PENDING,
    OK,
)
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


class Key(_Handle):
    """A DPoP private key (ES256, ES384, EdDSA, or RSA signing with PS256 or RS256).

    Make one with ``Key.load(path)``, ``Key.from_bytes(data)`` or ``Key.generate()``;
    ``Key()`` is an empty handle. A key may be used from several threads at once. Keep the
    key (``private_pem()``): access tokens are bound to it.
    """

    _free_name = "dpop_key_free"
    _error_text_name = "dpop_key_last_error_text"

    def __init__(self) -> None:
        super().__init__(_new("dpop_key_new"))

    @classmethod
    def load(cls, path: _Path, password: Optional[_Text] = None) -> Key:
        """A key read from a file: PEM (SEC1, PKCS#1, PKCS#8, encrypted PKCS#8), DER or JWK."""
        return cls._filled("dpop_key_load", _path(path), _cstr(password, "password"))

    @classmethod
    def from_bytes(cls, data: _Text, password: Optional[_Text] = None) -> Key:
        """A key read from memory (PEM, DER or JWK as bytes or str)."""
        raw = _data(data, "data")
        return cls._filled("dpop_key_load_memory", raw, len(raw), _cstr(password, "password"))

    @classmethod
    def generate(cls, alg: _Text = "ES256") -> Key:
        """A new key from the system's random source: "ES256", "ES384", "EdDSA", or "PS256"
        or "RS256" (a 3072-bit RSA key)."""
        return cls._filled("dpop_key_generate", _cstr(alg, "alg"))

    @classmethod
    def generate_rsa(cls, bits: int = 3072, alg: _Text = "PS256") -> Key:
        """A new RSA key of 2048, 3072 or 4096 bits signing with "PS256" or "RS256"."""
        if not isinstance(bits, int) or not -(2**31) <= bits < 2**31:
            raise make_error(ERR_INVALID_ARGUMENT, f"bits must be 2048, 3072 or 4096, not {bits!r}")
        return cls._filled("dpop_key_generate_rsa", bits, _cstr(alg, "alg"))

    def set_alg(self, alg: _Text) -> None:
        """Signs with another algorithm from now on, with the same key (and thumbprint): "PS256"
        or "RS256" for an RSA key; a key's own algorithm is always accepted."""
        self._check(_lib.lib().dpop_key_set_alg(self._handle, _cstr(alg, "alg")))

    @classmethod
    def _filled(cls, function_name: str, *args: Any) -> Key:
        key = cls()
        try:
            key._check(getattr(_lib.lib(), function_name)(key._handle, *args))
        except BaseException:
            key.close()
            raise
        return key

    def _read(self, function_name: str, *args: Any, capacity: int = 0) -> str:
        status, data = _lib.read_string(
            getattr(_lib.lib(), function_name), self._handle, *args, capacity=capacity
        )
        self._check(status)
        return _text(data)

    @property
    def alg(self) -> Optional[str]:
        """ "ES256", "ES384", "EdDSA", "PS256" or "RS256"; None while the handle holds no key."""
        alg: Optional[bytes] = _lib.lib().dpop_key_alg(self._handle)
        return alg.decode("ascii") if alg else None

    @property
    def public_jwk(self) -> Dict[str, Any]:
        """The public JWK as a dict (``public_jwk_json`` is the JSON text)."""
        jwk: Dict[str, Any] = json.loads(self.public_jwk_json)
        return jwk

    @property
    def public_jwk_json(self) -> str:
        """The public JWK as the JSON text libdpop makes."""
        return self._read("dpop_key_public_jwk")

    @property
    def thumbprint(self) -> str:
        """The RFC 7638 JWK thumbprint: the ``jkt`` of tokens bound to this key."""
        return self._read("dpop_key_thumbprint", capacity=64)

    @property
    def private_jwk(self) -> Dict[str, Any]:
        """The private key as a JWK dict (with ``d``). A secret."""
        jwk: Dict[str, Any] = json.loads(self._read("dpop_key_private_jwk"))
        return jwk

    def private_pem(self, password: Optional[_Text] = None) -> str:
        """The private key as PKCS#8 PEM, encrypted (PBES2, AES-256-CBC) when a password is
        given. A secret."""
        # An encrypted export differs on every call: start with a buffer that fits it.
        return self._read("dpop_key_private_pem", _cstr(password, "password"), capacity=1024)

    def proof(
        self,
        method: _Text,
        url: _Text,
        access_token: Optional[_Text] = None,
        nonce: Optional[_Text] = None,
        extra_claims: Optional[_JsonObject] = None,
    ) -> str:
        """A signed DPoP proof JWT for `method` and `url` (RFC 9449 section 4.2), bound to
        `access_token` (``ath``) and carrying `nonce` when given. `extra_claims` is a dict or
        a JSON object text merged into the payload."""
        status, data = _lib.read_string(
            _lib.lib().dpop_proof_create,
            self._handle,
            _cstr(method, "method"),
            _cstr(url, "url"),
            _cstr(access_token, "access_token"),
            _cstr(nonce, "nonce"),
            None if extra_claims is None else _json(extra_claims, "extra_claims"),
            capacity=1024,  # fits an ordinary proof: one signature is usually enough
        )
        self._check(status)
        return _text(data)

    @property
    def last_error_text(self) -> str:
        """The message of this thread's last call on the key ("" after a success)."""
        return self._last_error_text()

    def __repr__(self) -> str:
        if not self._handle:
            return "<dpop.Key closed>"
        alg = self.alg
        return f"<dpop.Key {alg} {self.thumbprint}>" if alg else "<dpop.Key empty>"


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


class Http(_Handle):
    """The DPoP HTTP client (Chilkat's ``Http`` object).

    Give it a key and the token settings; every request then carries an access token
    fetched with the client_credentials grant and a fresh proof, and nonces demanded by the
    servers are followed. One object may serve several threads at once; ``last_status`` and
    ``last_error_text`` report the calling thread's last call.

    Every keyword argument calls the setter of the same name, e.g.
    ``Http(key, settings, timeouts=(2000, 5000), session_log="session.log")``.
    """

    _free_name = "dpop_http_free"
    _error_text_name = "dpop_http_last_error_text"

    def __init__(
        self,
        key: Optional[Key] = None,
        auth_token: Optional[_JsonObject] = None,
        *,
        access_token: Optional[_Text] = None,
        accept_bearer: Optional[bool] = None,
        refresh_margin: Optional[int] = None,
        timeouts: Optional[Tuple[int, int]] = None,
        request_timeout: Optional[int] = None,
        ca_file: Optional[_Path] = None,
        system_roots: Optional[bool] = None,
        proxy: Optional[_Text] = None,
        user_agent: Optional[_Text] = None,
        allow_insecure_http: Optional[bool] = None,
        max_response_size: Optional[int] = None,
        session_log: Optional[_Path] = None,
    ) -> None:
        super().__init__(_new("dpop_http_new"))
        try:
            if key is not None:
                self.set_key(key)
            if auth_token is not None:
                self.set_auth_token(auth_token)
            if access_token is not None:
                self.set_access_token(access_token)
            if accept_bearer is not None:
                self.set_accept_bearer(accept_bearer)
            if refresh_margin is not None:
                self.set_refresh_margin(refresh_margin)
            if timeouts is not None:
                self.set_timeouts(*timeouts)
            if request_timeout is not None:
                self.set_request_timeout(request_timeout)
            if ca_file is not None:
                self.set_ca_file(ca_file)
            if system_roots is not None:
                self.set_system_roots(system_roots)
            if proxy is not None:
                self.set_proxy(proxy)
            if user_agent is not None:
                self.set_user_agent(user_agent)
            if allow_insecure_http is not None:
                self.set_allow_insecure_http(allow_insecure_http)
            if max_response_size is not None:
                self.set_max_response_size(max_response_size)
            if session_log is not None:
                self.set_session_log(session_log)
        except BaseException:
            self.close()
            raise

    def _set(self, function_name: str, *args: Any) -> None:
        self._check(getattr(_lib.lib(), function_name)(self._handle, *args))

    def set_key(self, key: Key) -> None:
        """The key that signs every proof (Chilkat's ``SetDPoPKey``). The object keeps its
        own reference: `key` may be closed afterwards."""
        if not isinstance(key, Key):
            raise TypeError(f"key must be a dpop.Key, not {type(key).__name__}")
        self._set("dpop_http_set_key", key._handle)

    def set_auth_token(self, settings: _JsonObject) -> None:
        """The token settings (Chilkat's ``AuthToken``), a dict or JSON text:
        ``client_id``, ``client_secret`` (or ``auth_method`` ``private_key_jwt`` with
        ``client_assertion_key``, or ``none``), ``token_endpoint`` or ``issuer``; optionally
        ``scope``, ``grant_type``, ``profile``, ``clock_correction``, ... (the README's
        "The AuthToken settings"). Forgets any token."""
        self._set("dpop_http_set_auth_token", _json(settings, "auth_token"))

    def set_access_token(self, token: Optional[_Text], token_type: Optional[_Text] = None) -> None:
        """Uses a token obtained elsewhere: `token_type` "DPoP" (default) or "Bearer".
        None returns to automatic tokens from the token settings."""
        self._set(
            "dpop_http_set_access_token", _cstr(token, "token"), _cstr(token_type, "token_type")
        )

    def clear_token(self) -> None:
        """Forgets the cached token; the next request fetches a new one."""
        self._set("dpop_http_clear_token")

    def set_accept_bearer(self, accept: bool) -> None:
        """Whether a Bearer token from the token endpoint is accepted (refused by default)."""
        self._set("dpop_http_set_accept_bearer", 1 if accept else 0)

    def set_refresh_margin(self, seconds: int) -> None:
        """Seconds before its expiry at which a token is replaced (default 60)."""
        self._set("dpop_http_set_refresh_margin", seconds)

    def set_timeouts(self, connect_ms: int, read_ms: int) -> None:
        """Connect and read timeouts in milliseconds (defaults 10000 and 30000)."""
        self._set("dpop_http_set_timeouts", connect_ms, read_ms)

    def set_request_timeout(self, total_ms: int) -> None:
        """What one request may take in all, retries and token requests included (ms; 60000)."""
        self._set("dpop_http_set_request_timeout", total_ms)

    def set_ca_file(self, path: Optional[_Path]) -> None:
        """A PEM CA bundle trusted besides the built-in roots; None removes it."""
        self._set("dpop_http_set_ca_file", _path(path))

    def set_system_roots(self, use_system: bool) -> None:
        """Trust the operating system's store (True, the default) or the built-in roots only."""
        self._set("dpop_http_set_system_roots", 1 if use_system else 0)

    def set_proxy(self, url: Optional[_Text]) -> None:
        """An HTTP proxy URL (e.g. ``"http://proxy:3128"``); None connects directly."""
        self._set("dpop_http_set_proxy", _cstr(url, "proxy"))

    def set_user_agent(self, user_agent: _Text) -> None:
        """The User-Agent header (default ``"libdpop/<version>"``)."""
        self._set("dpop_http_set_user_agent", _cstr(user_agent, "user_agent"))

    def set_allow_insecure_http(self, allow: bool) -> None:
        """Allows plain http:// to hosts other than loopback (refused by default)."""
        self._set("dpop_http_set_allow_insecure_http", 1 if allow else 0)

    def set_max_response_size(self, size: int) -> None:
        """The largest response body accepted, in bytes (default 16 MiB)."""
        self._set("dpop_http_set_max_response_size", size)

    def set_session_log(self, path: Optional[_Path]) -> None:
        """Appends every exchange, secrets masked, to the file at `path` (Chilkat's
        ``SessionLogFilename``); None stops logging."""
        self._set("dpop_http_set_session_log", _path(path))

    def get(self, url: _Text) -> str:
        """``GET url`` (Chilkat's ``QuickGetStr``): the body as str whatever the HTTP status
        (see ``last_status``); raises dpop.Error when no response was received. The body is
        cut at a NUL byte: use ``request`` for binary bodies."""
        lib = _lib.lib()
        body: Optional[bytes] = lib.dpop_http_get(self._handle, _cstr(url, "url"))
        if body is None:
            code = int(lib.dpop_last_error_code())
            raise make_error(code, self._error_text())
        return _text(body)

    def request(
        self,
        method: _Text,
        url: _Text,
        headers: Optional[_Headers] = None,
        body: Optional[_Text] = None,
    ) -> Response:
        """Sends a request and returns the whole Response; HTTP error statuses are
        responses, failures to get one raise dpop.Error.

        `headers` is a dict (or pairs) of extra headers; `body` is bytes or str (UTF-8).
        """
        out = _lib.RESPONSE_P()
        self._check(
            _lib.lib().dpop_http_request(
                self._handle, *_request_arguments(method, url, headers, body), ctypes.byref(out)
            )
        )
        return Response(out)

    def get_async(self, url: _Text) -> Task:
        """Starts ``GET url`` as a Task (the asynchronous ``get``) and returns at once; its
        ``result()`` is a Response. Raises here only for the argument; everything else, a bad
        URL included, is the task's result."""
        out = _lib.TASK_P()
        self._set("dpop_http_get_async", _cstr(url, "url"), ctypes.byref(out))
        return Task(out)

    def request_async(
        self,
        method: _Text,
        url: _Text,
        headers: Optional[_Headers] = None,
        body: Optional[_Text] = None,
    ) -> Task:
        """Starts a request as a Task (the asynchronous ``request``, with its arguments) and
        returns at once. Raises here only for the arguments (a header without a name, ...);
        everything else is the task's result."""
        out = _lib.TASK_P()
        self._set(
            "dpop_http_request_async", *_request_arguments(method, url, headers, body), ctypes.byref(out)
        )
        return Task(out)

    # Signing a user in: token settings with grant_type "authorization_code" (the README's
    # "Signing a user in").

    def sign_in(self, timeout_ms: int = 300_000) -> bool:
        """Signs the user in through the browser: opens the authorization URL in the system
        browser (or the program named by the environment variable ``DPOP_BROWSER``) and waits
        up to `timeout_ms` for the redirect to the loopback ``redirect_uri``, then exchanges
        the code. True once signed in (the tokens are cached, renewed with the refresh token,
        and serve every request); False when `timeout_ms` passed first: the sign-in goes on,
        call ``sign_in_wait``. Raises dpop.Error otherwise: ``ERR_SIGN_IN`` (the server
        refused, ``sign_in_timeout`` passed, or the browser could not be opened: then the
        sign-in goes on, and ``sign_in_url`` is the URL to open), ``ERR_CANCELLED``, the token
        endpoint's errors."""
        wait = _milliseconds(timeout_ms, "timeout_ms")
        return self._waited(_lib.lib().dpop_http_sign_in(self._handle, wait))

    def sign_in_start(self, open_browser: bool = True) -> None:
        """Starts signing the user in without waiting: fetches the issuer's metadata, binds
        the loopback listener, builds the authorization URL (pushed first when PAR is asked
        for or required) and, when `open_browser`, opens it. A sign-in in progress on the
        object is cancelled. Then call ``sign_in_wait``."""
        self._set("dpop_http_sign_in_start", 1 if open_browser else 0)

    @property
    def sign_in_url(self) -> Optional[str]:
        """The authorization URL of the sign-in in progress, for a program that opens or shows
        it itself; None when no sign-in is in progress. It holds the sign-in's ``state``:
        give it to the user's browser only."""
        status, data = _lib.read_string(
            _lib.lib().dpop_http_sign_in_url, self._handle, capacity=1024
        )
        if status == ERR_NOT_FOUND:
            return None
        self._check(status)
        return _text(data)

    def sign_in_wait(self, timeout_ms: int) -> bool:
        """Waits up to `timeout_ms` (0: just looks) for the sign-in in progress: True once
        signed in, False when it is still waiting (a UI polls with short waits between its
        events). Raises dpop.Error when the sign-in ended otherwise (as for ``sign_in``), and
        ``ERR_NOT_FOUND`` when none is in progress."""
        wait = _milliseconds(timeout_ms, "timeout_ms")
        return self._waited(_lib.lib().dpop_http_sign_in_wait(self._handle, wait))

    def sign_in_cancel(self) -> None:
        """Cancels the sign-in in progress, if any, from any thread: a ``sign_in_wait`` in
        another thread raises ``ERR_CANCELLED`` within a few tens of milliseconds."""
        self._set("dpop_http_sign_in_cancel")

    def _waited(self, status: int) -> bool:
        if status == ERR_PENDING:
            return False
        self._check(status)
        return True

    # The saved state: the DPoP key and the latest refresh token in one file (the README's
    # "Saved state").

    def save_state(self, path: _Path, passphrase: Optional[_Text] = None) -> None:
        """Saves the object's key and latest refresh token to the file at `path`, bound to the
        token settings' issuer (or token endpoint) and client_id, readable by its owner only;
        from then on the object saves it again whenever the server issues a new refresh token.
        With `passphrase` the file is encrypted under it (PBKDF2 and AES: about half a second);
        without one (None or "") it is protected with DPAPI for the current Windows user, on
        Windows only (``ERR_INVALID_ARGUMENT`` elsewhere)."""
        self._set(
            "dpop_http_save_state", _path(path), _cstr(passphrase, "passphrase")
        )

    def load_state(self, path: _Path, passphrase: Optional[_Text] = None) -> None:
        """Loads a state saved by ``save_state`` (set the token settings first): its key
        becomes the object's key and its refresh token gets the next access token, without a
        sign-in. Raises ``ERR_IO`` (no file: a first run), ``ERR_STATE_CORRUPT``,
        ``ERR_STATE_LOCKED`` (the wrong passphrase, or DPAPI refusing) or
        ``ERR_STATE_FOREIGN`` (saved for another issuer or client); the object is then as it
        was."""
        self._set(
            "dpop_http_load_state", _path(path), _cstr(passphrase, "passphrase")
        )

    def clear_state(self, path: _Path) -> None:
        """Deletes the state file at `path` (nothing to do when there is none) and makes the
        object forget its key and tokens: the way back to a clean start, e.g. after the server
        refused the refresh token (``ERR_SIGN_IN_REQUIRED``). Set a new key, then sign in."""
        self._set("dpop_http_clear_state", _path(path))

    @property
    def last_status(self) -> int:
        """The HTTP status of this thread's last request (0 when none was received)."""
        return int(_lib.lib().dpop_http_last_status(self._handle))

    @property
    def last_error_text(self) -> str:
        """The message of this thread's last call on the object (Chilkat's
        ``LastErrorText``): "" after a success, except when a server rejected the DPoP proof
        (a 401 ``invalid_dpop_proof``, or ``invalid_token`` for a token bound to another key):
        the response is returned, and this says what is probably wrong."""
        return self._last_error_text()

    @property
    def token_info(self) -> Optional[Dict[str, Any]]:
        """What is known of the current access token, as a dict without the token itself
        (``token_type``, ``scope``, ``expires_in``, ``refresh_token``, ``source``,
        ``clock_offset``: the server's clock minus this computer's, in seconds), or None
        when there is no token yet."""
        status, data = _lib.read_string(
            _lib.lib().dpop_http_token_info, self._handle, capacity=256
        )
        if status == ERR_NOT_FOUND:
            return None
        self._check(status)
        info: Dict[str, Any] = json.loads(data)
        return info

    def __repr__(self) -> str:
        return "<dpop.Http closed>" if not self._handle else "<dpop.Http>"
