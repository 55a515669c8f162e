"""The binding's declarations against include/dpop.h, and how the library is found."""

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import sys

import pytest

import dpop
import dpop_header
from dpop import _lib

from conftest import PYTHON_DIR, RELEASE

PROTOTYPES, CONSTANTS = dpop_header.read_header()

HANDLES = {
    "dpop_key": _lib.KEY_P,
    "dpop_http": _lib.HTTP_P,
    "dpop_response": _lib.RESPONSE_P,
    "dpop_task": _lib.TASK_P,
}

SCALARS = {
    "void": None,
    "int32_t": ctypes.c_int32,
    "dpop_status": ctypes.c_int32,
    "uint32_t": ctypes.c_uint32,
    "size_t": ctypes.c_size_t,
    "size_t *": ctypes.POINTER(ctypes.c_size_t),
    "const char *": ctypes.c_char_p,
    "char *": ctypes.c_char_p,
}


def expected(ctype, is_return):
    """The ctypes type that fits a C type of the header."""
    if ctype in SCALARS:
        return SCALARS[ctype]
    if ctype == "const uint8_t *":
        # In: bytes passed as they are. Out (a body that may hold NUL bytes): an address.
        return ctypes.c_void_p if is_return else ctypes.c_char_p
    words = ctype.replace("const ", "").split()
    if len(words) == 3 and words[0] == "struct" and words[2] in ("*", "**"):
        handle = HANDLES[words[1]]
        return handle if words[2] == "*" else ctypes.POINTER(handle)
    raise AssertionError(f"the test does not know the C type {ctype!r}")


def test_every_export_of_the_header_is_declared_and_nothing_else():
    assert [p.name for p in PROTOTYPES] == list(_lib.SIGNATURES)


@pytest.mark.parametrize("proto", PROTOTYPES, ids=lambda p: p.name)
def test_declared_types_fit_the_header(proto):
    restype, argtypes = _lib.SIGNATURES[proto.name]
    assert restype is expected(proto.ret, True), proto.ret
    assert len(argtypes) == len(proto.params)
    for param, argtype in zip(proto.params, argtypes):
        assert argtype is expected(param.ctype, False), (param.name, param.ctype)


def test_the_loaded_functions_carry_their_declarations():
    lib = dpop.library()
    for name, (restype, argtypes) in _lib.SIGNATURES.items():
        function = getattr(lib, name)
        assert function.restype is restype and function.argtypes == argtypes, name


def test_status_codes_match_the_header():
    codes = {
        name: value
        for name, value in CONSTANTS.items()
        if not name.startswith(("DPOP_VERSION_", "DPOP_TASK_"))  # versions and task states
    }
    assert codes
    for name, value in codes.items():
        assert getattr(dpop, name[len("DPOP_"):]) == value, name
        assert dpop.error_name(value) == name
    exported = {n for n in dir(dpop) if n == "OK" or n.startswith("ERR_")}
    assert exported == {name[len("DPOP_"):] for name in codes}


def test_task_states_match_the_header():
    states = {name: value for name, value in CONSTANTS.items() if name.startswith("DPOP_TASK_")}
    assert states
    assert {f"DPOP_TASK_{state.name}": int(state) for state in dpop.TaskStatus} == states


def test_library_version_matches_the_header_and_the_package():
    header = "{}.{}.{}".format(
        CONSTANTS["DPOP_VERSION_MAJOR"], CONSTANTS["DPOP_VERSION_MINOR"], CONSTANTS["DPOP_VERSION_PATCH"]
    )
    assert dpop.version() == header == dpop.__version__


def test_stdcall_only_on_32bit_windows():
    assert _lib.is_32bit_windows("win32", 4)
    assert not _lib.is_32bit_windows("win32", 8)
    assert not _lib.is_32bit_windows("linux", 4)
    if hasattr(ctypes, "WinDLL"):  # only on Windows
        assert _lib.loader("win32", 4) is ctypes.WinDLL
    assert _lib.loader("linux", 8) is ctypes.CDLL


def test_search_order_environment_then_package_then_system(tmp_path):
    def no_system(name):
        return None

    assert _lib.candidates({"DPOP_LIBRARY": "/x/libdpop.so"}, str(tmp_path), no_system) == ["/x/libdpop.so"]
    assert _lib.candidates({}, str(tmp_path), no_system) == [_lib.plain_name()]
    assert _lib.candidates({}, str(tmp_path), lambda n: "/sys/libdpop.so." + n) == [
        "/sys/libdpop.so.dpop",
        _lib.plain_name(),
    ]
    (tmp_path / "dpop.dll").write_bytes(b"")
    assert _lib.candidates({}, str(tmp_path), no_system) == [str(tmp_path / "dpop.dll")]
    assert _lib.plain_name("win32") == "dpop.dll"
    assert _lib.plain_name("darwin") == "libdpop.dylib"
    assert _lib.plain_name("linux") == "libdpop.so"


def run_python(code, env_changes, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("DPOP_LIBRARY", "LD_LIBRARY_PATH", "PYTHONPATH")}
    env.update(env_changes)
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout.strip(), proc.stderr


PRINT_LIBRARY = "import dpop; print(dpop.library()._name, dpop.version())"


def test_a_library_inside_the_package_directory_is_found(tmp_path):
    shutil.copytree(os.path.join(PYTHON_DIR, "dpop"), tmp_path / "dpop", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(RELEASE, "libdpop.so"), tmp_path / "dpop" / "libdpop.so")
    code, out, err = run_python(PRINT_LIBRARY, {"PYTHONPATH": str(tmp_path)}, str(tmp_path))
    assert code == 0, err
    assert out == f"{tmp_path / 'dpop' / 'libdpop.so'} {dpop.version()}"


def test_the_system_loader_path_is_used_last(tmp_path):
    code, out, err = run_python(PRINT_LIBRARY, {"PYTHONPATH": PYTHON_DIR, "LD_LIBRARY_PATH": RELEASE}, str(tmp_path))
    assert code == 0, err
    assert out.endswith(dpop.version()) and "libdpop" in out


def test_a_missing_library_is_a_clear_error(tmp_path):
    code, out, err = run_python(
        "import dpop\ntry:\n    dpop.version()\nexcept dpop.LibraryError as e:\n    print('LibraryError', e)",
        {"PYTHONPATH": PYTHON_DIR, "DPOP_LIBRARY": str(tmp_path / "nowhere.so")},
        str(tmp_path),
    )
    assert code == 0, err
    assert out.startswith("LibraryError") and "nowhere.so" in out and "DPOP_LIBRARY" in out


def test_a_library_without_the_functions_is_refused():
    libc = ctypes.util.find_library("c")
    if libc is None:
        pytest.skip("no C library to load")
    with pytest.raises(dpop.LibraryError, match="has no function dpop_"):
        _lib.load(libc)
