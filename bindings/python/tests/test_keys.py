"""dpop.Key: loading, generating, exporting, proofs and errors, through libdpop."""

import base64
import hashlib
import json
import threading

import pytest

import dpop


def b64url_json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def decode(proof):
    header, payload, signature = proof.split(".")
    assert signature
    return b64url_json(header), b64url_json(payload)


@pytest.mark.parametrize("alg", ["ES256", "ES384", "EdDSA"])
def test_generated_keys_export_and_load_back(alg):
    with dpop.Key.generate(alg) as key:
        assert key.alg == alg
        assert len(key.thumbprint) == 43
        assert isinstance(key.public_jwk, dict) and "d" not in key.public_jwk
        assert json.loads(key.public_jwk_json) == key.public_jwk
        assert key.private_jwk["d"]
        assert {k: v for k, v in key.private_jwk.items() if k != "d"} == key.public_jwk
        assert dpop.Key.from_bytes(key.private_pem()).thumbprint == key.thumbprint
        assert dpop.Key.from_bytes(json.dumps(key.private_jwk)).thumbprint == key.thumbprint


def test_default_algorithm_is_es256():
    assert dpop.Key.generate().alg == "ES256"


def test_encrypted_pem_file_needs_its_password(tmp_path):
    key = dpop.Key.generate("ES384")
    pem = key.private_pem(password="correct horse")
    assert pem.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    path = tmp_path / "key.pem"
    path.write_text(pem)
    assert dpop.Key.load(path, password="correct horse").thumbprint == key.thumbprint
    assert dpop.Key.load(str(path), "correct horse").thumbprint == key.thumbprint
    with pytest.raises(dpop.KeyFormatError) as missing:
        dpop.Key.load(path)
    assert missing.value.code == dpop.ERR_KEY_PASSWORD_REQUIRED
    assert missing.value.name == "DPOP_ERR_KEY_PASSWORD_REQUIRED"
    assert str(missing.value).startswith("dpop_key_load")
    with pytest.raises(dpop.KeyFormatError) as wrong:
        dpop.Key.load(path, password="wrong")
    assert wrong.value.code == dpop.ERR_KEY_WRONG_PASSWORD
    assert "correct horse" not in str(wrong.value) and "wrong" not in str(wrong.value).split(":", 1)[0]


def test_load_errors_carry_code_name_and_text(tmp_path):
    with pytest.raises(dpop.Error) as io_error:
        dpop.Key.load(tmp_path / "absent.pem")
    assert type(io_error.value) is dpop.Error
    assert io_error.value.code == dpop.ERR_IO
    assert io_error.value.name == "DPOP_ERR_IO"
    assert "absent.pem" in str(io_error.value)
    with pytest.raises(dpop.KeyFormatError, match="not a PEM, DER or JWK") as junk:
        dpop.Key.from_bytes(b"\x00\x01junk")
    assert junk.value.code == dpop.ERR_KEY_UNRECOGNIZED
    with pytest.raises(dpop.Error, match="RS512") as alg:
        dpop.Key.generate("RS512")
    assert alg.value.code == dpop.ERR_INVALID_ARGUMENT
    assert repr(alg.value).startswith("Error(DPOP_ERR_INVALID_ARGUMENT, ")


def test_an_empty_key_says_so():
    key = dpop.Key()
    assert key.last_error_text == ""
    assert key.alg is None
    assert repr(key) == "<dpop.Key empty>"
    with pytest.raises(dpop.Error, match="holds no key") as e:
        key.thumbprint
    assert e.value.code == dpop.ERR_KEY_NOT_LOADED
    assert "holds no key" in key.last_error_text


def test_closed_keys_are_refused_by_the_library():
    key = dpop.Key.generate()
    assert not key.closed
    key.close()
    key.close()  # a second close does nothing
    assert key.closed and repr(key) == "<dpop.Key closed>"
    with pytest.raises(dpop.Error) as e:
        key.thumbprint
    assert e.value.code == dpop.ERR_NULL_POINTER


def test_context_manager_closes():
    with dpop.Key.generate() as key:
        pass
    assert key.closed


def test_arguments_are_checked_before_they_reach_c():
    with pytest.raises(ValueError, match="NUL"):
        dpop.Key.generate("ES256\0junk")
    with pytest.raises(TypeError):
        dpop.Key.generate(256)
    with pytest.raises(TypeError):
        dpop.Key.from_bytes(12)


def test_proof_claims_follow_rfc_9449():
    key = dpop.Key.generate()
    token = "an-access-token"
    proof = key.proof("POST", "HTTPS://API.Example.COM:443/r/x?q=1#f", access_token=token, nonce="n-1",
                      extra_claims={"purpose": "test"})
    header, payload = decode(proof)
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256"
    assert header["jwk"] == key.public_jwk
    assert payload["htm"] == "POST"
    assert payload["htu"] == "https://api.example.com/r/x"
    ath = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
    assert payload["ath"] == ath
    assert payload["nonce"] == "n-1"
    assert payload["purpose"] == "test"
    assert len(payload["jti"]) >= 22 and isinstance(payload["iat"], int)
    plain = decode(key.proof("GET", "https://a.example/"))[1]
    assert "ath" not in plain and "nonce" not in plain
    assert decode(key.proof("GET", "https://a.example/", extra_claims='{"k":1}'))[1]["k"] == 1


def test_large_proofs_grow_the_buffer():
    key = dpop.Key.generate()
    proof = key.proof("GET", "https://a.example/", extra_claims={"pad": "p" * 5000})
    assert decode(proof)[1]["pad"] == "p" * 5000


@pytest.mark.parametrize(
    "args, code, error",
    [
        (("G E T", "https://a.example/"), dpop.ERR_PROOF_METHOD, dpop.ProofError),
        (("GET", "ftp://a.example/"), dpop.ERR_PROOF_URL, dpop.ProofError),
        (("GET", "https://a.example/", None, None, {"htm": "x"}), dpop.ERR_PROOF_CLAIMS, dpop.ProofError),
        (("GET", "https://a.example/", None, None, "[1]"), dpop.ERR_PROOF_CLAIMS, dpop.ProofError),
        (("GET", "https://a.example/", None, "bad nonce"), dpop.ERR_PROOF_NONCE, dpop.ProofError),
    ],
)
def test_proof_errors(args, code, error):
    key = dpop.Key.generate()
    with pytest.raises(error) as e:
        key.proof(*args)
    assert e.value.code == code
    assert str(e.value).startswith("dpop_proof_create")
    assert key.last_error_text == str(e.value)


def test_empty_optional_strings_mean_absent():
    """4GL hosts cannot always pass NULL: "" is taken as no token, no nonce, no claims."""
    key = dpop.Key.generate()
    claims = decode(key.proof("GET", "https://a.example/", "", "", ""))[1]
    assert "ath" not in claims and "nonce" not in claims
    assert key.private_pem("").startswith("-----BEGIN PRIVATE KEY-----")


def test_one_key_signs_from_many_threads():
    key = dpop.Key.generate()
    jtis, errors = [], []

    def sign():
        try:
            for _ in range(20):
                jtis.append(decode(key.proof("GET", "https://a.example/"))[1]["jti"])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=sign) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(jtis)) == 80


def test_error_text_is_per_thread():
    key = dpop.Key()
    with pytest.raises(dpop.Error):
        key.thumbprint
    seen = []
    thread = threading.Thread(target=lambda: seen.append(key.last_error_text))
    thread.start()
    thread.join()
    assert seen == [""]
    assert key.last_error_text != ""


def test_rsa_keys_generate_switch_alg_and_keep_their_thumbprint():
    with dpop.Key.generate_rsa(2048, "RS256") as key:
        assert key.alg == "RS256"
        assert list(key.public_jwk) == ["e", "kty", "n"]
        assert len(base64.urlsafe_b64decode(key.public_jwk["n"] + "==")) == 256
        canonical = json.dumps(key.public_jwk, separators=(",", ":"), sort_keys=True)
        digest = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=")
        assert key.thumbprint == digest.decode()
        assert decode(key.proof("GET", "https://rs.example/api"))[0]["alg"] == "RS256"
        thumbprint = key.thumbprint
        key.set_alg("PS256")
        assert key.alg == "PS256" and key.thumbprint == thumbprint
        header, _ = decode(key.proof("GET", "https://rs.example/api"))
        assert header["alg"] == "PS256" and header["jwk"] == key.public_jwk
        private = key.private_jwk
        assert private["alg"] == "PS256" and {"p", "q", "dp", "dq", "qi"} <= set(private)
        assert dpop.Key.from_bytes(key.private_pem()).thumbprint == thumbprint
        with pytest.raises(dpop.Error) as error:
            key.set_alg("ES256")
        assert error.value.code == dpop.ERR_INVALID_ARGUMENT
        assert "PS256 or RS256" in str(error.value)
    assert dpop.Key.generate("PS256").alg == "PS256"


@pytest.mark.parametrize("bits", [1024, 8192, -1, 2**40])
def test_rsa_sizes_other_than_2048_3072_4096_are_refused(bits):
    with pytest.raises(dpop.Error) as error:
        dpop.Key.generate_rsa(bits)
    assert error.value.code == dpop.ERR_INVALID_ARGUMENT
