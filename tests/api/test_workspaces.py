"""`/workspace` end to end over HTTP: CRUD, members, each role, outsiders, bad input."""

from __future__ import annotations

import uuid

import pytest

from store.epoch import current_epoch
from tests.support.api import unique


def _err(r, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False and body["message"]
    return body["message"]


def _epoch(live_app) -> int:
    async def read(rt):
        async with rt.sessionmaker() as s:
            return await current_epoch(s)

    return live_app.call(read)


def test_any_org_user_creates_a_workspace_and_becomes_admin(client, make_user) -> None:
    user = make_user(org_role="USER")
    name = unique("ws")
    r = client.post("/workspace", json={"name": name}, headers=user.headers)
    assert r.status_code == 201, r.text
    ws = r.json()["workspace"]
    assert set(ws) == {"id", "name", "orgId"} and ws["name"] == name and ws["orgId"] == user.org_id
    uuid.UUID(ws["id"])
    listed = client.get("/workspace", headers=user.headers).json()["workspaces"]
    assert listed == [{"id": ws["id"], "name": name, "orgId": user.org_id, "role": "ADMIN"}]
    got = client.get(f"/workspace/{ws['id']}", headers=user.headers).json()
    assert got == {"success": True, "workspace": {"id": ws["id"], "name": name, "orgId": user.org_id, "role": "ADMIN"}}


def test_name_unique_per_org_409_but_free_across_orgs(client, admin_headers, make_user) -> None:
    name = unique("dup")
    assert client.post("/workspace", json={"name": name}, headers=admin_headers).status_code == 201
    _err(client.post("/workspace", json={"name": name}, headers=admin_headers), 409)
    _err(client.post("/workspace", json={"name": f"  {name} "}, headers=admin_headers), 409)
    outsider = make_user(org_role="OWNER", new_org=True)
    assert client.post("/workspace", json={"name": name}, headers=outsider.headers).status_code == 201


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": 7}, {"name": "x" * 201}, ["a"]])
def test_create_bad_input_is_400(client, admin_headers, body) -> None:
    _err(client.post("/workspace", json=body, headers=admin_headers), 400)


def test_create_without_json_content_type_is_400_with_a_hint(client, admin_headers) -> None:
    msg = _err(
        client.post("/workspace", content=b'{"name":"x"}', headers={**admin_headers, "content-type": "text/plain"}), 400
    )
    assert "JSON object" in msg


def test_list_is_scoped_by_membership_and_org(client, admin_headers, make_user, make_workspace) -> None:
    ws_a = make_workspace()
    ws_b = make_workspace()
    reader = make_user(workspaces={ws_a["id"]: "READ"})
    listed = client.get("/workspace", headers=reader.headers).json()["workspaces"]
    assert [w["id"] for w in listed] == [ws_a["id"]] and listed[0]["role"] == "READ"
    # org-wide roles see every workspace of their org, as ADMIN
    for role in ("OWNER", "ADMINISTRATORS"):
        boss = make_user(org_role=role)
        ids = {w["id"]: w["role"] for w in client.get("/workspace", headers=boss.headers).json()["workspaces"]}
        assert ids[ws_a["id"]] == ids[ws_b["id"]] == "ADMIN"
    outsider = make_user(org_role="OWNER", new_org=True)
    seen = {w["id"] for w in client.get("/workspace", headers=outsider.headers).json()["workspaces"]}
    assert not seen & {ws_a["id"], ws_b["id"]}


def test_roles_read_write_admin_on_get_put_delete(client, make_user, make_workspace) -> None:
    ws = make_workspace()
    wid = ws["id"]
    reader = make_user(workspaces={wid: "READ"})
    writer = make_user(workspaces={wid: "WRITE"})
    admin = make_user(workspaces={wid: "ADMIN"})
    nonmember = make_user()
    outsider = make_user(org_role="OWNER", new_org=True)
    billing = make_user(org_role="BILLING")
    for who, role in ((reader, "READ"), (writer, "WRITE"), (admin, "ADMIN")):
        r = client.get(f"/workspace/{wid}", headers=who.headers)
        assert r.status_code == 200 and r.json()["workspace"]["role"] == role
    for who in (nonmember, outsider, billing):  # invisible: 404, never 403
        _err(client.get(f"/workspace/{wid}", headers=who.headers), 404)
        _err(client.put(f"/workspace/{wid}", json={"name": "x"}, headers=who.headers), 404)
        _err(client.delete(f"/workspace/{wid}", headers=who.headers), 404)
    for who in (reader, writer):  # visible, role too low: 403
        _err(client.put(f"/workspace/{wid}", json={"name": unique("r")}, headers=who.headers), 403)
        _err(client.delete(f"/workspace/{wid}", headers=who.headers), 403)
    new_name = unique("renamed")
    r = client.put(f"/workspace/{wid}", json={"name": new_name}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["workspace"]["name"] == new_name
    assert client.get(f"/workspace/{wid}", headers=reader.headers).json()["workspace"]["name"] == new_name
    r = client.delete(f"/workspace/{wid}", headers=admin.headers)
    assert r.status_code == 200 and r.json() == {"success": True, "message": "Workspace deleted"}
    _err(client.get(f"/workspace/{wid}", headers=admin.headers), 404)
    assert wid not in {w["id"] for w in client.get("/workspace", headers=reader.headers).json()["workspaces"]}


def test_rename_conflict_and_bad_input(client, admin_headers, make_workspace) -> None:
    a, b = make_workspace(), make_workspace()
    _err(client.put(f"/workspace/{a['id']}", json={"name": b["name"]}, headers=admin_headers), 409)
    r = client.put(f"/workspace/{a['id']}", json={"name": a["name"]}, headers=admin_headers)  # same name: fine
    assert r.status_code == 200
    _err(client.put(f"/workspace/{a['id']}", json={}, headers=admin_headers), 400)
    _err(
        client.put(
            f"/workspace/{a['id']}", content=b"{", headers={**admin_headers, "content-type": "application/json"}
        ),
        400,
    )


@pytest.mark.parametrize("wid", [str(uuid.uuid4()), "not-a-uuid", "0"])
def test_unknown_workspace_is_404(client, admin_headers, wid) -> None:
    _err(client.get(f"/workspace/{wid}", headers=admin_headers), 404)
    _err(client.put(f"/workspace/{wid}", json={"name": "n"}, headers=admin_headers), 404)
    _err(client.delete(f"/workspace/{wid}", headers=admin_headers), 404)
    _err(
        client.post(
            f"/workspace/{wid}/users", json={"userId": str(uuid.uuid4()), "role": "READ"}, headers=admin_headers
        ),
        404,
    )


def test_workspace_routes_need_auth(client, make_workspace) -> None:
    ws = make_workspace()
    _err(client.get("/workspace"), 401)
    _err(client.post("/workspace", json={"name": "x"}), 401)
    _err(client.get(f"/workspace/{ws['id']}"), 401)


def test_delete_and_rename_bump_the_config_epoch(client, admin_headers, make_workspace, live_app) -> None:
    ws = make_workspace()
    e0 = _epoch(live_app)
    client.put(f"/workspace/{ws['id']}", json={"name": unique("e")}, headers=admin_headers)
    e1 = _epoch(live_app)
    assert client.delete(f"/workspace/{ws['id']}", headers=admin_headers).status_code == 200
    e2 = _epoch(live_app)
    assert e0 < e1 < e2


def test_members_add_change_remove(client, make_user, make_workspace) -> None:
    ws = make_workspace()
    wid = ws["id"]
    admin = make_user(workspaces={wid: "ADMIN"})
    member = make_user()
    _err(client.get(f"/workspace/{wid}", headers=member.headers), 404)
    r = client.post(f"/workspace/{wid}/users", json={"userId": member.id, "role": "READ"}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["success"] is True and r.json()["message"]
    assert client.get(f"/workspace/{wid}", headers=member.headers).json()["workspace"]["role"] == "READ"
    _err(
        client.post(f"/workspace/{wid}/users", json={"userId": member.id, "role": "WRITE"}, headers=admin.headers), 409
    )
    r = client.put(f"/workspace/{wid}/users/{member.id}", json={"role": "WRITE"}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["success"] is True
    assert client.get(f"/workspace/{wid}", headers=member.headers).json()["workspace"]["role"] == "WRITE"
    r = client.delete(f"/workspace/{wid}/users/{member.id}", headers=admin.headers)
    assert r.status_code == 200 and r.json()["success"] is True
    _err(client.get(f"/workspace/{wid}", headers=member.headers), 404)
    _err(client.delete(f"/workspace/{wid}/users/{member.id}", headers=admin.headers), 404)
    _err(client.put(f"/workspace/{wid}/users/{member.id}", json={"role": "READ"}, headers=admin.headers), 404)


def test_member_management_needs_admin(client, make_user, make_workspace) -> None:
    ws = make_workspace()
    wid = ws["id"]
    reader = make_user(workspaces={wid: "READ"})
    writer = make_user(workspaces={wid: "WRITE"})
    target = make_user()
    outsider = make_user(org_role="OWNER", new_org=True)
    for who in (reader, writer):
        _err(
            client.post(f"/workspace/{wid}/users", json={"userId": target.id, "role": "READ"}, headers=who.headers), 403
        )
        _err(client.put(f"/workspace/{wid}/users/{reader.id}", json={"role": "ADMIN"}, headers=who.headers), 403)
        _err(client.delete(f"/workspace/{wid}/users/{reader.id}", headers=who.headers), 403)
    _err(
        client.post(f"/workspace/{wid}/users", json={"userId": target.id, "role": "READ"}, headers=outsider.headers),
        404,
    )


def test_member_bad_input(client, admin_headers, make_user, make_workspace) -> None:
    ws = make_workspace()
    wid = ws["id"]
    user = make_user()
    outsider = make_user(org_role="OWNER", new_org=True)
    _err(client.post(f"/workspace/{wid}/users", json={"userId": user.id, "role": "SUPER"}, headers=admin_headers), 400)
    _err(client.post(f"/workspace/{wid}/users", json={"role": "READ"}, headers=admin_headers), 400)
    _err(client.post(f"/workspace/{wid}/users", json={"userId": user.id}, headers=admin_headers), 400)
    _err(
        client.post(
            f"/workspace/{wid}/users", json={"userId": str(uuid.uuid4()), "role": "READ"}, headers=admin_headers
        ),
        404,
    )
    # a user of another org cannot be added (and its existence is not revealed)
    _err(
        client.post(f"/workspace/{wid}/users", json={"userId": outsider.id, "role": "READ"}, headers=admin_headers), 404
    )
    client.post(f"/workspace/{wid}/users", json={"userId": user.id, "role": "READ"}, headers=admin_headers)
    _err(client.put(f"/workspace/{wid}/users/{user.id}", json={"role": "root"}, headers=admin_headers), 400)
    _err(client.put(f"/workspace/{wid}/users/{user.id}", json={}, headers=admin_headers), 400)


def test_last_admin_cannot_be_removed_or_demoted(client, make_user) -> None:
    creator = make_user()
    wid = client.post("/workspace", json={"name": unique("solo")}, headers=creator.headers).json()["workspace"]["id"]
    _err(client.put(f"/workspace/{wid}/users/{creator.id}", json={"role": "READ"}, headers=creator.headers), 403)
    _err(client.delete(f"/workspace/{wid}/users/{creator.id}", headers=creator.headers), 403)
    second = make_user()
    client.post(f"/workspace/{wid}/users", json={"userId": second.id, "role": "ADMIN"}, headers=creator.headers)
    assert client.delete(f"/workspace/{wid}/users/{creator.id}", headers=second.headers).status_code == 200
    _err(client.get(f"/workspace/{wid}", headers=creator.headers), 404)


def test_org_admin_manages_any_workspace_of_its_org(client, make_user) -> None:
    creator = make_user()
    wid = client.post("/workspace", json={"name": unique("org")}, headers=creator.headers).json()["workspace"]["id"]
    boss = make_user(org_role="ADMINISTRATORS")
    other = make_user()
    r = client.post(f"/workspace/{wid}/users", json={"userId": other.id, "role": "WRITE"}, headers=boss.headers)
    assert r.status_code == 200
    assert client.delete(f"/workspace/{wid}", headers=boss.headers).status_code == 200


def test_delete_workspace_removes_everything_in_it(client, admin_headers, make_workspace, live_app) -> None:
    """Configs, repositories (with ordered config links), keys and policies go with it."""
    from sqlalchemy import func, select

    from store.apikeys import generate, hash_secret
    from store.models import AiLlm, Policy, Repo, RepoAiLlm, RepoApiKey

    ws = make_workspace()
    keep = make_workspace()

    async def seed(rt):
        async with rt.sessionmaker() as s:
            for target in (ws, keep):
                llm = AiLlm(
                    org_id=target["orgId"],
                    workspace_id=target["id"],
                    name="c",
                    ai_type="OPENAI",
                    endpoint="http://127.0.0.1:9/v1",
                )
                repo = Repo(org_id=target["orgId"], workspace_id=target["id"], name="r")
                s.add_all([llm, repo])
                await s.flush()
                s.add(RepoAiLlm(repo_id=repo.id, ai_llm_id=llm.id, position=0))
                prefix, secret = generate()
                s.add(RepoApiKey(repo_id=repo.id, name="k", key_prefix=prefix, secret_hash=hash_secret(secret)))
                s.add(Policy(org_id=target["orgId"], workspace_id=target["id"], name="p"))
                s.add(Policy(org_id=target["orgId"], workspace_id=target["id"], repo_id=repo.id, name="rp"))
            await s.commit()

    async def counts(rt, wid):
        async with rt.sessionmaker() as s:
            repo_ids = select(Repo.id).where(Repo.workspace_id == wid).scalar_subquery()
            return (
                await s.scalar(select(func.count()).select_from(AiLlm).where(AiLlm.workspace_id == wid)),
                await s.scalar(select(func.count()).select_from(Repo).where(Repo.workspace_id == wid)),
                await s.scalar(select(func.count()).select_from(RepoApiKey).where(RepoApiKey.repo_id.in_(repo_ids))),
                await s.scalar(select(func.count()).select_from(Policy).where(Policy.workspace_id == wid)),
                # keys whose repository is gone (the FK cascade must have removed them)
                await s.scalar(
                    select(func.count())
                    .select_from(RepoApiKey)
                    .where(RepoApiKey.repo_id.not_in(select(Repo.id).scalar_subquery()))
                ),
            )

    live_app.call(seed)
    assert live_app.call(lambda rt: counts(rt, ws["id"])) == (1, 1, 1, 2, 0)
    r = client.delete(f"/workspace/{ws['id']}", headers=admin_headers)
    assert r.status_code == 200, r.text
    assert live_app.call(lambda rt: counts(rt, ws["id"])) == (0, 0, 0, 0, 0)
    assert live_app.call(lambda rt: counts(rt, keep["id"])) == (1, 1, 1, 2, 0)
