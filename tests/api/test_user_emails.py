"""Emails are unique per organisation: an org admin creating a user learns nothing about other
orgs (no 409 for an email used elsewhere), and login finds the one account the password opens
(`orgId` chooses when one email and password open several)."""

from __future__ import annotations

from typing import Any

from store import bootstrap
from tests.support.api import login, unique
from tests.support.secrets import register_secret


def _create(client, headers, email: str, password: str):
    return client.post("/user", json={"email": email, "password": password, "name": "N"}, headers=headers)


def _in_new_org(live_app, email: str, password: str) -> dict[str, str]:
    """A user of a fresh org, made in the store (the API never crosses orgs)."""

    async def make(rt: Any) -> dict[str, str]:
        async with rt.sessionmaker() as s:
            u = await bootstrap.create_user(s, email=email, password=password, name="Other", org_role="OWNER")
            await s.commit()
            return {"id": u.id, "orgId": u.org_id}

    return live_app.call(make)


def _password() -> str:
    pw = "pw-" + unique("p")
    register_secret(pw)
    return pw


def test_an_email_used_in_another_org_is_no_conflict(client, live_app, admin_headers) -> None:
    email = f"{unique('shared')}@example.test"
    theirs = _in_new_org(live_app, email, _password())
    mine_pw = _password()
    r = _create(client, admin_headers, email, mine_pw)
    assert r.status_code == 201, r.text
    mine = r.json()["user"]
    assert mine["orgId"] != theirs["orgId"]
    assert login(client, email, mine_pw)["user"]["id"] == mine["id"]  # the password picks the account
    dup = _create(client, admin_headers, email.upper(), _password())  # same org: still a conflict
    assert dup.status_code == 409 and dup.json()["message"] == "A user with this email already exists"


def test_same_email_and_password_in_two_orgs_needs_org_id(client, live_app, admin_headers) -> None:
    email, pw = f"{unique('twin')}@example.test", _password()
    theirs = _in_new_org(live_app, email, pw)
    mine = _create(client, admin_headers, email, pw).json()["user"]
    r = client.post("/user/login", json={"email": email, "password": pw})
    assert r.status_code == 409 and "orgId" in r.json()["message"]
    for who in (mine, theirs):
        r = client.post("/user/login", json={"email": email, "password": pw, "orgId": who["orgId"]})
        assert r.status_code == 200 and r.json()["user"]["id"] == who["id"]
    r = client.post("/user/login", json={"email": email, "password": pw, "orgId": "no-such-org"})
    assert r.status_code == 401 and r.json()["message"] == "Invalid email or password"
    r = client.post("/user/login", json={"email": email, "password": "wrong-password", "orgId": mine["orgId"]})
    assert r.status_code == 401


def test_the_bound_on_accounts_per_email_answers_like_a_duplicate(client, live_app, admin_headers) -> None:
    email = f"{unique('many')}@example.test"
    for _ in range(bootstrap.MAX_ACCOUNTS_PER_EMAIL):
        _in_new_org(live_app, email, _password())
    r = _create(client, admin_headers, email, _password())
    assert r.status_code == 409 and r.json()["message"] == "A user with this email already exists"
