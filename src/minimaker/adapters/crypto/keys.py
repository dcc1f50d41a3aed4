"""Master key (KEK) handling: generate, parse, fingerprint, wrap and unwrap data keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from minimaker.kernel.errors import ConfigurationError, KeyUnavailable

KEY_BYTES = 32
_NONCE_BYTES = 12
_WRAP_VERSION = b"\x01"


def generate_key() -> bytes:
    """32 fresh random bytes: a master key, a data key or a service secret."""
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    """URL-safe base64, the form operators paste into MINIMAKER_MASTER_KEY."""
    return base64.urlsafe_b64encode(key).decode("ascii")


def decode_key(text: str) -> bytes:
    """Parse a URL-safe base64 key; anything but exactly 32 bytes is a configuration error."""
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise ConfigurationError("master key is not valid URL-safe base64") from exc
    if len(key) != KEY_BYTES:
        raise ConfigurationError(f"master key must be {KEY_BYTES} bytes, got {len(key)}")
    return key


class MasterKey:
    """The key-encryption key. It lives in the environment or a key file, never the database."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ConfigurationError(f"master key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        # The fingerprint tells "wrong master key" apart from "tampered key" without
        # revealing anything about the key.
        self.kek_id = hmac.new(key, b"minimaker/kek-id/v1", hashlib.sha256).hexdigest()[:16]

    def wrap(self, key: bytes, *, context: str) -> bytes:
        """Seal `key` under the master key, bound to `context` (e.g. the subject id)."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _WRAP_VERSION + nonce + self._aead.encrypt(nonce, key, _aad(context))

    def unwrap(self, wrapped: bytes, *, context: str) -> bytes:
        """Open a wrapped key; a wrong master key, context or any tampering is refused."""
        if len(wrapped) < 1 + _NONCE_BYTES + 16 or wrapped[:1] != _WRAP_VERSION:
            raise KeyUnavailable("wrapped key is malformed")
        nonce = wrapped[1 : 1 + _NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, wrapped[1 + _NONCE_BYTES :], _aad(context))
        except InvalidTag as exc:
            raise KeyUnavailable("wrapped key does not open under this master key") from exc


def _aad(context: str) -> bytes:
    return b"minimaker/wrap/v1\x00" + context.encode("utf-8")
