"""A typed use of the whole public API. tests/test_typing.py has `mypy --strict` check it
against the installed package (its py.typed and annotations): it must pass. Never run."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import dpop


def use_keys(path: str) -> Tuple[str, Dict[str, Any]]:
    key: dpop.Key = dpop.Key.load(path, password=None)
    generated = dpop.Key.generate("EdDSA")
    pem: str = generated.private_pem(password="pw")
    again = dpop.Key.from_bytes(pem.encode(), b"pw")
    alg: Optional[str] = again.alg
    jwk: Dict[str, Any] = key.public_jwk
    text: str = key.public_jwk_json + key.thumbprint + key.last_error_text + str(alg)
    private: Dict[str, Any] = generated.private_jwk
    proof: str = key.proof(
        "GET", "https://api.example/r", access_token="t", nonce=None, extra_claims={"jti": "x"}
    )
    with dpop.Key() as empty:
        closed: bool = empty.closed
    again.close()
    return proof + text + str(closed), {**jwk, **private}


def use_http(key: dpop.Key, settings: Dict[str, str]) -> int:
    with dpop.Http(
        key,
        settings,
        timeouts=(5000, 30000),
        accept_bearer=False,
        refresh_margin=60,
        user_agent="typed",
        session_log="session.log",
    ) as http:
        body: str = http.get("https://api.example/dpop/test")
        response: dpop.Response = http.request(
            "POST", "https://api.example/dpop/echo", headers={"X-A": "1"}, body=b"{}"
        )
        with response:
            status: int = response.status
            data: bytes = response.body
            header: Optional[str] = response.header("content-type")
            headers: Dict[str, str] = response.headers
            pairs: List[Tuple[str, str]] = response.raw_headers
            parsed: Any = response.json()
            print(body, data, header, headers, pairs, parsed, response.text)
        http.request("GET", "https://api.example/", headers=[("X-B", 2)])
        http.set_access_token("token", "DPoP")
        http.set_ca_file(None)
        http.clear_token()
        info: Optional[Dict[str, Any]] = http.token_info
        print(info, http.last_error_text)
        return status + http.last_status


def use_sign_in(settings: Dict[str, str], state: str) -> Optional[str]:
    with dpop.Http(dpop.Key.generate(), settings) as http:
        try:
            http.load_state(state, "passphrase")
        except dpop.Error:
            http.clear_state(state)
            http.set_key(dpop.Key.generate())
            http.sign_in_start(open_browser=False)
            url: Optional[str] = http.sign_in_url
            done: bool = http.sign_in_wait(100) or http.sign_in(60_000)
            http.sign_in_cancel()
            http.save_state(state, None)
            return url if done else None
        return http.sign_in_url


def use_tasks(http: dpop.Http) -> Optional[dpop.Response]:
    with http.get_async("https://api.example/dpop/test") as task:
        finished: bool = task.wait(0.05) or task.wait(None) or task.wait(10)
        status: dpop.TaskStatus = task.status
        if status is dpop.TaskStatus.RUNNING:
            task.cancel()
        response: dpop.Response = task.result()
        print(finished, int(status), response.text, task.last_error_text, task.closed)
    other = http.request_async(
        "POST", "https://api.example/dpop/echo", headers=[("X-A", 1)], body="{}"
    )
    try:
        return other.result(timeout=30.0)
    except dpop.Error as e:
        return None if e.code == dpop.ERR_CANCELLED else other.result()
    finally:
        other.close()


def use_errors() -> str:
    try:
        dpop.Key.load("missing.pem")
    except dpop.KeyFormatError as e:
        code: int = e.code
        return e.name + str(code)
    except (dpop.ProofError, dpop.TransportError, dpop.TokenError) as e:
        return repr(e)
    except dpop.Error as e:
        return dpop.error_name(e.code)
    except dpop.LibraryError as e:
        return str(e)
    return dpop.version() + str(dpop.library()) + str(dpop.ERR_KEY_RSA + dpop.OK)
