"""Fixtures for the Python binding's tests: the package from this source tree, libdpop from
target/release (unless DPOP_LIBRARY names another), local DPoP test servers, and the wheel
`pip wheel` makes from this tree, installed into a fresh virtualenv."""

import glob
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import List

import pytest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINDINGS_DIR = os.path.dirname(PYTHON_DIR)
ROOT = os.path.dirname(BINDINGS_DIR)
RELEASE = os.path.join(ROOT, "target", "release")
SERVER = os.environ.get("DPOP_TEST_SERVER", os.path.join(RELEASE, "dpop-test-server"))

# Absolute: the wheel builds (tests/test_wheel.py) run in another directory.
LIBRARY = os.path.abspath(os.environ.get("DPOP_LIBRARY") or os.path.join(RELEASE, "libdpop.so"))
os.environ["DPOP_LIBRARY"] = LIBRARY
sys.path.insert(0, PYTHON_DIR)
sys.path.insert(0, BINDINGS_DIR)  # dpop_header, the header reader the ABI test shares

SECRET = "py-binding-secret-4kT9wQ"


@dataclass
class Server:
    """A running dpop-test-server."""

    base: str
    secret: str
    log: str

    @property
    def token_endpoint(self):
        return self.base + "/token"

    @property
    def api_url(self):
        return self.base + "/dpop/test"

    @property
    def echo_url(self):
        return self.base + "/dpop/echo"

    def auth_token(self, **extra):
        settings = {
            "client_id": "m2m.dpop",
            "client_secret": self.secret,
            "token_endpoint": self.token_endpoint,
            "scope": "api",
        }
        settings.update(extra)
        return settings


def _start(directory, *flags):
    if not os.path.exists(SERVER):
        pytest.fail(f"{SERVER} is missing: run `make all` first")
    port_file = os.path.join(directory, "port")
    log = os.path.join(directory, "server.log")
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            [SERVER, "--port", "0", "--port-file", port_file, "--client", f"m2m.dpop:{SECRET}", *flags],
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    deadline = time.monotonic() + 10
    while not (os.path.exists(port_file) and open(port_file).read().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the test server did not start: " + open(log).read())
        time.sleep(0.02)
    port = int(open(port_file).read().strip())
    return proc, Server(f"http://127.0.0.1:{port}", SECRET, log)


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A test server with default settings, shared by the session."""
    proc, srv = _start(str(tmp_path_factory.mktemp("server")))
    yield srv
    _stop(proc)


def source_tree():
    """Every file and folder under bindings/python, but Python's caches, sorted."""
    entries = []
    for directory, dirs, files in os.walk(PYTHON_DIR):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", ".pytest_cache", ".mypy_cache")]
        entries += [os.path.relpath(os.path.join(directory, n), PYTHON_DIR) for n in dirs + files]
    return sorted(entries)


def build_env(**changes):
    """The environment for `pip wheel`, with `changes` (None removes a variable)."""
    env = dict(os.environ)
    env.pop("DPOP_WHEEL_PURE", None)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def pip_wheel(source, out, env, python=sys.executable, isolated=True):
    """`python -m pip wheel SOURCE -w OUT`; the completed process. Isolated, as a user runs it,
    the build takes setuptools from the package index; otherwise `python`'s own."""
    flags = [] if isolated else ["--no-build-isolation"]
    return subprocess.run(
        [python, "-m", "pip", "wheel", "--disable-pip-version-check", *flags, source, "-w", out],
        env=env,
        capture_output=True,
        text=True,
    )


@dataclass
class Wheel:
    """The wheel built from this source tree, and the tree before and after the build."""

    path: str
    tree_before: List[str]
    tree_after: List[str]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    """`pip wheel ./bindings/python` with the library of DPOP_LIBRARY, as run-tests.sh sets it
    (conftest's default: target/release/libdpop.so)."""
    out = str(tmp_path_factory.mktemp("wheel"))
    before = source_tree()
    result = pip_wheel(PYTHON_DIR, out, build_env())
    if result.returncode != 0:
        pytest.fail(f"pip wheel failed:\n{result.stdout}\n{result.stderr}")
    (path,) = glob.glob(os.path.join(out, "*.whl"))
    return Wheel(path, before, source_tree())


@pytest.fixture(scope="session")
def builder(tmp_path_factory):
    """The Python of a virtualenv with a current setuptools, for the quick builds
    (`--no-build-isolation`) of tests that try setup.py's choices one by one."""
    venv = str(tmp_path_factory.mktemp("builder"))
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = os.path.join(venv, "bin", "python")
    result = subprocess.run(
        [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-U", "setuptools>=70.1"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.fail(f"cannot install setuptools for the build tests:\n{result.stdout}\n{result.stderr}")
    return python


@dataclass
class Installed:
    """A fresh virtualenv with the wheel installed."""

    venv: str
    python: str

    def env(self, **changes):
        """The environment to run its Python in: without DPOP_LIBRARY or PYTHONPATH, so that
        the installed package and the library inside it are what is used."""
        env = dict(os.environ)
        for name in ("DPOP_LIBRARY", "PYTHONPATH", "LD_LIBRARY_PATH"):
            env.pop(name, None)
        env.update(changes)
        return env


@pytest.fixture(scope="session")
def installed(tmp_path_factory, wheel):
    venv = str(tmp_path_factory.mktemp("venv"))
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = os.path.join(venv, "bin", "python")
    result = subprocess.run(
        [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", wheel.path],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.fail(f"pip install {wheel.path} failed:\n{result.stdout}\n{result.stderr}")
    return Installed(venv, python)


@pytest.fixture
def start_server(tmp_path):
    """Starts a test server with the given flags, stopped after the test."""
    procs = []

    def start(*flags):
        directory = tmp_path / f"server{len(procs)}"
        directory.mkdir()
        proc, srv = _start(str(directory), *flags)
        procs.append(proc)
        return srv

    yield start
    for proc in procs:
        _stop(proc)
