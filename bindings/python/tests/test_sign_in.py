"""Signing a user in and the saved state through dpop.Http, against test servers with a public
client: sign_in with a browser program (DPOP_BROWSER), sign_in_start / sign_in_url /
sign_in_wait with the test's own browser in a thread, a cancel from another thread, a refused
authorization; save_state and load_state carrying the sign-in to a new object (no second
authorization request), the rotated refresh token saved again, a spent refresh token
(ERR_SIGN_IN_REQUIRED, then a new sign-in), the state's errors, and clear_state.

The "browser" GETs the authorization URL and follows the test server's redirect to the
loopback listener, as a browser whose user is already signed in does (the test server's
/authorize approves at once)."""

import json
import os
import stat
import sys
import threading
import urllib.error
import urllib.request

import pytest

import dpop

CLIENT = "desktop.py"
WAIT_MS = 60_000
PASSPHRASE = "correct horse battery staple"


def browse(url):
    """The browser: GET the authorization URL, follow the redirect; the listener's page."""
    try:
        with urllib.request.urlopen(url, timeout=30) as page:
            return page.status, page.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:  # the listener's error page (access_denied, ...)
        return e.code, e.read().decode("utf-8", "replace")


def stats(server):
    with urllib.request.urlopen(server.base + "/stats") as answer:
        return json.load(answer)


def settings(server, client=CLIENT):
    return {
        "grant_type": "authorization_code",
        "client_id": client,
        "issuer": server.base,
        "redirect_uri": "http://127.0.0.1:0/callback",
        "scope": "api",
    }


@pytest.fixture
def desktop(start_server):
    """A test server with the public client CLIENT."""
    return start_server("--public-client", CLIENT)


def sign_in_by_hand(http):
    """Starts a sign-in without opening a browser, runs the browser in a thread, waits."""
    http.sign_in_start(open_browser=False)
    url = http.sign_in_url
    assert url is not None
    pages = []
    browser = threading.Thread(target=lambda: pages.append(browse(url)))
    browser.start()
    try:
        signed_in = http.sign_in_wait(WAIT_MS)
    finally:
        browser.join()
    return signed_in, pages


def test_a_request_before_signing_in_raises_sign_in_required(desktop):
    with dpop.Http(dpop.Key.generate(), settings(desktop)) as http:
        assert http.sign_in_url is None
        with pytest.raises(dpop.Error) as e:
            http.get(desktop.api_url)
        assert e.value.code == dpop.ERR_SIGN_IN_REQUIRED
        assert e.value.name == "DPOP_ERR_SIGN_IN_REQUIRED"
        with pytest.raises(dpop.Error) as e:
            http.sign_in_wait(0)
        assert e.value.code == dpop.ERR_NOT_FOUND
    assert stats(desktop)["token_requests"] == 0


def test_sign_in_opens_the_browser_program_and_the_tokens_serve_requests(desktop, tmp_path, monkeypatch):
    browser = tmp_path / "browser"
    browser.write_text(
        f"#!{sys.executable}\n"
        "import sys, urllib.request\n"
        "urllib.request.urlopen(sys.argv[1], timeout=30).read()\n"
    )
    browser.chmod(0o700)
    monkeypatch.setenv("DPOP_BROWSER", str(browser))
    key = dpop.Key.generate()
    with dpop.Http(key, settings(desktop)) as http:
        assert http.sign_in(WAIT_MS) is True
        assert http.sign_in_url is None  # the sign-in has ended
        claims = json.loads(http.get(desktop.api_url))
        assert http.last_status == 200
        assert claims["token"]["client_id"] == CLIENT
        assert claims["token"]["cnf"]["jkt"] == key.thumbprint
        assert http.token_info["refresh_token"] is True
    seen = stats(desktop)
    assert seen["authorization_requests"] == 1
    assert seen["authorization_code_grants"] == 1


def test_sign_in_start_gives_the_url_and_wait_polls_until_signed_in(desktop):
    key = dpop.Key.generate("EdDSA")
    with dpop.Http(key, settings(desktop)) as http:
        http.sign_in_start(open_browser=False)
        url = http.sign_in_url
        assert url.startswith(desktop.base + "/authorize?")
        assert "code_challenge_method=S256" in url
        assert f"dpop_jkt={key.thumbprint}" in url
        assert http.sign_in_wait(0) is False  # the browser has not come back yet
        pages = []
        browser = threading.Thread(target=lambda: pages.append(browse(url)))
        browser.start()
        while not http.sign_in_wait(50):
            pass
        browser.join()
        assert pages and pages[0][0] == 200
        assert http.sign_in_url is None
        http.get(desktop.api_url)
        assert http.last_status == 200


def test_a_cancel_from_another_thread_ends_the_wait(desktop):
    with dpop.Http(dpop.Key.generate(), settings(desktop)) as http:
        http.sign_in_start(open_browser=False)
        raised = []

        def wait():
            try:
                http.sign_in_wait(WAIT_MS)
            except dpop.Error as e:
                raised.append(e.code)

        waiter = threading.Thread(target=wait)
        waiter.start()
        http.sign_in_cancel()
        waiter.join(timeout=30)
        assert not waiter.is_alive()
        assert raised == [dpop.ERR_CANCELLED]
        assert http.sign_in_url is None
        http.sign_in_cancel()  # nothing in progress: fine


def test_a_refused_authorization_raises_sign_in(start_server):
    server = start_server("--public-client", CLIENT, "--deny-authorization")
    with dpop.Http(dpop.Key.generate(), settings(server)) as http:
        http.sign_in_start(open_browser=False)
        pages = []
        browser = threading.Thread(target=lambda: pages.append(browse(http.sign_in_url)))
        browser.start()
        with pytest.raises(dpop.Error) as e:
            http.sign_in_wait(WAIT_MS)
        browser.join()
        assert e.value.code == dpop.ERR_SIGN_IN
        assert "access_denied" in str(e.value)
        assert pages[0][0] == 400  # the browser was told it failed


def test_timeouts_out_of_range_are_refused():
    with dpop.Http() as http:
        for bad in (-1, 2**32):
            with pytest.raises(dpop.Error) as e:
                http.sign_in_wait(bad)
            assert e.value.code == dpop.ERR_INVALID_ARGUMENT


def test_the_saved_state_signs_a_new_object_in_without_the_browser(desktop, tmp_path):
    path = tmp_path / "app.state"
    key = dpop.Key.generate()
    with dpop.Http(key, settings(desktop)) as first:
        signed_in, pages = sign_in_by_hand(first)
        assert signed_in and pages[0][0] == 200
        first.save_state(path, PASSPHRASE)
    if sys.platform != "win32":
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    saved = path.read_bytes()
    assert PASSPHRASE.encode() not in saved

    # The next run: the same settings, the state loaded, no key set, no sign-in.
    with dpop.Http(auth_token=settings(desktop)) as second:
        second.load_state(str(path), PASSPHRASE)
        claims = json.loads(second.get(desktop.api_url))
        assert second.last_status == 200
        assert claims["token"]["cnf"]["jkt"] == key.thumbprint
        assert second.token_info["source"] == "token_endpoint"
    seen = stats(desktop)
    assert seen["authorization_requests"] == 1
    assert seen["refresh_grants"] == 1
    # The refresh rotated the token, and the object saved the new one over the file.
    assert path.read_bytes() != saved

    with dpop.Http(auth_token=settings(desktop)) as third:
        third.load_state(path, PASSPHRASE.encode())
        third.get(desktop.api_url)
        assert third.last_status == 200
    assert stats(desktop)["refresh_grants"] == 2
    assert stats(desktop)["authorization_requests"] == 1


def test_a_spent_refresh_token_needs_a_new_sign_in(desktop, tmp_path):
    path = tmp_path / "app.state"
    with dpop.Http(dpop.Key.generate(), settings(desktop)) as first:
        assert sign_in_by_hand(first)[0]
        first.save_state(path, PASSPHRASE)
    # Two objects load the same file; the first to refresh spends the token.
    with dpop.Http(auth_token=settings(desktop)) as a, dpop.Http(auth_token=settings(desktop)) as b:
        a.load_state(path, PASSPHRASE)
        b.load_state(path, PASSPHRASE)
        a.get(desktop.api_url)
        assert a.last_status == 200
        with pytest.raises(dpop.Error) as e:
            b.get(desktop.api_url)
        assert e.value.code == dpop.ERR_SIGN_IN_REQUIRED
        # What a program does then: sign in again (the key is kept), and save.
        assert sign_in_by_hand(b)[0]
        b.get(desktop.api_url)
        assert b.last_status == 200
        b.save_state(path, PASSPHRASE)
    assert stats(desktop)["authorization_requests"] == 2


def test_state_errors_leave_the_object_as_it_was(desktop, start_server, tmp_path):
    path = tmp_path / "app.state"
    with dpop.Http(dpop.Key.generate(), settings(desktop)) as http:
        assert sign_in_by_hand(http)[0]
        http.save_state(path, PASSPHRASE)

    def load_error(path, passphrase=PASSPHRASE, auth_token=None):
        with dpop.Http(auth_token=auth_token or settings(desktop)) as fresh:
            with pytest.raises(dpop.Error) as e:
                fresh.load_state(path, passphrase)
            # Nothing was loaded: still no key and no refresh token.
            with pytest.raises(dpop.Error) as after:
                fresh.get(desktop.api_url)
            assert after.value.code in (dpop.ERR_KEY_NOT_LOADED, dpop.ERR_SIGN_IN_REQUIRED)
            return e.value

    assert load_error(path, "wrong passphrase").code == dpop.ERR_STATE_LOCKED
    damaged = tmp_path / "damaged.state"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    assert load_error(damaged).code == dpop.ERR_STATE_CORRUPT
    cut = tmp_path / "cut.state"
    cut.write_bytes(path.read_bytes()[:40])
    assert load_error(cut).code == dpop.ERR_STATE_CORRUPT
    assert load_error(tmp_path / "missing.state").code == dpop.ERR_IO
    other = start_server("--public-client", CLIENT)
    foreign = load_error(path, auth_token=settings(other))
    assert foreign.code == dpop.ERR_STATE_FOREIGN
    assert PASSPHRASE not in str(foreign)
    with dpop.Http() as no_settings:
        with pytest.raises(dpop.Error) as e:
            no_settings.load_state(path, PASSPHRASE)
        assert e.value.code == dpop.ERR_TOKEN_CONFIG
    if sys.platform != "win32":
        with dpop.Http(auth_token=settings(desktop)) as http:
            with pytest.raises(dpop.Error) as e:
                http.load_state(path)  # no passphrase: DPAPI, which only Windows has
            assert e.value.code == dpop.ERR_INVALID_ARGUMENT


def test_clear_state_deletes_the_file_and_forgets_the_key(desktop, tmp_path):
    path = tmp_path / "app.state"
    with dpop.Http(dpop.Key.generate(), settings(desktop)) as http:
        assert sign_in_by_hand(http)[0]
        http.save_state(path, PASSPHRASE)
        http.clear_state(path)
        assert not path.exists()
        with pytest.raises(dpop.Error) as e:
            http.get(desktop.api_url)
        assert e.value.code == dpop.ERR_SIGN_IN_REQUIRED  # no token, no refresh token
        with pytest.raises(dpop.Error) as e:
            http.sign_in_start(open_browser=False)
        assert e.value.code == dpop.ERR_KEY_NOT_LOADED  # and no key
        http.clear_state(path)  # no file: fine
        # A clean start: a new key, a new sign-in.
        http.set_key(dpop.Key.generate())
        assert sign_in_by_hand(http)[0]
        http.get(desktop.api_url)
        assert http.last_status == 200
