"""`/repo` end to end through HTTP: shape, fallback order, roles, tenancy, conflicts, epoch."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from store.models import RepoAiLlm, RepoApiKey
from tests.api.config_env import env  # noqa: F401

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


_n = 0


async def config(env, who=None, ws=None, ai_type="OPENAI") -> str:
    global _n
    _n += 1
    extra = {"key": "AKIAREPOTESTKEY00001", "region": "us-east-1"} if ai_type == "AWS" else {}
    r = await env.client.post(
        "/ai/llm",
        headers=(who or env.writer).h,
        json={
            "name": f"c{_n}",
            "aiType": ai_type,
            "endpoint": "https://llm.test/v1",
            "secret": env.secret(f"sk-repo-test-{_n:04d}-0123456789"),
            "workspaceId": ws or env.ws,
            **extra,
        },
    )
    assert r.status_code == 200, r.text
    return r.json()["aiLlmId"]


async def repo(env, name=None, configs=(), who=None, ws=None, expect=200):
    global _n
    _n += 1
    r = await env.client.post(
        "/repo",
        headers=(who or env.writer).h,
        json={"name": name or f"r{_n}", "workspaceId": ws or env.ws, "repoAiLlms": [{"aiLlmId": c} for c in configs]},
    )
    assert r.status_code == expect, r.text
    return r.json()["repoId"] if expect == 200 else r.json()


async def get_repo(env, repo_id, who=None) -> dict:
    r = await env.client.get("/repo", params={"repoId": repo_id}, headers=(who or env.reader).h)
    assert r.status_code == 200, r.text
    assert len(r.json()["repos"]) == 1
    return r.json()["repos"][0]


async def test_create_shape_and_fallback_order(env):
    a, b, c = await config(env), await config(env, ai_type="AWS"), await config(env)
    before = await env.epoch()
    rid = await repo(env, "prod", [b, a, c])
    assert await env.epoch() > before
    got = await get_repo(env, rid)
    assert set(got) == {"id", "name", "workspaceId", "endpointType", "aiLlms", "createdAt", "disabled"}
    assert got["name"] == "prod" and got["workspaceId"] == env.ws and got["endpointType"] == "OPENAI"
    assert got["disabled"] is False and ISO.match(got["createdAt"])
    assert [x["id"] for x in got["aiLlms"]] == [b, a, c]
    assert got["aiLlms"][0]["aiType"] == "AWS" and set(got["aiLlms"][0]) == {"id", "name", "aiType"}


async def test_create_conflicts_and_bad_input(env):
    await repo(env, "same")
    res = await repo(env, "same", expect=409)
    assert res == {"success": False, "message": "NAME_ALREADY_USED"}
    await repo(env, "same", who=env.owner, ws=env.ws2)  # other workspace: fine
    other_ws_cfg = await config(env, who=env.owner, ws=env.ws2)
    res = await repo(env, configs=[other_ws_cfg], expect=400)
    assert other_ws_cfg in res["message"]
    res = await repo(env, configs=["00000000-0000-0000-0000-000000000000"], expect=400)
    a = await config(env)
    res = await repo(env, configs=[a, a], expect=400)
    assert "more than once" in res["message"]
    for body in (
        {"workspaceId": env.ws},
        {"name": "x"},
        {"name": "x", "workspaceId": env.ws, "repoAiLlms": [{"x": 1}]},
        {"name": "x", "workspaceId": env.ws, "repoAiLlms": [{"aiLlmId": "nope"}]},
        {"name": "x", "workspaceId": env.ws, "repoAiLlms": "a"},
    ):
        r = await env.client.post("/repo", json=body, headers=env.writer.h)
        assert r.status_code == 400 and r.json()["success"] is False, (body, r.text)
    r = await env.client.post("/repo", content=b"[", headers={**env.writer.h, "content-type": "application/json"})
    assert r.status_code == 400


@pytest.mark.parametrize(
    "who,ws_attr,status",
    [
        ("reader", "ws", 403),
        ("outsider", "ws", 404),
        ("stranger", "ws", 404),
        ("writer", "ws2", 404),
        ("admin", "ws", 200),
        ("owner", "ws2", 200),
        ("orgadmin", "ws", 200),
    ],
)
async def test_create_roles(env, who, ws_attr, status):
    await repo(env, who=getattr(env, who), ws=getattr(env, ws_attr), expect=status)


async def test_list_scoping(env):
    mine = await repo(env)
    side = await repo(env, who=env.owner, ws=env.ws2)
    ids = lambda r: [x["id"] for x in r.json()["repos"]]  # noqa: E731
    r = await env.client.get("/repo", headers=env.reader.h)
    assert mine in ids(r) and side not in ids(r)
    r = await env.client.get("/repo", headers=env.owner.h)
    assert mine in ids(r) and side in ids(r)
    r = await env.client.get("/repo", params={"workspaceId": env.ws2}, headers=env.owner.h)
    assert side in ids(r) and mine not in ids(r)
    assert (await env.client.get("/repo", headers=env.outsider.h)).json() == {"success": True, "repos": []}
    assert (await env.client.get("/repo", headers=env.stranger.h)).json()["repos"] == []
    for who, params in (
        (env.outsider, {"workspaceId": env.ws}),
        (env.reader, {"repoId": side}),
        (env.stranger, {"repoId": mine}),
        (env.reader, {"repoId": "garbage"}),
    ):
        r = await env.client.get("/repo", params=params, headers=who.h)
        assert r.status_code == 404 and r.json()["success"] is False
    r = await env.client.get("/repo", params={"repoId": mine, "workspaceId": env.ws2}, headers=env.owner.h)
    assert r.json()["repos"] == []


async def test_update_name_order_disabled(env):
    a, b, c = await config(env), await config(env), await config(env)
    rid = await repo(env, "upd", [a, b])
    await repo(env, "taken")
    before = await env.epoch()
    r = await env.client.put(
        f"/repo/{rid}", json={"repoAiLlms": [{"aiLlmId": c}, {"aiLlmId": a}]}, headers=env.writer.h
    )
    assert r.status_code == 200 and r.json()["success"] is True and await env.epoch() > before
    assert [x["id"] for x in (await get_repo(env, rid))["aiLlms"]] == [c, a]
    r = await env.client.put(
        f"/repo/{rid}", json={"repoAiLlms": [{"aiLlmId": a}, {"aiLlmId": b}, {"aiLlmId": c}]}, headers=env.writer.h
    )
    assert [x["id"] for x in (await get_repo(env, rid))["aiLlms"]] == [a, b, c]
    r = await env.client.put(f"/repo/{rid}", json={"disabled": True, "name": "upd2"}, headers=env.writer.h)
    got = await get_repo(env, rid)
    assert got["disabled"] is True and got["name"] == "upd2" and len(got["aiLlms"]) == 3
    r = await env.client.put(f"/repo/{rid}", json={"name": "taken"}, headers=env.writer.h)
    assert r.status_code == 409 and r.json()["message"] == "NAME_ALREADY_USED"
    r = await env.client.put(f"/repo/{rid}", json={"disabled": "maybe"}, headers=env.writer.h)
    assert r.status_code == 400
    other = await config(env, who=env.owner, ws=env.ws2)
    r = await env.client.put(f"/repo/{rid}", json={"repoAiLlms": [{"aiLlmId": other}]}, headers=env.writer.h)
    assert r.status_code == 400
    assert [x["id"] for x in (await get_repo(env, rid))["aiLlms"]] == [a, b, c]  # failed update changed nothing
    assert (await env.client.put(f"/repo/{rid}", json={"name": "z"}, headers=env.reader.h)).status_code == 403
    assert (await env.client.put(f"/repo/{rid}", json={"name": "z"}, headers=env.outsider.h)).status_code == 404
    assert (await env.client.put("/repo/xyz", json={"name": "z"}, headers=env.writer.h)).status_code == 404


async def test_delete_removes_links_and_keys(env):
    a = await config(env)
    rid = await repo(env, "doomed", [a])
    r = await env.raw.post(f"/repo/{rid}/ai/apikey", json={"name": "k", "aiType": "OPENAI"}, headers=env.writer.h)
    env.secret(r.json()["secret"])
    assert (await env.client.delete(f"/repo/{rid}", headers=env.reader.h)).status_code == 403
    assert (await env.client.delete(f"/repo/{rid}", headers=env.outsider.h)).status_code == 404
    before = await env.epoch()
    r = await env.client.delete(f"/repo/{rid}", headers=env.writer.h)
    assert r.status_code == 200 and r.json()["success"] is True and await env.epoch() > before
    assert (await env.client.get("/repo", params={"repoId": rid}, headers=env.writer.h)).status_code == 404

    async def counts(s):
        return (
            await s.scalar(select(func.count()).select_from(RepoApiKey).where(RepoApiKey.repo_id == rid)),
            await s.scalar(select(func.count()).select_from(RepoAiLlm).where(RepoAiLlm.repo_id == rid)),
        )

    assert await env.db(counts) == (0, 0)
    assert (await env.client.delete(f"/repo/{rid}", headers=env.writer.h)).status_code == 404
    # the config is free again
    assert (await env.client.delete(f"/ai/llm/{a}", headers=env.writer.h)).status_code == 200


async def test_concurrent_creates_with_one_name_give_one_winner(env):
    import asyncio

    body = {"name": "raced-repo", "workspaceId": env.ws, "repoAiLlms": []}
    rs = await asyncio.gather(*(env.client.post("/repo", json=body, headers=env.writer.h) for _ in range(6)))
    codes = sorted(r.status_code for r in rs)
    assert codes == [200] + [409] * 5, codes
    assert all(r.json()["message"] == "NAME_ALREADY_USED" for r in rs if r.status_code == 409)
