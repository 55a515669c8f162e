#!/usr/bin/env bash
# Installs bindings/python with pip into a fresh virtualenv and checks that the installed
# package (not the source tree) works with the library named by DPOP_LIBRARY: version, a key,
# a proof, and a GET against a local test server.
#
#   bindings/python/check_install.sh        (after `make all`; PYTHON=python3 by default)
#
# pip builds the package as a user's pip does: in an isolated environment, with setuptools
# from the package index.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-python3}
library=${DPOP_LIBRARY:-$root/target/release/libdpop.so}
case $library in /*) ;; *) library=$root/$library ;; esac
[ -f "$library" ] || { echo "check_install: $library is missing: run 'make all' first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/dpop-install.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A copy of the source, so that the build leaves nothing (build/, *.egg-info) in the tree.
mkdir "$work/src"
# (A library copied into the source's package directory for a local test is left out too.)
(cd "$root/bindings/python" && tar cf - --exclude=build --exclude='*.egg-info' --exclude=__pycache__ \
    --exclude=.pytest_cache --exclude=libdpop.so --exclude=dpop.dll --exclude=libdpop.dylib .) |
    (cd "$work/src" && tar xf -)

"$python" -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip --disable-pip-version-check -q)
if ! "${pip[@]}" install "$work/src" >"$work/pip.log" 2>&1; then
    cat "$work/pip.log" >&2
    echo "check_install: pip install ./bindings/python failed" >&2
    exit 1
fi

# tests/with_server.sh runs the check from the repository root: it asserts that the package it
# imports is the installed one.
DPOP_LIBRARY=$library "$root/tests/with_server.sh" -- "$work/venv/bin/python" - "$work/venv" <<'EOF'
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
print(f"check_install: the installed package works: libdpop {dpop.version()}, GET status {http.last_status}")
EOF

# A library placed inside the package before installing is installed with it and found there
# without DPOP_LIBRARY (the second place the package looks).
cp "$library" "$work/src/dpop/libdpop.so"
if ! "${pip[@]}" install --force-reinstall --no-deps "$work/src" >"$work/pip.log" 2>&1; then
    cat "$work/pip.log" >&2
    echo "check_install: pip install with a bundled library failed" >&2
    exit 1
fi
env -u DPOP_LIBRARY -u LD_LIBRARY_PATH "$work/venv/bin/python" - "$work/venv" <<'EOF2'
import os
import sys

import dpop

venv = os.path.realpath(sys.argv[1])
loaded = os.path.realpath(dpop.library()._name)
assert loaded == os.path.join(os.path.realpath(os.path.dirname(dpop.__file__)), "libdpop.so"), loaded
assert loaded.startswith(venv), loaded
assert dpop.Key.generate().alg == "ES256"
print(f"check_install: a bundled libdpop.so is installed with the package and loaded from {loaded}")
EOF2
