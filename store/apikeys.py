"""Repository AI API keys: high-entropy bearer tokens stored only as SHA-256 hashes.

A fast hash is right here (unlike passwords): the secret has 256 random bits, and the gateway
looks keys up by hash on every request from its in-memory snapshot.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "tg_"


def generate() -> tuple[str, str]:
    """(public key prefix, bearer secret). The prefix is a leading slice of the secret."""
    secret = PREFIX + secrets.token_urlsafe(32)
    return secret[:12], secret


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
