"""Type hints: every public function and method is annotated, and `mypy --strict` accepts a
typed use of the installed package (py.typed), refuses misuse, and accepts the package itself."""

import inspect
import os
import re
import shutil
import subprocess
import typing

import pytest

import dpop
from conftest import PYTHON_DIR

TYPED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "typed")
# Methods that are public though their names start with an underscore.
PUBLIC_DUNDERS = ("__init__", "__enter__", "__exit__")


def public_functions():
    """(qualified name, function) for every public function, method and property getter."""
    for name in dpop.__all__:
        obj = getattr(dpop, name)
        if not inspect.isclass(obj):
            yield name, obj
            continue
        for klass in obj.__mro__:
            if not klass.__module__.startswith("dpop"):
                continue  # Exception's, OSError's and object's own
            for attr, value in vars(klass).items():
                if attr.startswith("_") and attr not in PUBLIC_DUNDERS:
                    continue
                if isinstance(value, property):
                    yield f"{name}.{attr}", value.fget
                elif isinstance(value, (classmethod, staticmethod)):
                    yield f"{name}.{attr}", value.__func__
                elif inspect.isfunction(value):
                    yield f"{name}.{attr}", value


def missing_annotations(function):
    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())
    if parameters and parameters[0].name in ("self", "cls"):
        parameters = parameters[1:]
    missing = [p.name for p in parameters if p.annotation is inspect.Parameter.empty]
    if signature.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


def test_every_public_function_and_method_is_annotated():
    functions = dict(public_functions())
    # The walk finds the API, not nothing.
    for name in ("Key.load", "Key.proof", "Key.alg", "Http.__init__", "Http.request",
                 "Http.token_info", "Http.get_async", "Http.request_async", "Task.wait", "Task.status",
                 "Task.result", "Response.header", "Error.__init__", "error_name", "version"):
        assert name in functions
    unannotated = {name: m for name, f in functions.items() if (m := missing_annotations(f))}
    assert unannotated == {}
    for name, function in functions.items():
        typing.get_type_hints(function)  # every annotation names something that exists


def test_py_typed_is_in_the_package():
    assert os.path.isfile(os.path.join(PYTHON_DIR, "dpop", "py.typed"))


@pytest.fixture(scope="session")
def mypy(installed):
    """The installed virtualenv's Python, with mypy installed from the package index into it."""
    result = subprocess.run(
        [installed.python, "-m", "pip", "install", "--disable-pip-version-check", "-q", "mypy"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        pytest.skip(f"mypy cannot be installed from the package index: {lines[-1]}")
    return installed


def run_mypy(mypy, cwd, *targets):
    return subprocess.run(
        [mypy.python, "-m", "mypy", "--strict", "--cache-dir", os.path.join(cwd, ".cache"), *targets],
        cwd=cwd,
        env=mypy.env(),
        capture_output=True,
        text=True,
    )


def test_mypy_strict_accepts_a_typed_use_of_the_installed_package(mypy, tmp_path):
    # From a folder without the source, so that mypy sees the installed package.
    shutil.copy(os.path.join(TYPED_DIR, "usage.py"), tmp_path)
    result = run_mypy(mypy, str(tmp_path), "usage.py")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_refuses_misuse_on_each_marked_line(mypy, tmp_path):
    shutil.copy(os.path.join(TYPED_DIR, "misuse.py"), tmp_path)
    with open(tmp_path / "misuse.py") as f:
        marked = {n for n, line in enumerate(f, 1) if line.rstrip().endswith("# error")}
    result = run_mypy(mypy, str(tmp_path), "misuse.py")
    assert result.returncode == 1, result.stdout + result.stderr
    reported = {int(n) for n in re.findall(r"^misuse\.py:(\d+): error:", result.stdout, re.M)}
    assert reported == marked, result.stdout
    assert "untyped" not in result.stdout  # refused for its types, not for missing hints


def test_mypy_strict_accepts_the_package_source(mypy, tmp_path):
    result = run_mypy(mypy, str(tmp_path), os.path.join(PYTHON_DIR, "dpop"))
    assert result.returncode == 0, result.stdout + result.stderr
