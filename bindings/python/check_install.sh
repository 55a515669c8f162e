#!/usr/bin/env bash
# Installs bindings/python into fresh virtualenvs, as a user does, and checks the installed
# package (not the source tree):
#   1. `pip install ./bindings/python`: with the library named by DPOP_LIBRARY, version, a key,
#      a proof, and a GET against a local test server;
#   2. `pip wheel ./bindings/python`: a wheel tagged for this platform that holds libdpop.so and
#      py.typed; installed from it, the package loads the library inside it without
#      DPOP_LIBRARY (the same GET), and py.typed is installed.
# Both build the source tree itself, which must be as it was afterwards (setup.py keeps build/
# and *.egg-info out of it).
#
#   bindings/python/check_install.sh        (after `make all`; PYTHON=python3 by default)
#
# pip builds the package as a user's pip does: in an isolated environment, with setuptools
# from the package index.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
src=$root/bindings/python
python=${PYTHON:-python3}
library=${DPOP_LIBRARY:-$root/target/release/libdpop.so}
case $library in /*) ;; *) library=$root/$library ;; esac
[ -f "$library" ] || { echo "check_install: $library is missing: run 'make all' first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/dpop-install.XXXXXX")
trap 'rm -rf "$work"' EXIT

tree() {  # the files and folders under bindings/python, but Python's caches
    (cd "$src" && find . \( -name __pycache__ -o -name .pytest_cache -o -name .mypy_cache \) -prune \
        -o -print | sort)
}
tree >"$work/tree.before"

pip_quiet() {  # pip_quiet WHAT PYTHON PIP-ARGS...: pip, its output shown only when it fails
    local what=$1 py=$2
    shift 2
    if ! DPOP_LIBRARY=$library "$py" -m pip --disable-pip-version-check -q "$@" >"$work/pip.log" 2>&1; then
        cat "$work/pip.log" >&2
        echo "check_install: $what failed" >&2
        exit 1
    fi
}

# The check each installed package runs, from the repository root (tests/with_server.sh): it
# asserts that the package it imports is the installed one, and prints the library it loaded.
cat >"$work/check.py" <<'EOF'
import os
import sys

import dpop

venv = os.path.realpath(sys.argv[1])
assert os.path.realpath(dpop.__file__).startswith(venv), f"not the installed package: {dpop.__file__}"
assert dpop.version() == dpop.__version__, (dpop.version(), dpop.__version__)

key = dpop.Key.generate()
assert key.proof("GET", "https://api.example/").count(".") == 2
http = dpop.Http(key, {
    "client_id": "m2m.dpop",
    "client_secret": "secret",
    "token_endpoint": os.environ["DPOP_TOKEN_ENDPOINT"],
    "scope": "api",
})
body = http.get(os.environ["DPOP_API_URL"])
assert http.last_status == 200, (http.last_status, body)
print(os.path.realpath(dpop.library()._name))
EOF

# 1. pip install, the library from DPOP_LIBRARY at run time.
"$python" -m venv "$work/venv"
pip_quiet "pip install ./bindings/python" "$work/venv/bin/python" install "$src"
DPOP_LIBRARY=$library "$root/tests/with_server.sh" -- "$work/venv/bin/python" "$work/check.py" "$work/venv" \
    >"$work/loaded"
echo "check_install: pip install works: GET status 200 with $(cat "$work/loaded")"

# 2. pip wheel, then the wheel alone.
pip_quiet "pip wheel ./bindings/python" "$python" wheel "$src" -w "$work/wheels"
wheels=("$work/wheels"/*.whl)
[ "${#wheels[@]}" -eq 1 ] || { echo "check_install: pip wheel made ${#wheels[@]} wheels" >&2; exit 1; }
wheel=${wheels[0]}
"$python" - "$wheel" "$library" <<'EOF'
import hashlib
import os
import sys
import sysconfig
import zipfile

wheel, library = sys.argv[1:]
platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
assert os.path.basename(wheel).endswith(f"-py3-none-{platform}.whl"), wheel
with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    assert "dpop/py.typed" in names, names
    bundled = z.read("dpop/libdpop.so")
with open(library, "rb") as f:
    assert hashlib.sha256(bundled).digest() == hashlib.sha256(f.read()).digest(), "not DPOP_LIBRARY"
print(f"check_install: {os.path.basename(wheel)} holds dpop/libdpop.so and dpop/py.typed")
EOF

"$python" -m venv "$work/wheel-venv"
pip_quiet "pip install $(basename "$wheel")" "$work/wheel-venv/bin/python" install "$wheel"
env -u DPOP_LIBRARY -u LD_LIBRARY_PATH -u PYTHONPATH \
    "$root/tests/with_server.sh" -- "$work/wheel-venv/bin/python" "$work/check.py" "$work/wheel-venv" >"$work/loaded"
package=$("$work/wheel-venv/bin/python" -c 'import dpop, os; print(os.path.realpath(os.path.dirname(dpop.__file__)))')
loaded=$(cat "$work/loaded")
[ "$loaded" = "$package/libdpop.so" ] || {
    echo "check_install: the wheel's package loaded $loaded, not $package/libdpop.so" >&2
    exit 1
}
[ -f "$package/py.typed" ] || { echo "check_install: $package/py.typed is not installed" >&2; exit 1; }
echo "check_install: the wheel works without DPOP_LIBRARY: GET status 200 with $loaded; py.typed installed"

tree >"$work/tree.after"
if ! diff -u "$work/tree.before" "$work/tree.after" >&2; then
    echo "check_install: building left bindings/python changed (above)" >&2
    exit 1
fi
echo "check_install: bindings/python is as it was after both builds"
