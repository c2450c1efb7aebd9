"""JWT access/refresh tokens (PyJWT, HS256); password hashing lives in the store."""

from __future__ import annotations

import time
import uuid

import jwt


def issue_token(secret: bytes, user_id: str, kind: str, ttl_s: int) -> str:
    now = int(time.time())
    payload = {"sub": user_id, "typ": kind, "iat": now, "exp": now + ttl_s, "jti": uuid.uuid4().hex}
    return jwt.encode(payload, secret, algorithm="HS256")


def decode_token(secret: bytes, token: str, kind: str) -> str | None:
    """User id if the token is valid, unexpired and of the expected kind, else None."""
    try:
        payload = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        return None
    if payload.get("typ") != kind:
        return None
    return str(payload["sub"])


def token_claims(secret: bytes, token: str) -> dict:
    """The claims of a token this process just issued (verified; raises on a bad token)."""
    return jwt.decode(token, secret, algorithms=["HS256"])
