"""Proofs made through the C ABI, checked by jwcrypto (signature, header) and by hand-written
RFC 9449 §4.2 rules (claims, htu normalisation, ath)."""

import base64
import hashlib
import json
import time

import pytest
from jwcrypto import jwk, jws

from conftest import dpoptool, openssl


def b64url_json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def verify(token):
    """Verifies a proof with jwcrypto against the key in its own header; returns (header, claims)."""
    header = b64url_json(token.split(".")[0])
    assert header["typ"] == "dpop+jwt"
    assert "d" not in header["jwk"], "the proof header leaks the private key"
    key = jwk.JWK(**header["jwk"])
    obj = jws.JWS()
    obj.deserialize(token)
    obj.verify(key, alg=header["alg"])
    return header, json.loads(obj.payload)


def proofs(key_file, method, url, *extra):
    code, out = dpoptool("proof", key_file, method, url, *extra)
    assert code == 0, out
    return out.split()


@pytest.fixture(scope="module")
def key_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("proofkeys")
    files = {"ES256": d / "p256.pem", "ES384": d / "p384.pem", "EdDSA": d / "ed25519.pem"}
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", files["ES256"])
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", files["ES384"])
    openssl("genpkey", "-algorithm", "ed25519", "-out", files["EdDSA"])
    # An RSA key signs as PS256; its JWK with "alg":"RS256" signs as RS256.
    files["PS256"] = d / "rsa.pem"
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", files["PS256"])
    rs256 = json.loads(jwk.JWK.from_pem(files["PS256"].read_bytes()).export_private())
    files["RS256"] = d / "rsa-rs256.jwk"
    files["RS256"].write_text(json.dumps(dict(rs256, alg="RS256")))
    return files


def load_key(path):
    data = path.read_bytes()
    return jwk.JWK.from_json(data) if path.suffix == ".jwk" else jwk.JWK.from_pem(data)


@pytest.mark.parametrize("alg", ["ES256", "ES384", "EdDSA", "PS256", "RS256"])
def test_proof_verifies_with_jwcrypto_and_has_the_rfc_claims(key_files, alg):
    before = int(time.time())
    (token,) = proofs(key_files[alg], "POST", "https://as.example.com/token")
    header, claims = verify(token)
    assert header["alg"] == alg
    expected = load_key(key_files[alg])
    assert jwk.JWK(**header["jwk"]).thumbprint() == expected.thumbprint()
    assert claims["htm"] == "POST"
    assert claims["htu"] == "https://as.example.com/token"
    assert before - 1 <= claims["iat"] <= int(time.time()) + 1
    assert len(base64.urlsafe_b64decode(claims["jti"] + "==")) >= 16
    assert set(claims) == {"jti", "htm", "htu", "iat"}


@pytest.mark.parametrize("url,htu", [
    ("https://API.Example.COM/Resource", "https://api.example.com/Resource"),
    ("https://api.example.com:443/r", "https://api.example.com/r"),
    ("http://api.example.com:80/r", "http://api.example.com/r"),
    ("https://api.example.com:8443/r", "https://api.example.com:8443/r"),
    ("https://api.example.com/r?query=1&b=2", "https://api.example.com/r"),
    ("https://api.example.com/r#fragment", "https://api.example.com/r"),
    ("HTTPS://API.EXAMPLE.COM:443/a/b?q#f", "https://api.example.com/a/b"),
    ("https://api.example.com", "https://api.example.com/"),
])
def test_htu_is_normalised(key_files, url, htu):
    (token,) = proofs(key_files["ES256"], "GET", url)
    assert verify(token)[1]["htu"] == htu


def test_ath_nonce_and_extra_claims(key_files):
    access_token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
    nonce = "eyJ7S_zG.eyJH0-Z.HX4w-7v"
    (token,) = proofs(key_files["ES256"], "GET", "https://rs.example.com/api", "--token", access_token,
                      "--nonce", nonce, "--claims", '{"client_id":"m2m.dpop","n":[1,{"a":true}]}')
    _, claims = verify(token)
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    assert claims["ath"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert claims["ath"] == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"  # RFC 9449 §7.1
    assert claims["nonce"] == nonce
    assert claims["client_id"] == "m2m.dpop"
    assert claims["n"] == [1, {"a": True}]


def test_ten_thousand_proofs_carry_ten_thousand_distinct_jtis(key_files):
    tokens = proofs(key_files["ES256"], "GET", "https://rs.example.com/api", "--count", 10000)
    assert len(tokens) == 10000
    jtis = {b64url_json(t.split(".")[1])["jti"] for t in tokens}
    assert len(jtis) == 10000
    for token in tokens[::50]:
        verify(token)
