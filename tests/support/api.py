"""Management-API helpers for tests: log in, create users with roles and memberships,
create workspaces. All calls go through real HTTP against a live app.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.secrets import register_secret

_seq = itertools.count(1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: httpx.Client, email: str, password: str) -> dict[str, Any]:
    r = client.post("/user/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return r.json()


@dataclass
class TestUser:
    __test__ = False  # not a test class

    id: str
    email: str
    password: str
    name: str
    org_id: str
    org_role: str
    token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


def unique(prefix: str = "x") -> str:
    return f"{prefix}-{next(_seq)}-{uuid.uuid4().hex[:6]}"


def create_workspace(client: httpx.Client, headers: dict[str, str], name: str | None = None) -> dict[str, Any]:
    """POST /workspace; returns the `workspace` object ({id, name, orgId})."""
    r = client.post("/workspace", json={"name": name or unique("ws")}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["workspace"]


class UserFactory:
    """`make_user(org_role="USER", workspaces={ws_id: "READ"}, new_org=False)` -> TestUser.

    Same-org users are created by the org OWNER through `POST /user` and added to the given
    workspaces through `POST /workspace/{id}/users`; `new_org=True` makes a user in a fresh org
    (an outsider) directly in the store, since the API never crosses orgs.
    """

    def __init__(self, live: Any, client: httpx.Client, admin_headers: dict[str, str]):
        self.live = live
        self.client = client
        self.admin_headers = admin_headers

    def __call__(
        self,
        org_role: str = "USER",
        workspaces: dict[str, str] | None = None,
        *,
        new_org: bool = False,
        name: str | None = None,
    ) -> TestUser:
        email = f"{unique('user')}@example.test"
        password = "pw-" + uuid.uuid4().hex
        register_secret(password)
        name = name or email.split("@")[0]
        if new_org:
            from store.bootstrap import create_user

            async def make(rt: Any) -> str:
                async with rt.sessionmaker() as session:
                    user = await create_user(session, email=email, password=password, name=name, org_role=org_role)
                    await session.commit()
                    return user.id

            self.live.call(make)
        else:
            r = self.client.post(
                "/user",
                json={"email": email, "password": password, "name": name, "orgRole": org_role},
                headers=self.admin_headers,
            )
            assert r.status_code == 201, r.text
        data = login(self.client, email, password)
        user = TestUser(
            id=data["user"]["id"],
            email=email,
            password=password,
            name=name,
            org_id=data["user"]["orgId"],
            org_role=data["user"]["orgRole"],
            token=data["token"],
            refresh_token=data["refreshToken"],
        )
        for ws_id, role in (workspaces or {}).items():
            r = self.client.post(
                f"/workspace/{ws_id}/users", json={"userId": user.id, "role": role}, headers=self.admin_headers
            )
            assert r.status_code == 200, r.text
        return user
