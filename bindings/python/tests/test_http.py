"""dpop.Http and dpop.Response against the local DPoP test server."""

import os
import re
import socket
import threading

import pytest

import dpop

from conftest import PYTHON_DIR


@pytest.fixture
def http(server):
    with dpop.Http(dpop.Key.generate(), server.auth_token()) as h:
        yield h


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_get_fetches_a_bound_token_and_calls_the_api(http, server):
    body = http.get(server.api_url)
    assert http.last_status == 200
    assert http.last_error_text == ""
    assert '"client_id":"m2m.dpop"' in body
    info = http.token_info
    assert info["token_type"] == "DPoP" and info["source"] == "token_endpoint" and info["scope"] == "api"


def test_the_token_is_bound_to_the_key(server):
    key = dpop.Key.generate("EdDSA")
    with dpop.Http(key, server.auth_token()) as http:
        response = http.request("GET", server.api_url)
    claims = response.json()
    assert claims["token"]["cnf"]["jkt"] == key.thumbprint
    assert claims["proof"]["htm"] == "GET"


def test_auth_token_may_be_json_text(server):
    import json

    with dpop.Http(dpop.Key.generate(), json.dumps(server.auth_token())) as http:
        http.get(server.api_url)
        assert http.last_status == 200


def test_request_sends_method_headers_and_body(http, server):
    with http.request(
        "POST",
        server.echo_url + "?x=1",
        headers={"X-Test": "python", "Content-Type": "application/json"},
        body='{"hello":"wörld"}',
    ) as response:
        assert response.status == 200 and http.last_status == 200
        echo = response.json()
        assert echo["method"] == "POST" and echo["query"] == "x=1"
        assert echo["headers"]["x-test"] == "python"
        assert echo["body"] == '{"hello":"wörld"}'
        assert response.header("CONTENT-type").startswith("application/json")
        assert response.header("X-Absent") is None
        assert response.headers["content-type"] == response.header("content-type")
        assert ("content-type", response.header("content-type")) in response.raw_headers
        assert response.text == response.body.decode()
        assert repr(response) == "<dpop.Response 200>"
    assert response.closed and response.status == 0
    with pytest.raises(dpop.Error) as e:
        response.header("content-type")
    assert e.value.code == dpop.ERR_NULL_POINTER


def test_request_body_as_bytes_and_header_pairs(http, server):
    response = http.request("PUT", server.echo_url, [("X-A", "1"), ("X-B", "2")], b"raw bytes")
    echo = response.json()
    assert echo["method"] == "PUT" and echo["body"] == "raw bytes"
    assert echo["headers"]["x-a"] == "1" and echo["headers"]["x-b"] == "2"
    assert echo["headers"]["content-length"] == "9"


def test_http_error_statuses_are_responses(http, server):
    assert http.get(server.base + "/nope") is not None
    assert http.last_status == 404
    assert http.request("GET", server.base + "/nope").status == 404


def test_settings_from_keyword_arguments(server, tmp_path):
    log = tmp_path / "session.log"
    with dpop.Http(
        dpop.Key.generate(),
        server.auth_token(auth_method="client_secret_basic"),
        timeouts=(2000, 5000),
        request_timeout=20000,
        system_roots=False,
        refresh_margin=30,
        accept_bearer=False,
        user_agent="dpop-python-test",
        allow_insecure_http=False,
        max_response_size=1 << 20,
        session_log=log,
    ) as http:
        echo = http.request("GET", server.echo_url).json()
        assert echo["headers"]["user-agent"] == "dpop-python-test"
    text = log.read_text()
    assert "authorization: Basic ****" in text and "dpop: ****" in text
    assert server.secret not in text


def test_nonces_are_followed_and_the_log_holds_no_secret(start_server, tmp_path):
    server = start_server("--require-nonce")
    log = tmp_path / "nonce.log"
    with dpop.Http(dpop.Key.generate(), server.auth_token(), session_log=str(log)) as http:
        assert '"client_id":"m2m.dpop"' in http.get(server.api_url)
        assert http.last_status == 200
    text = log.read_text()
    assert "use_dpop_nonce" in text
    assert server.secret not in text


def test_token_endpoint_refusal_is_a_token_error(server):
    with dpop.Http(dpop.Key.generate(), server.auth_token(client_secret="wrong")) as http:
        with pytest.raises(dpop.TokenError) as e:
            http.get(server.api_url)
        assert e.value.code == dpop.ERR_TOKEN_ENDPOINT
        assert "invalid_client" in str(e.value)
        assert http.last_error_text == str(e.value)
        assert "wrong" not in str(e.value)


def test_bearer_tokens_are_refused(start_server):
    server = start_server("--token-type", "Bearer")
    with dpop.Http(dpop.Key.generate(), server.auth_token()) as http:
        with pytest.raises(dpop.TokenError) as e:
            http.get(server.api_url)
        assert e.value.code == dpop.ERR_TOKEN_BEARER


def test_transport_errors(server):
    with dpop.Http(dpop.Key.generate(), server.auth_token()) as http:
        with pytest.raises(dpop.TransportError) as insecure:
            http.get("http://example.com/")
        assert insecure.value.code == dpop.ERR_HTTP_INSECURE and http.last_status == 0
        with pytest.raises(dpop.TransportError) as url:
            http.get("not a url")
        assert url.value.code == dpop.ERR_HTTP_URL
        with pytest.raises(dpop.TransportError) as refused:
            http.request("GET", f"http://127.0.0.1:{free_port()}/")
        assert refused.value.code == dpop.ERR_HTTP_CONNECT
        http.set_timeouts(500, 300)
        with pytest.raises(dpop.TransportError) as stalled:
            http.request("GET", server.base + "/stall")
        assert stalled.value.code == dpop.ERR_HTTP_TIMEOUT
        http.set_timeouts(2000, 5000)
        http.set_max_response_size(10)
        with pytest.raises(dpop.TransportError) as large:
            http.get(server.api_url)
        assert large.value.code == dpop.ERR_HTTP_BODY_TOO_LARGE


def test_setter_errors():
    with dpop.Http() as http:
        with pytest.raises(dpop.TokenError, match="not valid JSON") as e:
            http.set_auth_token("not json")
        assert e.value.code == dpop.ERR_TOKEN_CONFIG
        with pytest.raises(dpop.TokenError):
            http.set_auth_token({"client_id": "a"})
        with pytest.raises(dpop.Error, match="holds no key"):
            http.set_key(dpop.Key())
        with pytest.raises(TypeError):
            http.set_key("ec.pem")
        with pytest.raises(dpop.Error, match="greater than 0"):
            http.set_timeouts(0, 100)
        with pytest.raises(dpop.Error) as ca:
            http.set_ca_file("/nonexistent/ca.pem")
        assert ca.value.code == dpop.ERR_IO
        with pytest.raises(dpop.TransportError, match="proxy"):
            http.set_proxy("::not a url::")
        with pytest.raises(dpop.Error, match="user agent"):
            http.set_user_agent("a\r\nb")
        with pytest.raises(dpop.Error, match="set by libdpop"):
            http.request("GET", "https://a.example/", {"DPoP": "x"})
        with pytest.raises(ValueError):
            http.request("GET", "https://a.example/", {"X-Evil": "a\r\nInjected: yes"})
        with pytest.raises(ValueError, match="NUL"):
            http.get("https://a.example/\0")
        http.set_ca_file(None)
        http.set_proxy(None)
        http.set_session_log(None)
        http.set_access_token(None)
        http.clear_token()
        assert http.token_info is None


def test_a_host_token_is_used_as_given(server):
    with dpop.Http(dpop.Key.generate(), access_token="not-a-real-token") as http:
        assert http.token_info["source"] == "host"
        response = http.request("GET", server.api_url)
        assert response.status == 401
        assert "invalid_token" in response.header("WWW-Authenticate")


def test_the_object_keeps_its_key(server):
    key = dpop.Key.generate()
    http = dpop.Http(key, server.auth_token())
    key.close()
    http.get(server.api_url)
    assert http.last_status == 200
    http.close()
    with pytest.raises(dpop.Error) as e:
        http.get(server.api_url)
    assert e.value.code == dpop.ERR_NULL_POINTER
    assert http.last_status == 0


def test_one_object_serves_many_threads(http, server):
    statuses, errors = [], []

    def worker():
        try:
            for _ in range(3):
                http.get(server.api_url)
                statuses.append(http.last_status)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert statuses == [200] * 12


def test_the_readme_example_runs(server, tmp_path, monkeypatch, capsys):
    readme = open(os.path.join(PYTHON_DIR, "README.md"), encoding="utf-8").read()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    code = (
        code.replace("https://as.example/connect/token", server.token_endpoint)
        .replace("https://api.example/dpop/test", server.api_url)
        .replace("https://api.example/dpop/echo", server.echo_url)
        .replace('"secret"', repr(server.secret))
    )
    (tmp_path / "ec.pem").write_text(dpop.Key.generate().private_pem())
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith('200 {"body":""')
    assert lines[1].startswith("200 application/json {'body': '{\"a\": 1}'")


def test_the_request_timeout_keyword_bounds_a_stalled_request(server):
    with dpop.Http(dpop.Key.generate(), request_timeout=700, timeouts=(2000, 30000)) as http:
        with pytest.raises(dpop.Error) as failed:
            http.get(server.base + "/stall")
    assert failed.value.code == dpop.ERR_HTTP_TIMEOUT
