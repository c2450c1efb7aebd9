"""`/user` end to end over HTTP: login, refresh, create (role rules), me; bad input."""

from __future__ import annotations

import pytest

from tests.support.api import bearer, unique


def _err(r, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False and isinstance(body["message"], str) and body["message"]
    return body["message"]


def test_login_answer_shape(client, live_app) -> None:
    r = client.post("/user/login", json={"email": live_app.admin_email, "password": live_app.admin_password})
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True
    assert set(body) == {"success", "accessToken", "token", "refreshToken", "expiresIn", "expiresAt", "tokenId", "user"}
    assert body["expiresIn"] == live_app.settings.access_token_ttl_s
    assert set(body["user"]) == {"id", "email", "name", "orgId", "orgRole"}
    assert body["user"]["orgRole"] == "OWNER" and body["user"]["email"] == live_app.admin_email
    assert "password" not in r.text.lower()


def test_login_email_is_case_insensitive(client, live_app) -> None:
    r = client.post(
        "/user/login", json={"email": "  " + live_app.admin_email.upper(), "password": live_app.admin_password}
    )
    assert r.status_code == 200


def test_login_failures_are_generic_401(client, live_app) -> None:
    wrong_pw = _err(client.post("/user/login", json={"email": live_app.admin_email, "password": "nope-nope"}), 401)
    unknown = _err(client.post("/user/login", json={"email": "nobody@example.test", "password": "nope-nope"}), 401)
    assert wrong_pw == unknown == "Invalid email or password"


@pytest.mark.parametrize(
    "body",
    [{}, {"email": "a@b.c"}, {"password": "x"}, {"email": 5, "password": "x"}, {"email": "", "password": ""}, []],
)
def test_login_bad_body_is_400(client, body) -> None:
    _err(client.post("/user/login", json=body), 400)


def test_login_malformed_json_is_400(client) -> None:
    msg = _err(client.post("/user/login", content=b'{"email":', headers={"content-type": "application/json"}), 400)
    assert "JSON" in msg


def test_refresh_issues_new_tokens_and_rejects_access_tokens(client, live_app) -> None:
    first = client.post("/user/login", json={"email": live_app.admin_email, "password": live_app.admin_password}).json()
    r = client.post("/user/refresh", json={"refreshToken": first["refreshToken"]})
    assert r.status_code == 200
    again = r.json()
    assert again["user"]["id"] == first["user"]["id"] and again["token"] != first["token"]
    assert client.get("/user/me", headers=bearer(again["token"])).status_code == 200
    # an access token is not a refresh token, and a refresh token is not an access token
    _err(client.post("/user/refresh", json={"refreshToken": first["token"]}), 401)
    _err(client.get("/user/me", headers=bearer(first["refreshToken"])), 401)
    _err(client.post("/user/refresh", json={"refreshToken": "garbage"}), 401)
    _err(client.post("/user/refresh", json={}), 400)


def test_me(client, admin_headers, live_app) -> None:
    r = client.get("/user/me", headers=admin_headers)
    assert r.status_code == 200
    assert r.json()["user"]["email"] == live_app.admin_email


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer not.a.jwt"}]
)
def test_me_needs_a_valid_token(client, headers) -> None:
    _err(client.get("/user/me", headers=headers), 401)


def test_token_signed_with_another_key_is_rejected(client, admin_token) -> None:
    import jwt

    claims = jwt.decode(admin_token, options={"verify_signature": False})
    forged = jwt.encode(claims, "another-signing-key-of-32-bytes-at-least", algorithm="HS256")
    _err(client.get("/user/me", headers=bearer(forged)), 401)


def test_owner_creates_user_who_can_log_in(client, admin_headers) -> None:
    email = f"{unique('new')}@Example.test"
    r = client.post(
        "/user",
        json={"email": email, "password": "long-enough-1", "name": "New Person", "orgRole": "WORKSPACES"},
        headers=admin_headers,
    )
    assert r.status_code == 201, r.text
    user = r.json()["user"]
    assert user["email"] == email.lower() and user["orgRole"] == "WORKSPACES" and user["name"] == "New Person"
    me = client.get("/user/me", headers=admin_headers).json()["user"]
    assert user["orgId"] == me["orgId"]
    login = client.post("/user/login", json={"email": email, "password": "long-enough-1"})
    assert login.status_code == 200 and login.json()["user"]["id"] == user["id"]


def test_org_role_defaults_to_user(client, admin_headers) -> None:
    r = client.post(
        "/user",
        json={"email": f"{unique('d')}@example.test", "password": "long-enough-1", "name": "D"},
        headers=admin_headers,
    )
    assert r.status_code == 201 and r.json()["user"]["orgRole"] == "USER"


def test_used_email_is_409(client, admin_headers, live_app) -> None:
    _err(
        client.post(
            "/user",
            json={"email": live_app.admin_email.upper(), "password": "long-enough-1", "name": "X"},
            headers=admin_headers,
        ),
        409,
    )


@pytest.mark.parametrize(
    "body",
    [
        {"password": "long-enough-1", "name": "X"},
        {"email": "a@b.test", "name": "X"},
        {"email": "a@b.test", "password": "long-enough-1"},
        {"email": "not-an-email", "password": "long-enough-1", "name": "X"},
        {"email": "a@b.test", "password": "short", "name": "X"},
        {"email": "a@b.test", "password": "long-enough-1", "name": "   "},
        {"email": "a@b.test", "password": "long-enough-1", "name": "X", "orgRole": "KING"},
    ],
)
def test_create_user_bad_input_is_400(client, admin_headers, body) -> None:
    _err(client.post("/user", json=body, headers=admin_headers), 400)


@pytest.mark.parametrize("role", ["USER", "BILLING", "WORKSPACES"])
def test_non_admin_org_roles_cannot_create_users(client, make_user, role) -> None:
    who = make_user(org_role=role)
    _err(
        client.post(
            "/user",
            json={"email": f"{unique('z')}@example.test", "password": "long-enough-1", "name": "Z"},
            headers=who.headers,
        ),
        403,
    )


def test_administrators_create_users_but_not_owners(client, make_user) -> None:
    adm = make_user(org_role="ADMINISTRATORS")
    r = client.post(
        "/user",
        json={
            "email": f"{unique('a')}@example.test",
            "password": "long-enough-1",
            "name": "A",
            "orgRole": "ADMINISTRATORS",
        },
        headers=adm.headers,
    )
    assert r.status_code == 201 and r.json()["user"]["orgId"] == adm.org_id
    _err(
        client.post(
            "/user",
            json={"email": f"{unique('o')}@example.test", "password": "long-enough-1", "name": "O", "orgRole": "OWNER"},
            headers=adm.headers,
        ),
        403,
    )


def test_outsider_owner_creates_users_in_its_own_org_only(client, make_user, admin_headers) -> None:
    outsider = make_user(org_role="OWNER", new_org=True)
    r = client.post(
        "/user",
        json={"email": f"{unique('o')}@example.test", "password": "long-enough-1", "name": "O"},
        headers=outsider.headers,
    )
    assert r.status_code == 201
    mine = client.get("/user/me", headers=admin_headers).json()["user"]["orgId"]
    assert r.json()["user"]["orgId"] == outsider.org_id != mine


def test_create_user_needs_auth(client) -> None:
    _err(client.post("/user", json={"email": "q@example.test", "password": "long-enough-1", "name": "Q"}), 401)
