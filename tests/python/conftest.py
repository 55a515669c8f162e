"""Shared helpers for the interop tests: run the C test driver, make keys with OpenSSL."""

import json
import os
import subprocess

import pytest

TOOL = os.environ.get("DPOPTOOL")


def dpoptool(*args):
    """Runs tests/c/dpoptool (the library through its C ABI); returns (exit code, stdout)."""
    if not TOOL:
        pytest.fail("DPOPTOOL is not set: run these tests with `make py-test`")
    proc = subprocess.run([TOOL, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 3), f"dpoptool crashed or misused: {proc.returncode} {proc.stderr}"
    return proc.returncode, proc.stdout


def load_ok(path, *extra):
    code, out = dpoptool("load", path, *extra)
    assert code == 0, out
    return json.loads(out)


def load_error(path, *extra):
    """Loads a key that must fail; returns (error name, key error text, thread error text)."""
    code, out = dpoptool("load", path, *extra)
    assert code == 3, f"expected a failure, got: {out}"
    first, key_text, thread_text = out.split("\n")[:3]
    name = first.split()[1]
    assert key_text.startswith("dpop_key_load"), key_text
    assert thread_text == key_text
    return name, key_text


def openssl(*args, input=None):
    proc = subprocess.run(["openssl", *map(str, args)], capture_output=True, input=input, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout
