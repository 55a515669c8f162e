"""The README's first example runs as written: with the installed package (the wheel from this
tree, the library inside it) against the local test server."""

import os
import re
import subprocess

import dpop
from conftest import PYTHON_DIR


def first_python_block(markdown):
    match = re.search(r"^```python\n(.*?)^```$", markdown, re.S | re.M)
    assert match, "the README has no ```python block"
    return match.group(1)


def test_the_readme_example_runs_against_the_test_server(installed, server, tmp_path):
    with open(os.path.join(PYTHON_DIR, "README.md"), encoding="utf-8") as f:
        example = first_python_block(f.read())
    (tmp_path / "example.py").write_text(example, encoding="utf-8")
    # The key file the example loads, in the folder it runs in.
    (tmp_path / "ec.pem").write_text(dpop.Key.generate("ES256").private_pem())
    result = subprocess.run(
        [installed.python, "example.py"],
        cwd=tmp_path,
        env=installed.env(
            DPOP_TOKEN_ENDPOINT=server.token_endpoint,
            DPOP_API_URL=server.api_url,
            DPOP_CLIENT_SECRET=server.secret,
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("200 ") and '"client_id":"m2m.dpop"' in lines[0]  # the GET
    assert lines[1].startswith("200 application/json")  # the POST to the echo endpoint
    assert len(lines) == 3
