"""The AuthToken settings of issue 14 through dpop.Http and dpop.Key, against test servers:
RSA keys (generate_rsa, set_alg), private_key_jwt with discovery through ``issuer``, the
server's clock in ``token_info``, the new status codes as exceptions, and the diagnostic in
``last_error_text`` after a rejected proof."""

import json
import urllib.request

import pytest

import dpop


@pytest.fixture(scope="module")
def rsa_key():
    """One RSA key for the module (generation takes a moment)."""
    key = dpop.Key.generate_rsa(2048)
    yield key
    key.close()


def stats(server):
    with urllib.request.urlopen(server.base + "/stats") as answer:
        return json.load(answer)


def pkjwt_settings(server, key, **extra):
    settings = {
        "client_id": "pkjwt.py",
        "issuer": server.base,
        "auth_method": "private_key_jwt",
        "client_assertion_key": key.private_jwk,
        "scope": "api",
    }
    settings.update(extra)
    return settings


def test_rsa_keys_generate_and_switch_algorithms(rsa_key):
    assert rsa_key.alg == "PS256"
    jwk = rsa_key.public_jwk
    assert jwk["kty"] == "RSA" and "d" not in jwk
    thumbprint = rsa_key.thumbprint
    copy = dpop.Key.from_bytes(rsa_key.private_pem())
    copy.set_alg("RS256")
    assert copy.alg == "RS256" and copy.thumbprint == thumbprint
    with pytest.raises(dpop.Error) as e:
        copy.set_alg("ES256")
    assert e.value.code == dpop.ERR_INVALID_ARGUMENT
    with pytest.raises(dpop.Error) as e:
        dpop.Key.generate_rsa(1024)
    assert e.value.code == dpop.ERR_INVALID_ARGUMENT


def test_private_key_jwt_with_discovery(start_server, rsa_key):
    server = start_server(
        "--client-key", "pkjwt.py:" + json.dumps(rsa_key.public_jwk), "--assertion-aud-issuer-only"
    )
    dpop_key = dpop.Key.generate()
    with dpop.Http(dpop_key, pkjwt_settings(server, rsa_key)) as http:
        claims = http.request("GET", server.api_url).json()
        assert http.last_status == 200 and http.last_error_text == ""
        assert claims["token"]["client_id"] == "pkjwt.py"
        assert claims["token"]["cnf"]["jkt"] == dpop_key.thumbprint
        assert http.token_info["source"] == "token_endpoint"
    seen = stats(server)
    assert seen["metadata_requests"] >= 1
    assert seen["assertion_auds"] == [server.base]  # aud is the issuer, one string


def test_private_key_jwt_rs256_from_a_pem_file_with_an_rsa_dpop_key(start_server, rsa_key, tmp_path):
    server = start_server("--client-key", "pkjwt.py:" + json.dumps(rsa_key.public_jwk))
    pem = tmp_path / "assertion.pem"
    pem.write_text(rsa_key.private_pem())
    dpop_key = dpop.Key.generate_rsa(2048, "RS256")
    settings = pkjwt_settings(
        server, rsa_key, client_assertion_key=str(pem), client_assertion_alg="RS256", token_endpoint=server.token_endpoint
    )
    with dpop.Http(dpop_key, settings) as http:
        claims = http.request("GET", server.api_url).json()
        assert http.last_status == 200
        assert claims["token"]["cnf"]["jkt"] == dpop_key.thumbprint


def test_fapi2_works_and_its_violations_raise(start_server, rsa_key):
    server = start_server("--client-key", "pkjwt.py:" + json.dumps(rsa_key.public_jwk))
    with dpop.Http(dpop.Key.generate(), pkjwt_settings(server, rsa_key, profile="fapi2")) as http:
        http.get(server.api_url)
        assert http.last_status == 200
    before = stats(server)["token_requests"]
    for key, settings, needle in [
        (dpop.Key.generate(), server.auth_token(issuer=server.base, profile="fapi2", token_endpoint=None), "secret"),
        (dpop.Key.generate("ES384"), pkjwt_settings(server, rsa_key, profile="fapi2"), "ES384"),
    ]:
        settings = {k: v for k, v in settings.items() if v is not None}
        with dpop.Http(key) as http:
            with pytest.raises(dpop.TokenError) as e:
                http.set_auth_token(settings)
                http.get(server.api_url)
            assert e.value.code == dpop.ERR_PROFILE_VIOLATION
            assert e.value.name == "DPOP_ERR_PROFILE_VIOLATION"
            assert needle in str(e.value)
    assert stats(server)["token_requests"] == before


def test_an_assertion_key_that_does_not_load(server):
    settings = {
        "client_id": "pkjwt.py",
        "token_endpoint": server.token_endpoint,
        "auth_method": "private_key_jwt",
        "client_assertion_key": "/nonexistent/assertion.pem",
    }
    with dpop.Http(dpop.Key.generate()) as http:
        with pytest.raises(dpop.TokenError) as e:
            http.set_auth_token(settings)
            http.get(server.api_url)
        assert e.value.code == dpop.ERR_ASSERTION_KEY
        assert "nonexistent" in str(e.value)


@pytest.mark.parametrize(
    "flags, code",
    [
        (("--issuer-override", "https://issuer.example"), dpop.ERR_ISSUER_MISMATCH),
        (("--metadata-fault", "not-json"), dpop.ERR_METADATA),
        (("--dpop-algs", "PS256"), dpop.ERR_ALG_UNSUPPORTED),
    ],
)
def test_discovery_errors(start_server, flags, code):
    server = start_server(*flags)
    settings = server.auth_token(issuer=server.base)
    del settings["token_endpoint"]
    with dpop.Http(dpop.Key.generate(), settings) as http:
        with pytest.raises(dpop.TokenError) as e:
            http.get(server.api_url)
        assert e.value.code == code
        assert http.last_error_text == str(e.value)
    assert stats(server)["token_requests"] == 0


def test_an_api_that_accepts_other_algorithms(start_server, rsa_key):
    server = start_server("--api-algs", "PS256")
    with dpop.Http(dpop.Key.generate(), server.auth_token()) as http:
        with pytest.raises(dpop.TokenError) as e:
            http.get(server.api_url)
        assert e.value.code == dpop.ERR_ALG_UNSUPPORTED
        assert "PS256" in str(e.value)
    with dpop.Http(rsa_key, server.auth_token()) as http:
        http.get(server.api_url)
        assert http.last_status == 200


def test_a_server_minutes_ahead(start_server):
    server = start_server("--clock-offset", "300")
    with dpop.Http(dpop.Key.generate(), server.auth_token()) as http:
        http.get(server.api_url)
        assert http.last_status == 200
        assert 295 <= http.token_info["clock_offset"] <= 305
    with dpop.Http(dpop.Key.generate(), server.auth_token(clock_correction=False)) as http:
        with pytest.raises(dpop.TokenError) as e:
            http.get(server.api_url)
        assert e.value.code == dpop.ERR_PROOF_REJECTED
        assert "The server rejected the DPoP proof; probably the time" in str(e.value)


def test_a_rejected_proof_is_explained_in_last_error_text(server):
    issuer_key, other_key = dpop.Key.generate(), dpop.Key.generate("EdDSA")
    with dpop.Http(issuer_key) as fetcher:
        answer = fetcher.request(
            "POST",
            server.token_endpoint,
            {"Content-Type": "application/x-www-form-urlencoded"},
            f"grant_type=client_credentials&client_id=m2m.dpop&scope=api&client_secret={server.secret}",
        ).json()
    token = answer["access_token"]
    with dpop.Http(other_key, access_token=token) as http:
        http.get(server.api_url)
        assert http.last_status == 401
        text = http.last_error_text
        assert "The server rejected the DPoP proof; probably the key" in text
        assert issuer_key.thumbprint in text and other_key.thumbprint in text
        assert token not in text
