"""Provider secrets sealed with AES-256-GCM (cryptography's AEAD), bound to their row id.

The associated data is the configuration id, so a sealed blob copied to another row fails to open.
Errors never carry the plaintext.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"


class SealError(Exception):
    """The blob could not be opened (wrong key, tampered, or bound to another row)."""


def seal(key: bytes, plaintext: str, aad: str) -> bytes:
    nonce = os.urandom(12)
    return _VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), aad.encode())


def unseal(key: bytes, blob: bytes, aad: str) -> str:
    if not blob or blob[:1] != _VERSION:
        raise SealError("unknown sealed-secret format")
    try:
        return AESGCM(key).decrypt(blob[1:13], blob[13:], aad.encode()).decode()
    except InvalidTag:
        raise SealError("sealed secret could not be opened with the configured key") from None


def mask(secret: str | None) -> str | None:
    """A display hint: the last 4 characters at most, never more (short secrets show nothing)."""
    if not secret or len(secret) < 12:
        return None
    return secret[-4:]
