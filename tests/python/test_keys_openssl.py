"""Keys made by the openssl command line and by jwcrypto load through the C ABI, and give the
same public key and RFC 7638 thumbprint as independent implementations compute."""

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from jwcrypto import jwk

from conftest import dpoptool, load_error, load_ok, openssl

PASSWORD = "s3cret-pass"


def expected_public(pem_bytes, password=None):
    """The public JWK and thumbprint of a private key, computed by jwcrypto/cryptography."""
    key = jwk.JWK.from_pem(pem_bytes, password=password.encode() if password else None)
    public = json.loads(key.export_public())
    return public, key.thumbprint()


def assert_same_key(loaded, pem_bytes, password=None):
    public, thumbprint = expected_public(pem_bytes, password)
    assert loaded["thumbprint"] == thumbprint
    for member in ("kty", "crv", "x", "y", "n", "e"):
        assert loaded["jwk"].get(member) == public.get(member), member


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Key files in every format, made by OpenSSL from a few base keys."""
    d = tmp_path_factory.mktemp("keys")
    files = {}

    def out(name):
        files[name] = d / name
        return files[name]

    # SEC1 with the EC PARAMETERS block OpenSSL writes before it.
    openssl("ecparam", "-genkey", "-name", "prime256v1", "-out", out("ecparam.pem"))
    openssl("ec", "-in", files["ecparam.pem"], "-outform", "DER", "-out", out("sec1.der"))
    openssl("ec", "-in", files["ecparam.pem"], "-out", out("sec1.pem"))
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", out("pkcs8.pem"))
    openssl("pkcs8", "-topk8", "-nocrypt", "-in", files["pkcs8.pem"], "-outform", "DER", "-out", out("pkcs8.der"))
    openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", files["pkcs8.pem"], "-passout", f"pass:{PASSWORD}",
            "-out", out("enc.pem"))
    openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", files["pkcs8.pem"], "-passout", f"pass:{PASSWORD}",
            "-outform", "DER", "-out", out("enc.der"))
    openssl("pkcs8", "-topk8", "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1", "-in", files["pkcs8.pem"],
            "-passout", f"pass:{PASSWORD}", "-out", out("enc-sha1.pem"))
    openssl("pkcs8", "-topk8", "-v2", "des3", "-in", files["pkcs8.pem"], "-passout", f"pass:{PASSWORD}",
            "-out", out("enc-3des.pem"))
    openssl("pkcs8", "-topk8", "-scrypt", "-in", files["pkcs8.pem"], "-passout", f"pass:{PASSWORD}",
            "-out", out("enc-scrypt.pem"))
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", out("p384.pem"))
    openssl("ec", "-in", files["p384.pem"], "-out", out("p384-sec1.pem"))
    openssl("genpkey", "-algorithm", "ed25519", "-out", out("ed25519.pem"))
    openssl("pkey", "-in", files["ed25519.pem"], "-outform", "DER", "-out", out("ed25519.der"))
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", out("rsa.pem"))
    openssl("rsa", "-in", files["rsa.pem"], "-traditional", "-out", out("rsa-pkcs1.pem"))
    openssl("rsa", "-in", files["rsa.pem"], "-traditional", "-outform", "DER", "-out", out("rsa-pkcs1.der"))
    openssl("pkcs8", "-topk8", "-nocrypt", "-in", files["rsa.pem"], "-outform", "DER", "-out", out("rsa.der"))
    openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", files["rsa.pem"], "-passout", f"pass:{PASSWORD}",
            "-out", out("rsa-enc.pem"))
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096", "-out", out("rsa4096.pem"))
    return files


@pytest.mark.parametrize("name,pem,password", [
    ("ecparam.pem", "ecparam.pem", None),
    ("sec1.pem", "sec1.pem", None),
    ("sec1.der", "sec1.pem", None),
    ("pkcs8.pem", "pkcs8.pem", None),
    ("pkcs8.der", "pkcs8.pem", None),
    ("enc.pem", "pkcs8.pem", PASSWORD),
    ("enc.der", "pkcs8.pem", PASSWORD),
    ("enc-sha1.pem", "pkcs8.pem", PASSWORD),
    ("enc-3des.pem", "pkcs8.pem", PASSWORD),
    ("enc-scrypt.pem", "pkcs8.pem", PASSWORD),
    ("p384.pem", "p384.pem", None),
    ("p384-sec1.pem", "p384.pem", None),
    ("ed25519.pem", "ed25519.pem", None),
    ("ed25519.der", "ed25519.pem", None),
    ("rsa.pem", "rsa.pem", None),
    ("rsa-pkcs1.pem", "rsa.pem", None),
    ("rsa-pkcs1.der", "rsa.pem", None),
    ("rsa.der", "rsa.pem", None),
    ("rsa-enc.pem", "rsa.pem", PASSWORD),
    ("rsa4096.pem", "rsa4096.pem", None),
])
@pytest.mark.parametrize("source", ["file", "memory"])
def test_openssl_key_loads_with_the_independent_thumbprint(keys, name, pem, password, source):
    extra = ["--password", password] if password else []
    if source == "memory":
        extra.append("--memory")
    loaded = load_ok(keys[name], *extra)
    assert_same_key(loaded, keys[pem].read_bytes())
    expected_alg = {"p384": "ES384", "ed25519": "EdDSA", "rsa": "PS256", "rsa4096": "PS256"}.get(name.split(".")[0].split("-")[0], "ES256")
    assert loaded["alg"] == expected_alg


@pytest.mark.parametrize("kty,params,alg", [
    ("EC", {"crv": "P-256"}, "ES256"),
    ("EC", {"crv": "P-384"}, "ES384"),
    ("OKP", {"crv": "Ed25519"}, "EdDSA"),
    ("RSA", {"size": 2048}, "PS256"),
    ("RSA", {"size": 3072, "alg": "RS256"}, "RS256"),
])
def test_jwcrypto_private_jwk_loads_with_its_thumbprint(tmp_path, kty, params, alg):
    key = jwk.JWK.generate(kty=kty, **params)
    path = tmp_path / "key.jwk"
    path.write_text(key.export_private())
    loaded = load_ok(path)
    assert loaded["alg"] == alg
    assert loaded["thumbprint"] == key.thumbprint()
    expected = json.loads(key.export_public())
    expected.pop("alg", None)  # the public JWK of a proof header carries the required members only
    assert loaded["jwk"] == expected
    # A JWK Set with the one key loads too.
    path.write_text(json.dumps({"keys": [json.loads(key.export_private())]}))
    assert load_ok(path)["thumbprint"] == key.thumbprint()


@pytest.mark.parametrize("alg", ["ES256", "ES384", "EdDSA", "PS256", "RS256"])
@pytest.mark.parametrize("password", [None, "export-pass"])
def test_generated_key_exports_load_in_cryptography(tmp_path, alg, password):
    pem, jwk_path = tmp_path / "key.pem", tmp_path / "key.jwk"
    code, out = dpoptool("generate", alg, pem, jwk_path, *(["--password", password] if password else []))
    assert code == 0, out
    generated = json.loads(out)
    pem_bytes = pem.read_bytes()
    assert pem_bytes.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----" if password
                                else b"-----BEGIN PRIVATE KEY-----")
    # cryptography (OpenSSL) reads the PKCS#8 export; jwcrypto reads the JWK export.
    serialization.load_pem_private_key(pem_bytes, password=password.encode() if password else None)
    assert_same_key(generated, pem_bytes, password)
    assert jwk.JWK.from_json(jwk_path.read_text()).thumbprint() == generated["thumbprint"]
    if password:
        openssl("pkey", "-in", pem, "-passin", f"pass:{password}", "-noout")


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    files = {}

    def out(name):
        files[name] = d / name
        return files[name]

    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", out("rsa1024.pem"))
    openssl("rsa", "-in", files["rsa1024.pem"], "-traditional", "-out", out("rsa1024-pkcs1.pem"))
    openssl("rsa", "-in", files["rsa1024.pem"], "-traditional", "-outform", "DER", "-out", out("rsa1024-pkcs1.der"))
    openssl("genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048", "-out", out("rsa-pss.pem"))
    openssl("pkey", "-in", files["rsa1024.pem"], "-pubout", "-out", out("rsa-public.pem"))
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", out("ec.pem"))
    openssl("pkey", "-in", files["ec.pem"], "-pubout", "-out", out("public.pem"))
    openssl("pkey", "-in", files["ec.pem"], "-pubout", "-outform", "DER", "-out", out("public.der"))
    openssl("req", "-x509", "-new", "-key", files["ec.pem"], "-subj", "/CN=libdpop", "-days", "1",
            "-out", out("cert.pem"))
    openssl("ecparam", "-genkey", "-name", "secp256k1", "-noout", "-out", out("secp256k1.pem"))
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521", "-out", out("p521.pem"))
    openssl("ecparam", "-genkey", "-name", "brainpoolP256r1", "-noout", "-out", out("brainpool.pem"))
    openssl("genpkey", "-algorithm", "X25519", "-out", out("x25519.pem"))
    openssl("genpkey", "-algorithm", "ed448", "-out", out("ed448.pem"))
    openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", files["ec.pem"], "-passout", f"pass:{PASSWORD}",
            "-out", out("enc.pem"))
    openssl("ec", "-in", files["ec.pem"], "-aes256", "-passout", f"pass:{PASSWORD}",
            "-out", out("legacy-enc.pem"))
    openssl("pkcs8", "-topk8", "-v1", "PBE-SHA1-3DES", "-in", files["ec.pem"], "-passout", f"pass:{PASSWORD}",
            "-out", out("pkcs12-pbe.pem"))
    text = files["ec.pem"].read_text()
    out("truncated.pem").write_text(text[: len(text) // 2])
    openssl("pkey", "-in", files["ec.pem"], "-outform", "DER", "-out", out("full.der"))
    out("truncated.der").write_bytes(files["full.der"].read_bytes()[:60])
    out("garbage.bin").write_bytes(bytes(range(7, 250)) * 3)
    out("empty.pem").write_bytes(b"")
    out("text.txt").write_text("this is not a key\n")
    out("truncated.jwk").write_text(jwk.JWK.generate(kty="EC", crv="P-256").export_private()[:50])
    out("public.jwk").write_text(jwk.JWK.generate(kty="EC", crv="P-256").export_public())
    rsa_public = jwk.JWK.generate(kty="RSA", size=2048)
    out("rsa-public.jwk").write_text(rsa_public.export_public())
    no_crt = {k: v for k, v in json.loads(rsa_public.export_private()).items() if k not in ("p", "q", "dp", "dq", "qi")}
    out("rsa-no-crt.jwk").write_text(json.dumps(no_crt))
    out("oct.jwk").write_text(jwk.JWK.generate(kty="oct", size=256).export())
    out("secp256k1.jwk").write_text(jwk.JWK.generate(kty="EC", crv="secp256k1").export_private())
    out("x25519.jwk").write_text(jwk.JWK.generate(kty="OKP", crv="X25519").export_private())
    return files


@pytest.mark.parametrize("name,password,error,words", [
    ("rsa1024.pem", None, "DPOP_ERR_KEY_RSA", "RSA keys under 2048 bits are refused; this key has 1024 bits"),
    ("rsa1024-pkcs1.pem", None, "DPOP_ERR_KEY_RSA", "RSA keys under 2048 bits are refused; this key has 1024 bits"),
    ("rsa1024-pkcs1.der", None, "DPOP_ERR_KEY_RSA", "RSA keys under 2048 bits are refused; this key has 1024 bits"),
    ("rsa-pss.pem", None, "DPOP_ERR_KEY_RSA", "RSASSA-PSS"),
    ("rsa-public.pem", None, "DPOP_ERR_KEY_PUBLIC_ONLY", "only public material (PUBLIC KEY)"),
    ("rsa-public.jwk", None, "DPOP_ERR_KEY_PUBLIC_ONLY", "no 'd' member"),
    ("rsa-no-crt.jwk", None, "DPOP_ERR_KEY_MALFORMED", "CRT members p, q, dp, dq and qi"),
    ("public.pem", None, "DPOP_ERR_KEY_PUBLIC_ONLY", "only public material (PUBLIC KEY)"),
    ("public.der", None, "DPOP_ERR_KEY_PUBLIC_ONLY", "the DER is a public key (EC)"),
    ("cert.pem", None, "DPOP_ERR_KEY_PUBLIC_ONLY", "CERTIFICATE"),
    ("public.jwk", None, "DPOP_ERR_KEY_PUBLIC_ONLY", "no 'd' member"),
    ("secp256k1.pem", None, "DPOP_ERR_KEY_UNSUPPORTED_CURVE", "secp256k1"),
    ("secp256k1.jwk", None, "DPOP_ERR_KEY_UNSUPPORTED_CURVE", "secp256k1"),
    ("p521.pem", None, "DPOP_ERR_KEY_UNSUPPORTED_CURVE", "P-521"),
    ("brainpool.pem", None, "DPOP_ERR_KEY_UNSUPPORTED_CURVE", "brainpoolP256r1"),
    ("ed448.pem", None, "DPOP_ERR_KEY_UNSUPPORTED_CURVE", "Ed448"),
    ("x25519.pem", None, "DPOP_ERR_KEY_UNSUPPORTED_TYPE", "X25519 is a key-agreement key"),
    ("x25519.jwk", None, "DPOP_ERR_KEY_UNSUPPORTED_TYPE", "X25519 is a key-agreement key"),
    ("oct.jwk", None, "DPOP_ERR_KEY_UNSUPPORTED_TYPE", "symmetric"),
    ("enc.pem", None, "DPOP_ERR_KEY_PASSWORD_REQUIRED", "no password was given"),
    ("enc.pem", "not-the-password", "DPOP_ERR_KEY_WRONG_PASSWORD", "password does not decrypt"),
    ("legacy-enc.pem", PASSWORD, "DPOP_ERR_KEY_UNSUPPORTED_ENCRYPTION", "legacy OpenSSL PEM encryption"),
    ("pkcs12-pbe.pem", PASSWORD, "DPOP_ERR_KEY_UNSUPPORTED_ENCRYPTION", "PBE-SHA1-3DES"),
    ("truncated.pem", None, "DPOP_ERR_KEY_TRUNCATED", "no END line"),
    ("truncated.der", None, "DPOP_ERR_KEY_TRUNCATED", "the DER is truncated"),
    ("truncated.jwk", None, "DPOP_ERR_KEY_TRUNCATED", "ends early"),
    ("garbage.bin", None, "DPOP_ERR_KEY_UNRECOGNIZED", "not a PEM, DER or JWK key"),
    ("empty.pem", None, "DPOP_ERR_KEY_UNRECOGNIZED", "empty"),
    ("text.txt", None, "DPOP_ERR_KEY_UNRECOGNIZED", "not a PEM, DER or JWK key"),
    ("missing.pem", None, "DPOP_ERR_IO", "cannot open key file"),
])
def test_bad_key_gives_its_code_and_a_useful_message(bad, tmp_path, name, password, error, words):
    path = bad.get(name, tmp_path / name)
    extra = ["--password", password] if password else []
    got, text = load_error(path, *extra)
    assert got == error, text
    assert words in text
    if password:
        assert password not in text
    if name in bad and name != "empty.pem":
        got_memory, text_memory = load_error(path, "--memory", *extra)
        assert got_memory == error, text_memory


def test_no_error_text_contains_key_material(bad):
    """The private scalar of a key whose load fails never shows in the error text."""
    private = jwk.JWK.generate(kty="EC", crv="P-256")
    members = json.loads(private.export_private())
    members["x"] = json.loads(jwk.JWK.generate(kty="EC", crv="P-256").export_public())["x"]
    path = bad["ec.pem"].parent / "mismatched.jwk"
    path.write_text(json.dumps(members))
    got, text = load_error(path)
    assert got == "DPOP_ERR_KEY_MALFORMED"
    assert "does not belong" in text
    assert members["d"] not in text
    d_bytes = base64.urlsafe_b64decode(members["d"] + "==")
    assert d_bytes.hex() not in text
