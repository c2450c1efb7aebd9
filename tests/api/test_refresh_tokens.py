"""Refresh tokens rotate on use, a rotated token used again revokes its whole family, logout
revokes, and only a hash of each token's id is stored (over HTTP, SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import hashlib
import time

import jwt
from sqlalchemy import select

from store.models import RefreshToken
from tests.support.api import bearer, login


def _login(client, live_app) -> dict:
    return login(client, live_app.admin_email, live_app.admin_password)


def _refresh(client, token: str):
    return client.post("/user/refresh", json={"refresh_token": token})


def test_refresh_rotates_and_the_old_token_is_spent(client, live_app) -> None:
    first = _login(client, live_app)
    r = _refresh(client, first["refreshToken"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refreshToken"] != first["refreshToken"]
    assert client.get("/user/me", headers=bearer(second["accessToken"])).status_code == 200
    r = _refresh(client, second["refreshToken"])
    assert r.status_code == 200 and r.json()["refreshToken"] not in (first["refreshToken"], second["refreshToken"])


def test_reusing_a_rotated_token_revokes_the_family(client, live_app) -> None:
    other = _login(client, live_app)  # another login: another family, untouched
    first = _login(client, live_app)
    second = _refresh(client, first["refreshToken"]).json()
    r = _refresh(client, first["refreshToken"])  # replayed: stolen or leaked
    assert r.status_code == 401 and r.json()["success"] is False
    assert _refresh(client, second["refreshToken"]).status_code == 401  # the descendant is dead too
    assert _refresh(client, other["refreshToken"]).status_code == 200


async def test_racing_refreshes_with_one_token_succeed_at_most_once(aclient, live_app) -> None:
    r = await aclient.post("/user/login", json={"email": live_app.admin_email, "password": live_app.admin_password})
    token = r.json()["refreshToken"]
    answers = await asyncio.gather(*(aclient.post("/user/refresh", json={"refreshToken": token}) for _ in range(8)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [401] * 7, statuses


def test_logout_revokes_the_family(client, live_app) -> None:
    first = _login(client, live_app)
    second = _refresh(client, first["refreshToken"]).json()
    r = client.post("/user/logout", json={"refresh_token": second["refreshToken"]})
    assert r.status_code == 200 and r.json()["success"] is True
    assert _refresh(client, second["refreshToken"]).status_code == 401


def test_logout_is_no_oracle_but_needs_a_body(client, live_app) -> None:
    secret = live_app.settings.jwt_secret_bytes
    now = int(time.time())
    expired = jwt.encode(
        {"sub": "nobody", "typ": "refresh", "iat": now - 100, "exp": now - 50, "jti": "f" * 32}, secret, "HS256"
    )
    unknown = jwt.encode(
        {"sub": "nobody", "typ": "refresh", "iat": now, "exp": now + 50, "jti": "e" * 32}, secret, "HS256"
    )
    answers = [client.post("/user/logout", json={"refresh_token": t}) for t in ("garbage", expired, unknown)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len({a.text for a in answers}) == 1
    for body in ({}, {"refresh_token": ""}, {"refresh_token": 5}, []):
        r = client.post("/user/logout", json=body)
        assert r.status_code == 400 and r.json()["success"] is False


def test_only_a_hash_of_the_token_id_is_stored(client, live_app) -> None:
    answer = _login(client, live_app)
    token = answer["refreshToken"]
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]

    async def rows(rt) -> list[tuple]:
        async with rt.sessionmaker() as s:
            got = await s.execute(select(RefreshToken).where(RefreshToken.user_id == answer["user"]["id"]))
            return [tuple(str(v) for v in vars(r).values()) for (r,) in got]

    stored = live_app.call(rows)
    flat = " ".join(" ".join(r) for r in stored)
    assert hashlib.sha256(jti.encode()).hexdigest() in flat
    assert jti not in flat and token not in flat
