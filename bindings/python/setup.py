"""Build hooks for the libdpop wheel; the metadata is in pyproject.toml.

``pip wheel ./bindings/python`` makes a wheel with the shared library inside the ``dpop``
package (the second place the package looks, after DPOP_LIBRARY). The library is copied into
the build, never into the source tree, from the first of:

1. the file named by the ``DPOP_LIBRARY`` environment variable (only there, when it is set);
2. the repository's ``target/release/libdpop.so`` (``dpop.dll``, ``libdpop.dylib``), found
   relative to this file: ``../../target/release``.

The build fails, naming both, when there is none. ``DPOP_WHEEL_PURE=1`` builds a pure wheel
without the library (``py3-none-any``); one with the library is tagged for its platform
(``py3-none-linux_x86_64``: ctypes needs no CPython ABI).

setuptools' scratch folders (``build/``, ``*.egg-info``) go to a temporary folder removed when
the build ends, so a build leaves the source tree as it was.
"""

import atexit
import os
import shutil
import sys
import tempfile

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:  # setuptools >= 70.1 has bdist_wheel; older versions take it from the wheel package
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover
    from wheel.bdist_wheel import bdist_wheel

HERE = os.path.dirname(os.path.abspath(__file__))
RELEASE = os.path.join(HERE, "..", "..", "target", "release")
# Every name the package looks for inside its directory (dpop/_lib.py LOCAL_NAMES).
LIBRARY_NAMES = ("libdpop.so", "dpop.dll", "libdpop.dylib")


def library_name():
    """The library's file name on this platform, in target/release and inside the package."""
    if sys.platform == "win32":
        return "dpop.dll"
    if sys.platform == "darwin":
        return "libdpop.dylib"
    return "libdpop.so"


def pure():
    """Whether DPOP_WHEEL_PURE=1 asks for a wheel without the library."""
    return os.environ.get("DPOP_WHEEL_PURE") == "1"


def find_library():
    """The library to put into the wheel: DPOP_LIBRARY, else the repository's build. Raises
    SystemExit, with the message the build shows, when there is none."""
    explicit = os.environ.get("DPOP_LIBRARY")
    if explicit:
        if not os.path.isfile(explicit):
            where = "" if os.path.isabs(explicit) else f" (relative to {os.getcwd()}, where pip builds)"
            raise SystemExit(f"libdpop wheel: DPOP_LIBRARY={explicit} is not a file{where}")
        return explicit
    built = os.path.normpath(os.path.join(RELEASE, library_name()))
    if os.path.isfile(built):
        return built
    raise SystemExit(
        f"libdpop wheel: no library to bundle: DPOP_LIBRARY is not set and {built} does not"
        f" exist. Run `make all` in the libdpop repository, or set DPOP_LIBRARY to the path of"
        f" {library_name()}; DPOP_WHEEL_PURE=1 builds a wheel without the library."
    )


class BuildPy(build_py):
    """Copies the library into the built package (not into the source)."""

    def run(self):
        super().run()
        package = os.path.join(self.build_lib, "dpop")
        for name in LIBRARY_NAMES:  # a library left over from an earlier build in build_lib
            if os.path.exists(os.path.join(package, name)):
                os.remove(os.path.join(package, name))
        # An editable install runs from the source tree: the library comes from DPOP_LIBRARY
        # or the system there.
        if pure() or getattr(self, "editable_mode", False):
            return
        source = find_library()
        target = os.path.join(package, library_name())
        self.announce(f"libdpop wheel: bundling {source} as dpop/{library_name()}", 2)
        shutil.copyfile(source, target)
        os.chmod(target, 0o755)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        bundled = os.path.join(self.build_lib, "dpop", library_name())
        return outputs + [bundled] if os.path.exists(bundled) else outputs


class LibraryDistribution(Distribution):
    """A distribution that holds a native library, unless pure: installed into platlib, and
    its wheel is not tagged ``any``."""

    def has_ext_modules(self):
        return not pure()


class BdistWheel(bdist_wheel):
    """The wheel's tag: the library makes it platform specific, and nothing else does (it is
    loaded with ctypes: no Python ABI)."""

    def get_tag(self):
        python, abi, platform = super().get_tag()
        return (python, abi, platform) if pure() else ("py3", "none", platform)


scratch = tempfile.mkdtemp(prefix="libdpop-build-")
atexit.register(shutil.rmtree, scratch, True)
setup(
    distclass=LibraryDistribution,
    cmdclass={"build_py": BuildPy, "bdist_wheel": BdistWheel},
    options={
        "build": {"build_base": os.path.join(scratch, "build")},
        "egg_info": {"egg_base": scratch},
    },
)
