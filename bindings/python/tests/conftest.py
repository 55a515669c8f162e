"""Fixtures for the Python binding's tests: the package from this source tree, libdpop from
target/release (unless DPOP_LIBRARY names another), and local DPoP test servers."""

import os
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINDINGS_DIR = os.path.dirname(PYTHON_DIR)
ROOT = os.path.dirname(BINDINGS_DIR)
RELEASE = os.path.join(ROOT, "target", "release")
SERVER = os.environ.get("DPOP_TEST_SERVER", os.path.join(RELEASE, "dpop-test-server"))

os.environ.setdefault("DPOP_LIBRARY", os.path.join(RELEASE, "libdpop.so"))
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
