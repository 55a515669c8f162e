"""The wheel: `pip wheel ./bindings/python` bundles libdpop and py.typed, is tagged for its
platform, leaves the source tree as it was, and fails clearly without a library (setup.py)."""

import hashlib
import os
import pathlib
import shutil
import subprocess
import sysconfig
import zipfile

import dpop
from conftest import LIBRARY, PYTHON_DIR, ROOT, build_env, pip_wheel, source_tree


def wheel_file(path, name):
    with zipfile.ZipFile(path) as z:
        return z.read(name)


def wheel_names(path):
    with zipfile.ZipFile(path) as z:
        return z.namelist()


def wheel_tag(path):
    info = [n for n in wheel_names(path) if n.endswith(".dist-info/WHEEL")]
    text = wheel_file(path, info[0]).decode()
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    return fields["Tag"], fields["Root-Is-Purelib"]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def test_the_wheel_bundles_the_library_and_py_typed(wheel):
    names = wheel_names(wheel.path)
    assert "dpop/py.typed" in names
    assert "dpop/libdpop.so" in names
    with open(LIBRARY, "rb") as f:
        assert sha256(wheel_file(wheel.path, "dpop/libdpop.so")) == sha256(f.read())
    assert not [n for n in names if n.endswith((".dll", ".dylib"))]


def test_a_wheel_with_the_library_is_tagged_for_this_platform_and_no_python_abi(wheel):
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    tag, purelib = wheel_tag(wheel.path)
    assert tag == f"py3-none-{platform}" and platform != "any"
    assert os.path.basename(wheel.path) == f"libdpop-{dpop.__version__}-py3-none-{platform}.whl"
    assert purelib == "false"  # installed into platlib, as a native library should be


def test_a_build_leaves_the_source_tree_as_it_was(wheel):
    assert wheel.tree_after == wheel.tree_before
    for leftover in ("build", "libdpop.egg-info", "dpop/libdpop.so"):
        assert leftover not in wheel.tree_after


def quick_build(builder, source, out, **env):
    """A build with setup.py's choice of library set by `env`; (process, wheel path or None)."""
    result = pip_wheel(str(source), str(out), build_env(**env), python=builder, isolated=False)
    wheels = list(pathlib.Path(out).glob("*.whl"))
    return result, (str(wheels[0]) if wheels else None)


def copy_of_the_source(tmp_path):
    """A copy of bindings/python where ../../target/release holds nothing."""
    source = tmp_path / "copy" / "python"
    shutil.copytree(PYTHON_DIR, source, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    assert not (tmp_path / "target").exists()
    return source


def test_a_pure_wheel_holds_no_library_and_is_tagged_any(builder, tmp_path):
    before = source_tree()
    result, path = quick_build(builder, PYTHON_DIR, tmp_path, DPOP_WHEEL_PURE="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert os.path.basename(path) == f"libdpop-{dpop.__version__}-py3-none-any.whl"
    assert wheel_tag(path) == ("py3-none-any", "true")
    names = wheel_names(path)
    assert "dpop/py.typed" in names
    assert not [n for n in names if n.endswith((".so", ".dll", ".dylib"))]
    assert source_tree() == before


def test_dpop_library_is_bundled_before_the_repository_build(builder, tmp_path):
    marked = tmp_path / "libdpop-marked.so"
    with open(LIBRARY, "rb") as f:
        marked.write_bytes(f.read() + b"marked")  # differs from target/release/libdpop.so
    result, path = quick_build(builder, PYTHON_DIR, tmp_path / "out", DPOP_LIBRARY=str(marked))
    assert result.returncode == 0, result.stdout + result.stderr
    assert sha256(wheel_file(path, "dpop/libdpop.so")) == sha256(marked.read_bytes())


def test_without_dpop_library_the_repository_build_is_bundled(builder, tmp_path):
    built = os.path.join(ROOT, "target", "release", "libdpop.so")
    result, path = quick_build(builder, PYTHON_DIR, tmp_path, DPOP_LIBRARY=None)
    assert result.returncode == 0, result.stdout + result.stderr
    with open(built, "rb") as f:
        assert sha256(wheel_file(path, "dpop/libdpop.so")) == sha256(f.read())


def test_without_a_library_the_build_fails_naming_both_places(tmp_path):
    # As a user runs it (isolated), so that this is the message pip shows them.
    source = copy_of_the_source(tmp_path)
    release = tmp_path / "target" / "release"
    result = pip_wheel(str(source), str(tmp_path / "out"), build_env(DPOP_LIBRARY=None))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "DPOP_LIBRARY is not set" in output
    assert f"{release / 'libdpop.so'} does not exist" in output
    assert "DPOP_WHEEL_PURE=1" in output
    assert not list((tmp_path / "out").glob("*.whl"))
    assert sorted(p.name for p in source.iterdir()) == sorted(
        n for n in os.listdir(PYTHON_DIR) if n not in ("tests", "__pycache__")
    )  # nothing left in the copy either


def test_a_dpop_library_that_names_no_file_fails_the_build(builder, tmp_path):
    # A mistake, not a reason to take another library: target/release exists here.
    missing = tmp_path / "missing.so"
    result, path = quick_build(builder, PYTHON_DIR, tmp_path / "out", DPOP_LIBRARY=str(missing))
    assert result.returncode != 0 and path is None
    assert f"DPOP_LIBRARY={missing} is not a file" in result.stdout + result.stderr


def test_the_installed_package_loads_the_library_inside_it_without_dpop_library(installed):
    script = (
        "import os, sys, dpop\n"
        "venv = os.path.realpath(sys.argv[1])\n"
        "assert os.path.realpath(dpop.__file__).startswith(venv), dpop.__file__\n"
        "print(os.path.realpath(dpop.library()._name))\n"
        "print(os.path.isfile(os.path.join(os.path.dirname(dpop.__file__), 'py.typed')))\n"
        "print(dpop.version(), dpop.Key.generate().alg)\n"
    )
    result = subprocess.run(
        [installed.python, "-c", script, installed.venv],
        env=installed.env(),
        cwd="/",
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    loaded, typed, check = result.stdout.splitlines()
    assert loaded.startswith(os.path.realpath(installed.venv))
    assert loaded.endswith(os.path.join("site-packages", "dpop", "libdpop.so"))
    assert typed == "True"  # py.typed is installed with the package
    assert check == f"{dpop.__version__} ES256"
