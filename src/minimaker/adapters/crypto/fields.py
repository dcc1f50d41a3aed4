"""Encrypted database fields (AES-256-GCM under the subject's key) and blind indexes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from minimaker.kernel.errors import KeyUnavailable

_VERSION = b"\x01"
_NONCE_BYTES = 12


def seal_field(dek: bytes, *, subject_id: str, field: str, value: str) -> bytes:
    """Encrypt one field value; the subject and field name are bound as associated data."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    aad = _aad(subject_id, field)
    return _VERSION + nonce + AESGCM(dek).encrypt(nonce, value.encode("utf-8"), aad)


def open_field(dek: bytes, *, subject_id: str, field: str, sealed: bytes) -> str:
    """Decrypt a field sealed by `seal_field`; moved, swapped or edited values are refused."""
    if sealed[:1] != _VERSION or len(sealed) < 1 + _NONCE_BYTES + 16:
        raise KeyUnavailable(f"sealed field {field} is malformed")
    nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
    try:
        plain = AESGCM(dek).decrypt(nonce, body, _aad(subject_id, field))
    except InvalidTag as exc:
        raise KeyUnavailable(f"sealed field {field} does not open under the subject's key") from exc
    return plain.decode("utf-8")


def blind_index(index_key: bytes, *, field: str, value: str) -> str:
    """A keyed HMAC of a normalised value: equality lookups without storing the value."""
    msg = field.encode("utf-8") + b"\x00" + value.encode("utf-8")
    return hmac.new(index_key, msg, hashlib.sha256).hexdigest()


def _aad(subject_id: str, field: str) -> bytes:
    return b"minimaker/field/v1\x00" + subject_id.encode("ascii") + b"\x00" + field.encode("ascii")
