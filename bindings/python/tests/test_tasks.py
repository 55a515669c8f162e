"""dpop.Task (Http.get_async, Http.request_async) against the local DPoP test server. Its
/stall path reads a request and never answers it: what ends such a task is the cancel, so the
objects here have timeouts far longer than any wait of the tests."""

import gc
import json
import socket
import threading

import pytest

import dpop


def new_http(server, **settings):
    return dpop.Http(
        dpop.Key.generate(),
        server.auth_token(**settings),
        timeouts=(60000, 60000),
        request_timeout=120000,
    )


@pytest.fixture
def http(server):
    with new_http(server) as h:
        yield h


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def without_proof(echo):
    """An echo of the test server without its proof's claims, which differ on every request
    (jti, iat), but with the proof's htm and htu, which must not."""
    same = {name: value for name, value in echo.items() if name != "proof"}
    same["proof"] = {"htm": echo["proof"]["htm"], "htu": echo["proof"]["htu"]}
    return same


def test_a_task_gives_the_response_the_synchronous_call_gives(http, server):
    arguments = (
        "POST",
        server.echo_url + "?x=1",
        {"X-Test": "task", "Content-Type": "application/json"},
        '{"a":"wörld"}',
    )
    with http.request_async(*arguments) as task:
        assert task.wait(60) is True
        assert task.status is dpop.TaskStatus.COMPLETED
        with task.result() as response, http.request(*arguments) as sync:
            assert isinstance(response, dpop.Response)
            assert response.status == sync.status == 200
            assert response.header("content-type") == sync.header("content-type")
            echo = response.json()
            assert without_proof(echo) == without_proof(sync.json())
            assert echo["method"] == "POST" and echo["query"] == "x=1"
            assert echo["headers"]["x-test"] == "task" and echo["body"] == '{"a":"wörld"}'
        assert task.last_error_text == ""
        # The result can be taken again: a new Response each time.
        assert task.result().status == 200
        assert repr(task) == "<dpop.Task completed>"

    # get_async: the Response whose text is what get returns.
    with http.get_async(server.api_url) as task:
        response = task.result()
    body = http.get(server.api_url)
    assert response.status == http.last_status == 200
    assert without_proof(json.loads(response.text)) == without_proof(json.loads(body))


def test_twenty_tasks_at_once_on_one_object_share_one_token(start_server):
    server = start_server()
    with new_http(server) as http:
        tasks = [
            http.get_async(server.api_url)
            if i % 2 == 0
            else http.request_async("GET", server.echo_url, headers=[("X-Index", i)])
            for i in range(20)
        ]
        for i, task in enumerate(tasks):
            with task:
                response = task.result(60)
                assert response.status == 200, i
                echo = response.json()
                assert echo["token"]["client_id"] == "m2m.dpop"
                if i % 2:
                    assert echo["headers"]["x-index"] == str(i)
        stats = json.loads(http.get(server.base + "/stats"))
    assert stats["token_requests"] == 1


def test_a_wait_on_a_held_request_runs_out_and_a_cancel_ends_it(http, server):
    task = http.get_async(server.base + "/stall")
    assert task.wait(0.3) is False
    assert task.wait(0) is False
    assert task.wait(-1) is False  # a negative timeout just looks
    assert task.status in (dpop.TaskStatus.QUEUED, dpop.TaskStatus.RUNNING)
    with pytest.raises(dpop.Error) as pending:
        task.result(timeout=0.1)
    assert pending.value.code == dpop.ERR_PENDING and "not finished" in str(pending.value)

    task.cancel()
    task.cancel()  # more than once
    # Far below the 60 s timeouts: the cancel, not a timeout, ends it.
    assert task.wait(10) is True
    assert task.status is dpop.TaskStatus.CANCELLED
    with pytest.raises(dpop.Error) as cancelled:
        task.result()
    assert type(cancelled.value) is dpop.Error  # codes 500-599 raise dpop.Error itself
    assert cancelled.value.code == dpop.ERR_CANCELLED
    assert cancelled.value.name == "DPOP_ERR_CANCELLED"
    assert "cancelled" in str(cancelled.value)
    assert task.last_error_text == str(cancelled.value)
    task.close()
    # The object works on.
    assert '"client_id":"m2m.dpop"' in http.get(server.api_url)


def test_a_wait_without_a_timeout_or_beyond_uint32_milliseconds_ends_with_the_task(http, server):
    # None waits as long as it takes; 5e6 s is more milliseconds than a uint32_t holds, and
    # infinity is None: each wait ends when another thread cancels the task.
    for timeout in (None, 5e6, float("inf")):
        with http.get_async(server.base + "/stall") as task:
            canceller = threading.Timer(0.2, task.cancel)
            canceller.start()
            try:
                assert task.wait(timeout) is True
            finally:
                canceller.join()
            assert task.status is dpop.TaskStatus.CANCELLED
    with http.get_async(server.api_url) as done:
        assert done.wait(1e12) is True and done.wait(10**400) is True and done.wait(None) is True
        for wrong in (float("nan"), "1", True):
            with pytest.raises(dpop.Error) as e:
                done.wait(wrong)
            assert e.value.code == dpop.ERR_INVALID_ARGUMENT


def test_a_failed_task_raises_what_the_synchronous_call_raises(http, server):
    def reason(error):
        return str(error).split(": ", 1)[1]  # after the name of the call that failed

    failing = [
        ("not a url", dpop.TransportError, dpop.ERR_HTTP_URL),
        (f"http://127.0.0.1:{free_port()}/", dpop.TransportError, dpop.ERR_HTTP_CONNECT),
        ("http://example.com/", dpop.TransportError, dpop.ERR_HTTP_INSECURE),
    ]
    for url, kind, code in failing:
        with pytest.raises(kind) as sync:
            http.get(url)
        with http.get_async(url) as task:
            assert task.wait(60) is True
            assert task.status is dpop.TaskStatus.FAILED
            with pytest.raises(kind) as failed:
                task.result()
            assert failed.value.code == sync.value.code == code
            assert reason(failed.value) == reason(sync.value)
            assert task.last_error_text == str(failed.value)

    # The token endpoint's refusal, from request_async.
    with new_http(server, client_secret="wrong") as wrong:
        with wrong.request_async("GET", server.api_url) as task:
            with pytest.raises(dpop.TokenError) as refused:
                task.result()
        assert refused.value.code == dpop.ERR_TOKEN_ENDPOINT
        assert "invalid_client" in str(refused.value) and "wrong" not in str(refused.value)

    # Arguments are refused at once, as the synchronous call refuses them.
    with pytest.raises(ValueError):
        http.request_async("GET", server.api_url, {"X-Evil": "a\r\nInjected: yes"})
    with pytest.raises(ValueError, match="NUL"):
        http.get_async(server.api_url + "\0")
    with pytest.raises(dpop.Error, match="set by libdpop") as reserved:
        http.request_async("GET", server.api_url, {"DPoP": "x"}).result()
    assert reserved.value.code == dpop.ERR_INVALID_ARGUMENT


def test_a_running_task_may_be_closed_or_dropped(http, server):
    task = http.get_async(server.base + "/stall")
    assert task.wait(0.1) is False
    task.close()  # cancels it; the worker stops in the background
    assert task.closed and repr(task) == "<dpop.Task closed>"
    task.close()  # again: nothing
    for call in (task.wait, task.cancel, task.result, lambda: task.status):
        with pytest.raises(dpop.Error) as e:
            call()
        assert e.value.code == dpop.ERR_NULL_POINTER

    with http.get_async(server.base + "/stall") as held:
        assert held.wait(0) is False
    assert held.closed
    http.get_async(server.base + "/stall")  # dropped at once: freed when collected
    gc.collect()
    assert http.get(server.api_url) and http.last_status == 200


def test_tasks_outlive_their_closed_http_object(server):
    http = new_http(server)
    done = http.get_async(server.api_url)
    held = http.get_async(server.base + "/stall")
    http.close()
    with done:
        assert done.result(60).json()["token"]["client_id"] == "m2m.dpop"
    with held:
        assert held.wait(0.1) is False
        held.cancel()
        assert held.wait(10) is True

