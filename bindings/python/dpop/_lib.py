"""Finding and loading libdpop, and the C signature of every function it exports.

The library is looked for, in this order:

1. the path in the ``DPOP_LIBRARY`` environment variable (only there, when it is set);
2. a ``libdpop.so``, ``dpop.dll`` or ``libdpop.dylib`` inside this package's directory;
3. the system loader: ``ctypes.util.find_library("dpop")``, then the plain file name.

It is loaded on first use, not at import. The exports are ``extern "system"``: stdcall on
32-bit Windows (loaded with ``ctypes.WinDLL``), the C convention everywhere else (``CDLL``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Type

from ._codes import ERR_BUFFER_TOO_SMALL, OK

c_size_p = ctypes.POINTER(ctypes.c_size_t)


class dpop_key(ctypes.Structure):
    """The opaque C ``struct dpop_key``; only pointers to it are used."""


class dpop_http(ctypes.Structure):
    """The opaque C ``struct dpop_http``."""


class dpop_response(ctypes.Structure):
    """The opaque C ``struct dpop_response``."""


class dpop_task(ctypes.Structure):
    """The opaque C ``struct dpop_task``."""


KEY_P = ctypes.POINTER(dpop_key)
HTTP_P = ctypes.POINTER(dpop_http)
RESPONSE_P = ctypes.POINTER(dpop_response)
TASK_P = ctypes.POINTER(dpop_task)

_status = ctypes.c_int32  # dpop_status
_str = ctypes.c_char_p  # const char * in, char * buffers out, const uint8_t * data in
_i32 = ctypes.c_int32
_u32 = ctypes.c_uint32
_size = ctypes.c_size_t

# name: (restype, argtypes), in the order of include/dpop.h. tests/test_abi.py checks this
# table against the header, so that a new or changed export cannot be missed here.
SIGNATURES: Dict[str, Tuple[Any, List[Any]]] = {
    "dpop_error_name": (_str, [_status]),
    "dpop_last_error_code": (_status, []),
    "dpop_last_error_message": (_str, []),
    "dpop_http_new": (HTTP_P, []),
    "dpop_http_free": (None, [HTTP_P]),
    "dpop_http_set_key": (_status, [HTTP_P, KEY_P]),
    "dpop_http_set_auth_token": (_status, [HTTP_P, _str]),
    "dpop_http_set_access_token": (_status, [HTTP_P, _str, _str]),
    "dpop_http_clear_token": (_status, [HTTP_P]),
    "dpop_http_set_accept_bearer": (_status, [HTTP_P, _i32]),
    "dpop_http_set_refresh_margin": (_status, [HTTP_P, _u32]),
    "dpop_http_set_timeouts": (_status, [HTTP_P, _u32, _u32]),
    "dpop_http_set_request_timeout": (_status, [HTTP_P, _u32]),
    "dpop_http_set_ca_file": (_status, [HTTP_P, _str]),
    "dpop_http_set_system_roots": (_status, [HTTP_P, _i32]),
    "dpop_http_set_proxy": (_status, [HTTP_P, _str]),
    "dpop_http_set_user_agent": (_status, [HTTP_P, _str]),
    "dpop_http_set_allow_insecure_http": (_status, [HTTP_P, _i32]),
    "dpop_http_set_max_response_size": (_status, [HTTP_P, _size]),
    "dpop_http_set_session_log": (_status, [HTTP_P, _str]),
    "dpop_http_get": (_str, [HTTP_P, _str]),
    "dpop_http_request": (
        _status,
        [HTTP_P, _str, _str, _str, _str, _size, ctypes.POINTER(RESPONSE_P)],
    ),
    "dpop_http_last_status": (_i32, [HTTP_P]),
    "dpop_http_last_error_text": (_status, [HTTP_P, _str, _size, c_size_p]),
    "dpop_http_token_info": (_status, [HTTP_P, _str, _size, c_size_p]),
    "dpop_key_new": (KEY_P, []),
    "dpop_key_free": (None, [KEY_P]),
    "dpop_key_load": (_status, [KEY_P, _str, _str]),
    "dpop_key_load_memory": (_status, [KEY_P, _str, _size, _str]),
    "dpop_key_generate": (_status, [KEY_P, _str]),
    "dpop_key_generate_rsa": (_status, [KEY_P, _i32, _str]),
    "dpop_key_set_alg": (_status, [KEY_P, _str]),
    "dpop_key_alg": (_str, [KEY_P]),
    "dpop_key_public_jwk": (_status, [KEY_P, _str, _size, c_size_p]),
    "dpop_key_thumbprint": (_status, [KEY_P, _str, _size, c_size_p]),
    "dpop_key_private_jwk": (_status, [KEY_P, _str, _size, c_size_p]),
    "dpop_key_private_pem": (_status, [KEY_P, _str, _str, _size, c_size_p]),
    "dpop_key_last_error_text": (_status, [KEY_P, _str, _size, c_size_p]),
    "dpop_proof_create": (
        _status,
        [KEY_P, _str, _str, _str, _str, _str, _str, _size, c_size_p],
    ),
    "dpop_response_free": (None, [RESPONSE_P]),
    "dpop_response_status": (_i32, [RESPONSE_P]),
    # The body may hold NUL bytes: a raw address, read with ctypes.string_at(address, len).
    "dpop_response_body": (ctypes.c_void_p, [RESPONSE_P, c_size_p]),
    "dpop_response_header": (_status, [RESPONSE_P, _str, _str, _size, c_size_p]),
    "dpop_response_headers": (_status, [RESPONSE_P, _str, _size, c_size_p]),
    "dpop_http_sign_in_start": (_status, [HTTP_P, _i32]),
    "dpop_http_sign_in_url": (_status, [HTTP_P, _str, _size, c_size_p]),
    "dpop_http_sign_in_wait": (_status, [HTTP_P, _u32]),
    "dpop_http_sign_in_cancel": (_status, [HTTP_P]),
    "dpop_http_sign_in": (_status, [HTTP_P, _u32]),
    "dpop_http_save_state": (_status, [HTTP_P, _str, _str]),
    "dpop_http_load_state": (_status, [HTTP_P, _str, _str]),
    "dpop_http_clear_state": (_status, [HTTP_P, _str]),
    "dpop_http_get_async": (_status, [HTTP_P, _str, ctypes.POINTER(TASK_P)]),
    "dpop_http_request_async": (_status, [HTTP_P, _str, _str, _str, _str, _size, ctypes.POINTER(TASK_P)]),
    "dpop_task_wait": (_status, [TASK_P, _u32]),
    "dpop_task_status": (_i32, [TASK_P]),
    "dpop_task_cancel": (_status, [TASK_P]),
    "dpop_task_result": (_status, [TASK_P, ctypes.POINTER(RESPONSE_P)]),
    "dpop_task_last_error_text": (_status, [TASK_P, _str, _size, c_size_p]),
    "dpop_task_free": (None, [TASK_P]),
    "dpop_version": (_str, []),
}

# File names looked for inside the package directory.
LOCAL_NAMES = ("libdpop.so", "dpop.dll", "libdpop.dylib")


class LibraryError(OSError):
    """libdpop could not be found or loaded, or lacks a function this binding needs."""


def is_32bit_windows(platform: Optional[str] = None, pointer_size: Optional[int] = None) -> bool:
    """Whether the exports use stdcall: on 32-bit Windows (default: this platform)."""
    platform = platform or sys.platform
    pointer_size = pointer_size or ctypes.sizeof(ctypes.c_void_p)
    return platform == "win32" and pointer_size == 4


def loader(
    platform: Optional[str] = None, pointer_size: Optional[int] = None
) -> Type[ctypes.CDLL]:
    """The ctypes loader for the calling convention: WinDLL (stdcall) on 32-bit Windows,
    CDLL (the C convention) elsewhere. On 64-bit Windows the two are the same."""
    if is_32bit_windows(platform, pointer_size):
        windll: Type[ctypes.CDLL] = getattr(ctypes, "WinDLL")  # only defined on Windows
        return windll
    return ctypes.CDLL


def plain_name(platform: Optional[str] = None) -> str:
    """The library's file name for the system loader on `platform` (default: this one)."""
    platform = platform or sys.platform
    if platform == "win32":
        return "dpop.dll"
    if platform == "darwin":
        return "libdpop.dylib"
    return "libdpop.so"


def candidates(
    environ: Optional[Mapping[str, str]] = None,
    package_dir: Optional[str] = None,
    find_library: Optional[Callable[[str], Optional[str]]] = None,
) -> List[str]:
    """The paths or names to try, best first (see the module docstring)."""
    environ = os.environ if environ is None else environ
    explicit = environ.get("DPOP_LIBRARY")
    if explicit:
        return [explicit]
    package_dir = package_dir or os.path.dirname(os.path.abspath(__file__))
    local = [os.path.join(package_dir, n) for n in LOCAL_NAMES]
    found = [p for p in local if os.path.isfile(p)]
    if found:
        return found
    system = (find_library or ctypes.util.find_library)("dpop")
    return ([system] if system else []) + [plain_name()]


def load(path: str) -> ctypes.CDLL:
    """Loads the library at `path` and declares every signature."""
    lib = loader()(path)
    for name, (restype, argtypes) in SIGNATURES.items():
        try:
            function = getattr(lib, name)
        except AttributeError:
            raise LibraryError(
                f"{path} has no function {name}: the library is older than this binding"
            ) from None
        function.restype = restype
        function.argtypes = argtypes
    return lib


_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None


def lib() -> ctypes.CDLL:
    """The loaded library (loaded on first call)."""
    global _lib
    if _lib is None:
        with _lock:
            if _lib is None:
                errors: List[str] = []
                for candidate in candidates():
                    try:
                        _lib = load(candidate)
                        break
                    except LibraryError:
                        raise
                    except OSError as e:
                        errors.append(f"{candidate}: {e}")
                else:
                    raise LibraryError(
                        "cannot load libdpop (set DPOP_LIBRARY to its path): " + "; ".join(errors)
                    )
    return _lib


def read_string(function: Callable[..., int], *args: Any, capacity: int = 0) -> Tuple[int, bytes]:
    """Calls a "strings out" function ``function(*args, buf, buf_len, out_size)`` with the
    size-query pattern: the first call has `capacity` bytes (NULL when 0), a too-small buffer
    is replaced by one of the size libdpop asks for. Returns ``(status, bytes)``, the bytes
    empty unless the status is OK."""
    size = ctypes.c_size_t(0)
    for _ in range(4):
        buffer = ctypes.create_string_buffer(capacity) if capacity else None
        status = function(*args, buffer, capacity, ctypes.byref(size))
        if status == OK:
            return OK, buffer.raw[: max(size.value - 1, 0)] if buffer is not None else b""
        if status != ERR_BUFFER_TOO_SMALL or size.value <= capacity:
            return status, b""
        capacity = size.value
    return ERR_BUFFER_TOO_SMALL, b""
