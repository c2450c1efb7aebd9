"""Management API tokens (`/user/token`) end to end over HTTP, and login's LoginResponse fields."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.api import bearer
from tests.support.secrets import register_secret


def _new_token(client, headers, name="ci", **extra) -> dict:
    r = client.post("/user/token", json={"name": name, **extra}, headers=headers)
    assert r.status_code == 201, r.text
    body = r.json()
    register_secret(body["token"], shown_once=True)
    assert set(body) == {"success", "id", "token"} and body["success"] is True
    assert body["token"].startswith("tgm_") and len(body["token"]) > 40
    return body


def test_login_answers_the_flashback_login_response(client, live_app) -> None:
    before_ms = int(time.time() * 1000)
    r = client.post("/user/login", json={"email": live_app.admin_email, "password": live_app.admin_password})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accessToken"] == body["token"]
    ttl_ms = live_app.settings.access_token_ttl_s * 1000
    assert before_ms + ttl_ms - 2000 <= body["expiresAt"] <= int(time.time() * 1000) + ttl_ms + 1000
    assert isinstance(body["tokenId"], str) and len(body["tokenId"]) >= 16
    assert client.get("/user/me", headers=bearer(body["accessToken"])).status_code == 200
    # the Flashback client's userRefresh sends snake_case
    again = client.post("/user/refresh", json={"refresh_token": body["refreshToken"]})
    assert again.status_code == 200, again.text
    assert again.json()["accessToken"] != body["accessToken"]
    assert again.json()["tokenId"] != body["tokenId"]


def test_token_lifecycle_shown_once_listed_without_secret_revoked_at_once(client, make_user) -> None:
    user = make_user()
    created = _new_token(client, user.headers, name="deploy bot")
    secret = created["token"]
    me = client.get("/user/me", headers=bearer(secret))
    assert me.status_code == 200 and me.json()["user"]["id"] == user.id

    listed = client.get("/user/token", headers=user.headers)
    assert listed.status_code == 200
    tokens = listed.json()["tokens"]
    assert [t["id"] for t in tokens] == [created["id"]]
    assert set(tokens[0]) == {"id", "name", "createdAt", "lastUsedAt", "expiresAt"}
    assert tokens[0]["name"] == "deploy bot" and tokens[0]["expiresAt"] is None
    assert tokens[0]["lastUsedAt"] is not None  # used for /user/me above
    assert secret not in listed.text and secret[4:20] not in listed.text

    # another user sees none of it and cannot revoke it
    other = make_user()
    assert client.get("/user/token", headers=other.headers).json()["tokens"] == []
    assert client.delete(f"/user/token/{created['id']}", headers=other.headers).status_code == 404

    r = client.delete(f"/user/token/{created['id']}", headers=user.headers)
    assert r.status_code == 200 and r.json() == {"success": True, "message": "Token revoked"}
    refused = client.get("/user/me", headers=bearer(secret))
    assert refused.status_code == 401 and refused.json()["success"] is False
    assert client.get("/user/token", headers=user.headers).json()["tokens"] == []
    assert client.delete(f"/user/token/{created['id']}", headers=user.headers).status_code == 404


def test_token_acts_with_its_users_roles(client, make_user, make_workspace) -> None:
    ws = make_workspace()
    reader = make_user(workspaces={ws["id"]: "READ"})
    token = _new_token(client, reader.headers)["token"]
    assert client.get(f"/workspace/{ws['id']}", headers=bearer(token)).status_code == 200
    denied = client.put(f"/workspace/{ws['id']}", json={"name": "renamed"}, headers=bearer(token))
    assert denied.status_code == 403
    # not an org admin: cannot create users with it either
    assert (
        client.post(
            "/user", json={"email": "x@example.test", "password": "long-enough-pw", "name": "x"}, headers=bearer(token)
        ).status_code
        == 403
    )
    hidden = make_workspace()
    assert client.get(f"/workspace/{hidden['id']}", headers=bearer(token)).status_code == 404


def test_token_expires(client, make_user) -> None:
    user = make_user()
    soon = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    created = _new_token(client, user.headers, expiresAt=soon)
    assert client.get("/user/me", headers=bearer(created["token"])).status_code == 200
    listed = client.get("/user/token", headers=user.headers).json()["tokens"]
    assert listed[0]["expiresAt"].endswith("Z")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if client.get("/user/me", headers=bearer(created["token"])).status_code == 401:
            break
        time.sleep(0.2)
    else:
        pytest.fail("an expired token was still accepted after 10 s")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x", "expiresAt": "soon"},
        {"name": "x", "expiresAt": "2001-01-01T00:00:00Z"},
        {"name": "x", "extra": 1},
    ],
)
def test_create_token_bad_body_is_400(client, admin_headers, body) -> None:
    r = client.post("/user/token", json=body, headers=admin_headers)
    assert r.status_code == 400, r.text
    assert r.json()["success"] is False and r.json()["message"]


def test_unknown_or_missing_token_is_401(client) -> None:
    assert client.get("/user/token").status_code == 401
    assert client.get("/user/me", headers=bearer("tgm_" + "A" * 43)).status_code == 401
    assert client.post("/user/token", json={"name": "x"}, headers=bearer("tgm_nope")).status_code == 401
