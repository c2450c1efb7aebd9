"""`/repo/{repoId}/ai/apikey*` end to end: secret shown once, hashed at rest, soft delete, roles."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from store.apikeys import hash_secret
from store.models import RepoApiKey
from tests.api.config_env import env  # noqa: F401

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


_n = 0


async def repo(env, who=None, ws=None) -> str:
    global _n
    _n += 1
    r = await env.client.post(
        "/repo", json={"name": f"kr{_n}", "workspaceId": ws or env.ws, "repoAiLlms": []}, headers=(who or env.writer).h
    )
    assert r.status_code == 200, r.text
    return r.json()["repoId"]


async def new_key(env, repo_id, name="k", who=None, ai_type="OPENAI") -> dict:
    r = await env.raw.post(
        f"/repo/{repo_id}/ai/apikey", json={"name": name, "aiType": ai_type}, headers=(who or env.writer).h
    )
    assert r.status_code == 201, r.text
    j = r.json()
    env.secret(j["secret"])  # from here on it must never show up again
    return j


async def keys(env, repo_id, who=None) -> list[dict]:
    r = await env.client.get(f"/repo/{repo_id}/ai/apikey", headers=(who or env.reader).h)
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True
    return r.json()["apiKeys"]


async def test_create_shows_secret_once_and_stores_hash(env):
    rid = await repo(env)
    before = await env.epoch()
    r = await env.raw.post(f"/repo/{rid}/ai/apikey", json={"name": "ci", "aiType": "OPENAI"}, headers=env.writer.h)
    assert r.status_code == 201
    j = r.json()
    secret = j["secret"]
    assert set(j) == {"success", "id", "key", "secret"} and j["success"] is True
    assert secret.startswith(j["key"]) and len(secret) > len(j["key"]) + 20
    env.secret(secret)
    assert await env.epoch() > before

    async def load(s):
        return (await s.scalars(select(RepoApiKey).where(RepoApiKey.id == j["id"]))).one()

    row = await env.db(load)
    assert row.secret_hash == hash_secret(secret) and secret not in row.secret_hash
    listed = await keys(env, rid)  # the response hook fails if the secret shows up here
    assert listed == [
        {
            "id": j["id"],
            "name": "ci",
            "repoId": rid,
            "key": j["key"],
            "aiType": "OPENAI",
            "createdAt": listed[0]["createdAt"],
            "lastUsedAt": None,
        }
    ]
    assert ISO.match(listed[0]["createdAt"])


async def test_list_newest_first_and_soft_delete(env):
    rid = await repo(env)
    k1 = await new_key(env, rid, "one")
    k2 = await new_key(env, rid, "two", ai_type="ANTHROPIC")
    k3 = await new_key(env, rid, "three")
    assert [k["id"] for k in await keys(env, rid)] == [k3["id"], k2["id"], k1["id"]]
    before = await env.epoch()
    r = await env.client.delete(f"/repo/{rid}/ai/apikey/{k2['id']}", headers=env.writer.h)
    assert r.status_code == 200 and r.json()["success"] is True and await env.epoch() > before
    assert [k["id"] for k in await keys(env, rid)] == [k3["id"], k1["id"]]

    async def load(s):
        return await s.get(RepoApiKey, k2["id"])

    row = await env.db(load)
    assert row is not None and row.deleted_at is not None  # soft: the row stays
    assert (await env.client.delete(f"/repo/{rid}/ai/apikey/{k2['id']}", headers=env.writer.h)).status_code == 404
    r = await env.client.put(f"/repo/{rid}/ai/apikey/{k2['id']}", json={"name": "zombie"}, headers=env.writer.h)
    assert r.status_code == 404


async def test_rename(env):
    rid = await repo(env)
    k = await new_key(env, rid, "old")
    before = await env.epoch()
    r = await env.client.put(f"/repo/{rid}/ai/apikey/{k['id']}", json={"name": "new"}, headers=env.writer.h)
    assert r.status_code == 200 and r.json()["success"] is True and await env.epoch() > before
    assert (await keys(env, rid))[0]["name"] == "new"
    for body in ({}, {"name": ""}, {"name": 5}):
        r = await env.client.put(f"/repo/{rid}/ai/apikey/{k['id']}", json=body, headers=env.writer.h)
        assert r.status_code == 400 and r.json()["success"] is False


async def test_keys_are_bound_to_their_repo(env):
    r1, r2 = await repo(env), await repo(env)
    k = await new_key(env, r1)
    assert (
        await env.client.put(f"/repo/{r2}/ai/apikey/{k['id']}", json={"name": "x"}, headers=env.writer.h)
    ).status_code == 404
    assert (await env.client.delete(f"/repo/{r2}/ai/apikey/{k['id']}", headers=env.writer.h)).status_code == 404
    assert await keys(env, r2) == []
    assert (await env.client.delete(f"/repo/{r1}/ai/apikey/not-a-uuid", headers=env.writer.h)).status_code == 404


@pytest.mark.parametrize(
    "who,status",
    [
        ("reader", 403),
        ("outsider", 404),
        ("stranger", 404),
        ("writer", 201),
        ("admin", 201),
        ("owner", 201),
        ("orgadmin", 201),
    ],
)
async def test_create_roles(env, who, status):
    rid = await repo(env)
    r = await env.raw.post(
        f"/repo/{rid}/ai/apikey", json={"name": "r", "aiType": "OPENAI"}, headers=getattr(env, who).h
    )
    assert r.status_code == status, r.text
    if status == 201:
        env.secret(r.json()["secret"])
    else:
        assert r.json()["success"] is False


async def test_read_roles_and_write_roles_on_existing_key(env):
    rid = await repo(env)
    k = await new_key(env, rid)
    assert len(await keys(env, rid, env.reader)) == 1
    for who in (env.outsider, env.stranger):
        assert (await env.client.get(f"/repo/{rid}/ai/apikey", headers=who.h)).status_code == 404
        assert (await env.client.delete(f"/repo/{rid}/ai/apikey/{k['id']}", headers=who.h)).status_code == 404
    assert (await env.client.delete(f"/repo/{rid}/ai/apikey/{k['id']}", headers=env.reader.h)).status_code == 403
    r = await env.client.put(f"/repo/{rid}/ai/apikey/{k['id']}", json={"name": "x"}, headers=env.reader.h)
    assert r.status_code == 403
    side = await repo(env, who=env.owner, ws=env.ws2)
    assert (await env.client.get(f"/repo/{side}/ai/apikey", headers=env.writer.h)).status_code == 404


async def test_bad_input(env):
    rid = await repo(env)
    for body in (
        {"name": "x"},
        {"aiType": "OPENAI"},
        {"name": "x", "aiType": "NOPE"},
        {"name": "", "aiType": "OPENAI"},
    ):
        r = await env.client.post(f"/repo/{rid}/ai/apikey", json=body, headers=env.writer.h)
        assert r.status_code == 400 and r.json()["success"] is False, body
    r = await env.client.post(
        "/repo/00000000-0000-0000-0000-000000000000/ai/apikey",
        json={"name": "x", "aiType": "OPENAI"},
        headers=env.writer.h,
    )
    assert r.status_code == 404
    r = await env.client.post(
        f"/repo/{rid}/ai/apikey", content=b"{", headers={**env.writer.h, "content-type": "application/json"}
    )
    assert r.status_code == 400
