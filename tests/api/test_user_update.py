"""`PUT /user/{id}` (the Flashback client's `updateUser`): who may update whom, input rules, and
a new password ending every refresh token of the user."""

from __future__ import annotations

import pytest

from tests.support.api import login, unique
from tests.support.secrets import register_secret


def _put(client, user_id: str, body, headers):
    return client.put(f"/user/{user_id}", json=body, headers=headers)


def _status(r, status: int) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is (status == 200) and isinstance(body["message"], str) and body["message"]


def test_user_renames_themself_and_lastname_is_ignored(client, make_user) -> None:
    u = make_user()
    _status(_put(client, u.id, {"name": "  Renamed  ", "lastName": "Ignored"}, u.headers), 200)
    me = client.get("/user/me", headers=u.headers).json()["user"]
    assert me["name"] == "Renamed" and "lastName" not in me
    _status(_put(client, u.id, {"lastName": "Only"}, u.headers), 200)


def test_password_change_needs_eight_characters_and_revokes_refresh_tokens(client, make_user) -> None:
    u = make_user()
    other_session = login(client, u.email, u.password)
    _status(_put(client, u.id, {"password": "short"}, u.headers), 400)
    new_pw = "new-" + unique("pw")
    register_secret(new_pw)
    _status(_put(client, u.id, {"password": new_pw}, u.headers), 200)
    for token in (u.refresh_token, other_session["refreshToken"]):
        assert client.post("/user/refresh", json={"refresh_token": token}).status_code == 401
    assert client.post("/user/login", json={"email": u.email, "password": u.password}).status_code == 401
    assert login(client, u.email, new_pw)["user"]["id"] == u.id


@pytest.mark.parametrize("role", ["OWNER", "ADMINISTRATORS"])
def test_org_admins_update_users_of_their_org(client, make_user, role) -> None:
    admin = make_user(org_role=role)
    target = make_user()
    _status(_put(client, target.id, {"name": "Set By Admin"}, admin.headers), 200)
    assert client.get("/user/me", headers=target.headers).json()["user"]["name"] == "Set By Admin"
    new_pw = "admin-set-" + unique("pw")
    register_secret(new_pw)
    _status(_put(client, target.id, {"password": new_pw}, admin.headers), 200)
    assert client.post("/user/refresh", json={"refresh_token": target.refresh_token}).status_code == 401


def test_administrators_cannot_update_an_owner(client, make_user) -> None:
    adm = make_user(org_role="ADMINISTRATORS")
    owner = make_user(org_role="OWNER")
    _status(_put(client, owner.id, {"password": "takeover-123"}, adm.headers), 403)
    assert login(client, owner.email, owner.password)["user"]["id"] == owner.id


@pytest.mark.parametrize("role", ["USER", "BILLING", "WORKSPACES"])
def test_plain_users_cannot_update_others(client, make_user, role) -> None:
    who = make_user(org_role=role)
    target = make_user()
    _status(_put(client, target.id, {"name": "Nope"}, who.headers), 403)


def test_other_orgs_users_are_not_found(client, make_user, admin_headers) -> None:
    outsider = make_user(org_role="OWNER", new_org=True)
    r = _put(client, outsider.id, {"password": "takeover-123"}, admin_headers)
    missing = _put(client, "00000000-0000-0000-0000-000000000000", {"name": "X"}, admin_headers)
    _status(r, 404)
    _status(missing, 404)
    assert r.json() == missing.json()
    assert login(client, outsider.email, outsider.password)["user"]["id"] == outsider.id


@pytest.mark.parametrize(
    "body", [{}, {"name": "   "}, {"name": ""}, {"password": 12345678}, {"name": "x" * 201}, [], {"password": ""}]
)
def test_bad_update_bodies_are_400(client, make_user, body) -> None:
    u = make_user()
    _status(_put(client, u.id, body, u.headers), 400)


def test_update_needs_auth(client, make_user) -> None:
    u = make_user()
    _status(client.put(f"/user/{u.id}", json={"name": "X"}), 401)
