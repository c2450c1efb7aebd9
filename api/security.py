"""JWT access/refresh tokens (PyJWT, HS256); password hashing lives in the store.

Access tokens are stateless; refresh tokens are also recorded by jti (`store.refreshtokens`) so
they can be rotated and revoked.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt


def new_token(secret: bytes, user_id: str, kind: str, ttl_s: int) -> tuple[str, dict[str, Any]]:
    """A signed token and its claims (`jti`, `exp` in epoch seconds, ...)."""
    now = int(time.time())
    payload = {"sub": user_id, "typ": kind, "iat": now, "exp": now + ttl_s, "jti": uuid.uuid4().hex}
    return jwt.encode(payload, secret, algorithm="HS256"), payload


def issue_token(secret: bytes, user_id: str, kind: str, ttl_s: int) -> str:
    return new_token(secret, user_id, kind, ttl_s)[0]


def decode_claims(secret: bytes, token: str, kind: str, *, verify_exp: bool = True) -> dict[str, Any] | None:
    """The claims if the token is validly signed, of the expected kind (and unexpired), else None."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["exp", "sub", "jti"], "verify_exp": verify_exp},
        )
    except jwt.PyJWTError:
        return None
    if payload.get("typ") != kind or not isinstance(payload.get("jti"), str):
        return None
    return payload


def decode_token(secret: bytes, token: str, kind: str) -> str | None:
    """User id if the token is valid, unexpired and of the expected kind, else None."""
    payload = decode_claims(secret, token, kind)
    return str(payload["sub"]) if payload is not None else None


def token_claims(secret: bytes, token: str) -> dict:
    """The claims of a token this process just issued (verified; raises on a bad token)."""
    return jwt.decode(token, secret, algorithms=["HS256"])
