"""Misuse that the annotations must catch: tests/test_typing.py expects `mypy --strict` to
report an error on each line marked `# error` and on no other. Never run."""

import dpop

key = dpop.Key.generate(256)  # error
status: str = dpop.Http().last_status  # error
dpop.Http(key, timeouts=5000)  # error
dpop.Http().request("GET", "https://api.example/", body=42)  # error
name: int = dpop.error_name(1)  # error
jwk: str = key.public_jwk  # error
task = dpop.Http().get_async("https://api.example/")
done: str = task.wait(1.0)  # error
task.wait("1")  # error
text: str = task.result()  # error
state: int = task.status.name  # error
dpop.Http().request_async("GET", "https://api.example/", body=42)  # error
