"""Http: the DPoP HTTP client, one dpop_http handle."""

from __future__ import annotations

import ctypes
import json
import os  # noqa: F401  (_Path names os.PathLike in strings, which get_type_hints resolves here)
from typing import Any, Dict, Optional, Tuple

from . import _lib
from ._codes import ERR_NOT_FOUND, ERR_PENDING
from ._errors import make_error
from ._handle import (
    _cstr,
    _path,
    _json,
    _milliseconds,
    _text,
    _request_arguments,
    _Handle,
    _new,
    _Text,
    _Path,
    _JsonObject,
    _Headers,
)
from ._key import Key
from ._response import Response
from ._task import Task


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
