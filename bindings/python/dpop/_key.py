"""Key: a DPoP private key, one dpop_key handle."""

from __future__ import annotations

import json
import os  # noqa: F401  (_Path names os.PathLike in strings, which get_type_hints resolves here)
from typing import Any, Dict, Optional

from . import _lib
from ._codes import ERR_INVALID_ARGUMENT
from ._errors import make_error
from ._handle import _cstr, _path, _json, _data, _text, _Handle, _new, _Text, _Path, _JsonObject


class Key(_Handle):
    """A DPoP private key (ES256, ES384, EdDSA, or RSA signing with PS256 or RS256).

    Make one with ``Key.load(path)``, ``Key.from_bytes(data)`` or ``Key.generate()``;
    ``Key()`` is an empty handle. A key may be used from several threads at once. Keep the
    key (``private_pem()``): access tokens are bound to it.
    """

    _free_name = "dpop_key_free"
    _error_text_name = "dpop_key_last_error_text"

    def __init__(self) -> None:
        super().__init__(_new("dpop_key_new"))

    @classmethod
    def load(cls, path: _Path, password: Optional[_Text] = None) -> Key:
        """A key read from a file: PEM (SEC1, PKCS#1, PKCS#8, encrypted PKCS#8), DER or JWK."""
        return cls._filled("dpop_key_load", _path(path), _cstr(password, "password"))

    @classmethod
    def from_bytes(cls, data: _Text, password: Optional[_Text] = None) -> Key:
        """A key read from memory (PEM, DER or JWK as bytes or str)."""
        raw = _data(data, "data")
        return cls._filled("dpop_key_load_memory", raw, len(raw), _cstr(password, "password"))

    @classmethod
    def generate(cls, alg: _Text = "ES256") -> Key:
        """A new key from the system's random source: "ES256", "ES384", "EdDSA", or "PS256"
        or "RS256" (a 3072-bit RSA key)."""
        return cls._filled("dpop_key_generate", _cstr(alg, "alg"))

    @classmethod
    def generate_rsa(cls, bits: int = 3072, alg: _Text = "PS256") -> Key:
        """A new RSA key of 2048, 3072 or 4096 bits signing with "PS256" or "RS256"."""
        if not isinstance(bits, int) or not -(2**31) <= bits < 2**31:
            raise make_error(ERR_INVALID_ARGUMENT, f"bits must be 2048, 3072 or 4096, not {bits!r}")
        return cls._filled("dpop_key_generate_rsa", bits, _cstr(alg, "alg"))

    def set_alg(self, alg: _Text) -> None:
        """Signs with another algorithm from now on, with the same key (and thumbprint): "PS256"
        or "RS256" for an RSA key; a key's own algorithm is always accepted."""
        self._check(_lib.lib().dpop_key_set_alg(self._handle, _cstr(alg, "alg")))

    @classmethod
    def _filled(cls, function_name: str, *args: Any) -> Key:
        key = cls()
        try:
            key._check(getattr(_lib.lib(), function_name)(key._handle, *args))
        except BaseException:
            key.close()
            raise
        return key

    def _read(self, function_name: str, *args: Any, capacity: int = 0) -> str:
        status, data = _lib.read_string(
            getattr(_lib.lib(), function_name), self._handle, *args, capacity=capacity
        )
        self._check(status)
        return _text(data)

    @property
    def alg(self) -> Optional[str]:
        """ "ES256", "ES384", "EdDSA", "PS256" or "RS256"; None while the handle holds no key."""
        alg: Optional[bytes] = _lib.lib().dpop_key_alg(self._handle)
        return alg.decode("ascii") if alg else None

    @property
    def public_jwk(self) -> Dict[str, Any]:
        """The public JWK as a dict (``public_jwk_json`` is the JSON text)."""
        jwk: Dict[str, Any] = json.loads(self.public_jwk_json)
        return jwk

    @property
    def public_jwk_json(self) -> str:
        """The public JWK as the JSON text libdpop makes."""
        return self._read("dpop_key_public_jwk")

    @property
    def thumbprint(self) -> str:
        """The RFC 7638 JWK thumbprint: the ``jkt`` of tokens bound to this key."""
        return self._read("dpop_key_thumbprint", capacity=64)

    @property
    def private_jwk(self) -> Dict[str, Any]:
        """The private key as a JWK dict (with ``d``). A secret."""
        jwk: Dict[str, Any] = json.loads(self._read("dpop_key_private_jwk"))
        return jwk

    def private_pem(self, password: Optional[_Text] = None) -> str:
        """The private key as PKCS#8 PEM, encrypted (PBES2, AES-256-CBC) when a password is
        given. A secret."""
        # An encrypted export differs on every call: start with a buffer that fits it.
        return self._read("dpop_key_private_pem", _cstr(password, "password"), capacity=1024)

    def proof(
        self,
        method: _Text,
        url: _Text,
        access_token: Optional[_Text] = None,
        nonce: Optional[_Text] = None,
        extra_claims: Optional[_JsonObject] = None,
    ) -> str:
        """A signed DPoP proof JWT for `method` and `url` (RFC 9449 section 4.2), bound to
        `access_token` (``ath``) and carrying `nonce` when given. `extra_claims` is a dict or
        a JSON object text merged into the payload."""
        status, data = _lib.read_string(
            _lib.lib().dpop_proof_create,
            self._handle,
            _cstr(method, "method"),
            _cstr(url, "url"),
            _cstr(access_token, "access_token"),
            _cstr(nonce, "nonce"),
            None if extra_claims is None else _json(extra_claims, "extra_claims"),
            capacity=1024,  # fits an ordinary proof: one signature is usually enough
        )
        self._check(status)
        return _text(data)

    @property
    def last_error_text(self) -> str:
        """The message of this thread's last call on the key ("" after a success)."""
        return self._last_error_text()

    def __repr__(self) -> str:
        if not self._handle:
            return "<dpop.Key closed>"
        alg = self.alg
        return f"<dpop.Key {alg} {self.thumbprint}>" if alg else "<dpop.Key empty>"
