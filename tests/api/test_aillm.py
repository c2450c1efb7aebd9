"""`/ai/llm*` end to end through HTTP: roles, tenancy, shapes, sealing, validation, epoch."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import select

from api.errors import install_error_handlers
from api.routers import aillm as aillm_router
from store.models import AiLlm
from store.sealing import unseal
from tests.api.config_env import SecretLeak, SilentServer, closed_port, env, provider  # noqa: F401

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DTO_KEYS = {
    "id",
    "orgId",
    "workspaceId",
    "userId",
    "name",
    "aiType",
    "endpoint",
    "key",
    "createdAt",
    "repos",
    "validationStatus",
    "lastValidatedAt",
    "lastValidationMessage",
    "region",
    "updatedAt",
    "prices",
}


_n = 0


async def create(env, who, *, ws=None, expect=200, **fields) -> str | dict:
    global _n
    _n += 1
    body = {
        "name": f"cfg-{_n}",
        "aiType": "OPENAI",
        "endpoint": "https://api.openai.com/v1",
        "secret": env.secret(f"sk-proj-secret{_n:04d}-ZZZZabcd{_n:04d}"),
        "workspaceId": ws or env.ws,
    }
    body.update(fields)
    if "secret" in fields and isinstance(fields["secret"], str):
        env.secret(fields["secret"])
    r = await env.client.post("/ai/llm", json=body, headers=who.h)
    assert r.status_code == expect, r.text
    if expect == 200:
        j = r.json()
        assert j["success"] is True and j["aiLlmId"]
        return j["aiLlmId"]
    assert r.json()["success"] is False and r.json()["message"]
    return r.json()


async def get_dto(env, who, cfg_id: str) -> dict:
    r = await env.client.get("/ai/llm", headers=who.h)
    assert r.status_code == 200
    found = [c for c in r.json()["aiLlms"] if c["id"] == cfg_id]
    assert len(found) == 1
    return found[0]


# ---- create ---------------------------------------------------------------------------------


async def test_create_and_dto_shape(env):
    before = await env.epoch()
    secret = env.secret("sk-proj-abcdefghijklmnop-a1b2")
    cid = await create(env, env.writer, name="Production OpenAI", secret=secret)
    assert await env.epoch() > before
    dto = await get_dto(env, env.reader, cid)
    assert set(dto) == DTO_KEYS
    assert dto["name"] == "Production OpenAI" and dto["aiType"] == "OPENAI"
    assert dto["endpoint"] == "https://api.openai.com/v1"
    assert dto["workspaceId"] == env.ws and dto["orgId"] == env.org_id and dto["userId"] == env.writer.user_id
    assert dto["key"] == "sk-proj-…a1b2"
    assert dto["validationStatus"] == "UNVALIDATED" and dto["lastValidatedAt"] is None
    assert ISO.match(dto["createdAt"]) and ISO.match(dto["updatedAt"])
    assert dto["repos"] == [] and dto["region"] is None


async def test_secret_is_sealed_at_rest(env):
    secret = env.secret("sk-sealed-check-0123456789-wxyz")
    cid = await create(env, env.writer, secret=secret, key=env.secret("org-key-0123456789-qrst"))

    async def load(s):
        return (await s.scalars(select(AiLlm).where(AiLlm.id == cid))).one()

    row = await env.db(load)
    assert secret.encode() not in row.secret_sealed and b"org-key" not in row.key_sealed
    assert unseal(env.settings.secret_key_bytes, row.secret_sealed, aad=cid) == secret
    assert unseal(env.settings.secret_key_bytes, row.key_sealed, aad=cid) == "org-key-0123456789-qrst"


async def test_short_secret_is_not_hinted_and_endpoint_normalized(env):
    cid = await create(env, env.writer, secret=env.secret("short-key"), endpoint="http://127.0.0.1:9/v1///")
    dto = await get_dto(env, env.writer, cid)
    assert dto["key"] is None and dto["endpoint"] == "http://127.0.0.1:9/v1"


async def test_aws_config_defaults_endpoint_and_masks_access_key(env):
    cid = await create(
        env,
        env.writer,
        aiType="AWS",
        endpoint="",
        key="AKIAEXAMPLEKEY123456",
        secret=env.secret("aws/secretkey-0123456789abcdef"),
        region="eu-west-1",
    )
    dto = await get_dto(env, env.writer, cid)
    assert dto["endpoint"] == "https://bedrock.eu-west-1.amazonaws.com" and dto["region"] == "eu-west-1"
    assert dto["key"] == "AKIA…3456"


@pytest.mark.parametrize(
    "who,ws_attr,status",
    [
        ("reader", "ws", 403),
        ("outsider", "ws", 404),
        ("stranger", "ws", 404),
        ("admin", "ws", 200),
        ("owner", "ws2", 200),
        ("orgadmin", "ws2", 200),
        ("writer", "ws2", 404),
    ],
)
async def test_create_roles(env, who, ws_attr, status):
    await create(env, getattr(env, who), ws=getattr(env, ws_attr), expect=status)


async def test_create_name_conflict_per_workspace(env):
    await create(env, env.writer, name="dup")
    res = await create(env, env.writer, name="dup", expect=409)
    assert "NAME_ALREADY_USED" in res["message"]
    await create(env, env.owner, name="dup", ws=env.ws2)  # same name, other workspace: fine


@pytest.mark.parametrize(
    "patch,status,needle",
    [
        ({"secret": None}, 400, "secret"),
        ({"aiType": "AZURE"}, 400, "aiType"),
        ({"endpoint": "ftp://x.test"}, 400, "http(s)"),
        ({"endpoint": "not a url"}, 400, "http(s)"),
        ({"endpoint": "https://user:pw@x.test/v1"}, 400, "credentials"),
        ({"endpoint": "https://x.test/v1?key=1"}, 400, "query"),
        ({"endpoint": ""}, 400, "endpoint"),
        ({"aiType": "AWS", "key": "AKIAXXXXXXXXXXXXXXXX"}, 400, "region"),
        ({"aiType": "AWS", "region": "us-east-1"}, 400, "access key id"),
        ({"workspaceId": "nope"}, 400, "workspaceId"),
        ({"workspaceId": "00000000-0000-0000-0000-000000000000"}, 404, "not found"),
        ({"name": "   "}, 400, "name"),
    ],
)
async def test_create_bad_input(env, patch, status, needle):
    body = {
        "name": "bad",
        "aiType": "OPENAI",
        "endpoint": "https://api.openai.com/v1",
        "secret": "sk-bad-input-0123456789",
        "workspaceId": env.ws,
    }
    for k, v in patch.items():
        if v is None:
            body.pop(k)
        else:
            body[k] = v
    r = await env.client.post("/ai/llm", json=body, headers=env.writer.h)
    assert r.status_code == status, r.text
    assert r.json()["success"] is False and needle in r.json()["message"]


async def test_malformed_and_unauthenticated(env):
    r = await env.client.post(
        "/ai/llm", content=b"{not json", headers={**env.writer.h, "content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["success"] is False
    r = await env.client.post("/ai/llm", json=["a"], headers=env.writer.h)
    assert r.status_code == 400
    r = await env.client.get("/ai/llm")
    assert r.status_code == 401 and r.json()["success"] is False
    r = await env.client.get("/ai/llm", headers={"Authorization": "Bearer garbage"})
    assert r.status_code == 401


# ---- list / available -------------------------------------------------------------------------


async def test_list_scoping(env):
    mine = await create(env, env.writer)
    side = await create(env, env.owner, ws=env.ws2)
    ids = lambda r: {c["id"] for c in r.json()["aiLlms"]}  # noqa: E731
    r = await env.client.get("/ai/llm", headers=env.reader.h)
    assert r.status_code == 200 and mine in ids(r) and side not in ids(r)
    r = await env.client.get("/ai/llm", headers=env.owner.h)
    assert {mine, side} <= ids(r)
    r = await env.client.get("/ai/llm", params={"workspaceId": env.ws2}, headers=env.owner.h)
    assert side in ids(r) and mine not in ids(r)
    r = await env.client.get("/ai/llm", headers=env.outsider.h)
    assert r.status_code == 200 and r.json()["aiLlms"] == []
    r = await env.client.get("/ai/llm", headers=env.stranger.h)
    assert r.json()["aiLlms"] == []
    for who, ws in ((env.outsider, env.ws), (env.reader, env.ws2), (env.stranger, env.ws), (env.reader, "x")):
        r = await env.client.get("/ai/llm", params={"workspaceId": ws}, headers=who.h)
        assert r.status_code == 404 and r.json()["success"] is False
    r = await env.client.get("/ai/llm", headers=env.reader.h)
    created = [c["createdAt"] for c in r.json()["aiLlms"]]
    assert created == sorted(created, reverse=True)


async def test_available_lists_valid_only_newest_first(env, provider):
    good1 = await create(env, env.writer, endpoint=f"{provider.url}/v1", secret=provider.creds.openai_key)
    good2 = await create(
        env, env.writer, aiType="ANTHROPIC", endpoint=provider.url, secret=provider.creds.anthropic_key
    )
    bad = await create(env, env.writer, endpoint=f"{provider.url}/v1", secret=env.secret("sk-wrong-0123456789abc"))
    never = await create(env, env.writer)
    for cid in (good1, good2, bad):
        r = await env.client.post(f"/ai/llm/{cid}/validate", headers=env.writer.h)
        assert r.status_code == 200
    r = await env.client.get("/ai/llm/available", headers=env.reader.h)
    assert r.status_code == 200 and r.json()["success"] is True
    got = [c["id"] for c in r.json()["aiLlms"]]
    assert good1 in got and good2 in got and bad not in got and never not in got
    assert got.index(good2) < got.index(good1)  # newest first
    assert all(c["validationStatus"] == "VALID" for c in r.json()["aiLlms"])
    r = await env.client.get("/ai/llm/available", headers=env.outsider.h)
    assert r.json()["aiLlms"] == []


# ---- update -----------------------------------------------------------------------------------


async def test_update_partial_and_validation_reset(env, provider):
    cid = await create(env, env.writer, endpoint=f"{provider.url}/v1", secret=provider.creds.openai_key)
    r = await env.client.post(f"/ai/llm/{cid}/validate", headers=env.writer.h)
    assert r.json()["success"] is True
    r = await env.client.put(f"/ai/llm/{cid}", json={"name": "renamed"}, headers=env.writer.h)
    assert r.status_code == 200 and r.json() == {"success": True, "aiLlmId": cid, "message": r.json()["message"]}
    dto = await get_dto(env, env.writer, cid)
    assert dto["name"] == "renamed" and dto["validationStatus"] == "VALID"  # name change keeps it
    before = await env.epoch()
    new_secret = env.secret("sk-rotated-secret-0123456789-9z9z")
    r = await env.client.put(f"/ai/llm/{cid}", json={"secret": new_secret}, headers=env.writer.h)
    assert r.status_code == 200 and await env.epoch() > before
    dto = await get_dto(env, env.writer, cid)
    assert dto["validationStatus"] == "UNVALIDATED" and dto["key"] == "sk-…9z9z"
    assert dto["endpoint"] == f"{provider.url}/v1"  # untouched fields stay
    # endpoint change resets too
    await env.client.put(f"/ai/llm/{cid}", json={"secret": provider.creds.openai_key}, headers=env.writer.h)
    assert (await env.client.post(f"/ai/llm/{cid}/validate", headers=env.writer.h)).json()["success"] is True
    r = await env.client.put(
        f"/ai/llm/{cid}",
        json={"endpoint": "https://elsewhere.test/v1/", "secret": provider.creds.openai_key},
        headers=env.writer.h,
    )
    assert r.status_code == 200
    dto = await get_dto(env, env.writer, cid)
    assert dto["validationStatus"] == "UNVALIDATED" and dto["endpoint"] == "https://elsewhere.test/v1"
    assert dto["updatedAt"] >= dto["createdAt"]


async def test_update_rules(env):
    cid = await create(env, env.writer, name="upd-a")
    await create(env, env.writer, name="upd-b")
    r = await env.client.put(f"/ai/llm/{cid}", json={"name": "upd-b"}, headers=env.writer.h)
    assert r.status_code == 409 and r.json()["message"] == "NAME_ALREADY_USED"
    r = await env.client.put(f"/ai/llm/{cid}", json={"endpoint": "gopher://x"}, headers=env.writer.h)
    assert r.status_code == 400
    r = await env.client.put(f"/ai/llm/{cid}", json={"aiType": "AWS"}, headers=env.writer.h)
    assert r.status_code == 400 and "region" in r.json()["message"]
    r = await env.client.put(
        f"/ai/llm/{cid}",
        json={
            "aiType": "AWS",
            "region": "us-west-2",
            "key": "AKIAUPDATEDKEY000001",
            "endpoint": "",
            "secret": env.secret("awsUpdatedSecretKey/0123456789"),
        },
        headers=env.writer.h,
    )
    assert r.status_code == 200, r.text
    dto = await get_dto(env, env.writer, cid)
    assert dto["aiType"] == "AWS" and dto["endpoint"] == "https://bedrock.us-west-2.amazonaws.com"
    assert dto["key"] == "AKIA…0001"
    r = await env.client.put(f"/ai/llm/{cid}", json={"region": "eu-central-1"}, headers=env.writer.h)
    assert (await get_dto(env, env.writer, cid))["endpoint"] == "https://bedrock.eu-central-1.amazonaws.com"
    assert (await env.client.put(f"/ai/llm/{cid}", json={"name": "x"}, headers=env.reader.h)).status_code == 403
    assert (await env.client.put(f"/ai/llm/{cid}", json={"name": "x"}, headers=env.outsider.h)).status_code == 404
    assert (await env.client.put(f"/ai/llm/{cid}", json={"name": "x"}, headers=env.stranger.h)).status_code == 404
    assert (await env.client.put("/ai/llm/not-a-uuid", json={"name": "x"}, headers=env.writer.h)).status_code == 404
    r = await env.client.put(f"/ai/llm/{cid}", json={"aiType": 7}, headers=env.writer.h)
    assert r.status_code == 400


async def test_moving_a_configuration_needs_its_secret(env, provider):
    """A new endpoint host (or aiType) without the secret would hand the sealed secret to the
    new host on the next validate or model-list refresh: 400, and nothing changes."""
    secret = env.secret("sk-proj-moving-secret-0123456789-m0v3")
    cid = await create(env, env.writer, endpoint=f"{provider.url}/v1", secret=secret)
    before = await get_dto(env, env.writer, cid)
    for patch, needle in (
        ({"endpoint": "https://attacker.test/v1"}, "endpoint host"),
        ({"endpoint": f"{provider.url.replace('127.0.0.1', '127.0.0.2')}/v1"}, "endpoint host"),
        ({"endpoint": "http://127.0.0.1:1/v1"}, "endpoint host"),
        ({"aiType": "OTHER"}, "aiType"),
    ):
        r = await env.client.put(f"/ai/llm/{cid}", json=patch, headers=env.writer.h)
        assert r.status_code == 400 and needle in r.json()["message"] and "secret" in r.json()["message"], patch
    assert await get_dto(env, env.writer, cid) == before
    # same host, another path: allowed without the secret; with the secret, a move is allowed
    r = await env.client.put(f"/ai/llm/{cid}", json={"endpoint": f"{provider.url}/v1/"}, headers=env.writer.h)
    assert r.status_code == 200, r.text
    r = await env.client.put(
        f"/ai/llm/{cid}", json={"endpoint": "https://elsewhere.test/v1", "secret": secret}, headers=env.writer.h
    )
    assert r.status_code == 200 and (await get_dto(env, env.writer, cid))["endpoint"] == "https://elsewhere.test/v1"


# ---- delete -----------------------------------------------------------------------------------


async def test_delete_in_use_then_free(env):
    cid = await create(env, env.writer)
    r = await env.client.post(
        "/repo", json={"name": "uses-it", "workspaceId": env.ws, "repoAiLlms": [{"aiLlmId": cid}]}, headers=env.writer.h
    )
    repo_id = r.json()["repoId"]
    dto = await get_dto(env, env.writer, cid)
    assert [x["name"] for x in dto["repos"]] == ["uses-it"] and ISO.match(dto["repos"][0]["createdAt"])
    r = await env.client.delete(f"/ai/llm/{cid}", headers=env.writer.h)
    assert r.status_code == 403 and "uses-it" in r.json()["message"]
    assert (await env.client.delete(f"/ai/llm/{cid}", headers=env.reader.h)).status_code == 403
    assert (await env.client.delete(f"/ai/llm/{cid}", headers=env.outsider.h)).status_code == 404
    await env.client.put(f"/repo/{repo_id}", json={"repoAiLlms": []}, headers=env.writer.h)
    before = await env.epoch()
    r = await env.client.delete(f"/ai/llm/{cid}", headers=env.writer.h)
    assert r.status_code == 200 and r.json()["success"] is True and await env.epoch() > before
    assert (await env.client.delete(f"/ai/llm/{cid}", headers=env.writer.h)).status_code == 404
    r = await env.client.get("/ai/llm", headers=env.writer.h)
    assert cid not in {c["id"] for c in r.json()["aiLlms"]}


# ---- validate ---------------------------------------------------------------------------------


async def test_validate_families_persist_status(env, provider):
    cases = [
        dict(aiType="OPENAI", endpoint=f"{provider.url}/v1", secret=provider.creds.openai_key),
        dict(aiType="OTHER", endpoint=f"{provider.url}/v1", secret=provider.creds.openai_key),
        dict(aiType="ANTHROPIC", endpoint=provider.url, secret=provider.creds.anthropic_key),
        dict(aiType="GOOGLE", endpoint=provider.url, secret=provider.creds.google_key),
        dict(
            aiType="AWS",
            endpoint=provider.url,
            secret=provider.creds.aws_secret_key,
            key=provider.creds.aws_access_key_id,
            region="us-east-1",
        ),
    ]
    for case in cases:
        env.secret(case["secret"])
        good = await create(env, env.writer, **case)
        before = await env.epoch()
        r = await env.client.post(f"/ai/llm/{good}/validate", headers=env.writer.h)
        assert r.status_code == 200 and r.json()["success"] is True, (case["aiType"], r.text)
        assert await env.epoch() > before
        dto = await get_dto(env, env.reader, good)
        assert dto["validationStatus"] == "VALID" and ISO.match(dto["lastValidatedAt"])
        assert dto["lastValidationMessage"] == r.json()["message"]

        wrong = env.secret(f"wrong-{case['aiType'].lower()}-secret-0123456789")
        bad = await create(env, env.writer, **{**case, "secret": wrong})
        r = await env.client.post(f"/ai/llm/{bad}/validate", headers=env.writer.h)
        assert r.status_code == 200 and r.json()["success"] is False, case["aiType"]
        assert wrong not in r.json()["message"]
        dto = await get_dto(env, env.reader, bad)
        assert dto["validationStatus"] == "INVALID" and dto["lastValidationMessage"] == r.json()["message"]


async def test_validate_unreachable(env):
    cid = await create(env, env.writer, endpoint=f"http://127.0.0.1:{closed_port()}/v1")
    r = await env.client.post(f"/ai/llm/{cid}/validate", headers=env.writer.h)
    assert r.status_code == 200 and r.json()["success"] is False and "not reachable" in r.json()["message"]
    assert (await get_dto(env, env.writer, cid))["validationStatus"] == "INVALID"


async def test_validate_timeout_uses_the_setting(env):
    """The provider never answers; the call gives up after `validate_timeout_s` (set to 1.5 s
    on the running server for this test; the handler reads it per call)."""
    settings = env.live.settings
    saved = settings.validate_timeout_s
    async with SilentServer() as silent:
        cid = await create(env, env.writer, aiType="GOOGLE", endpoint=f"http://127.0.0.1:{silent.port}")
        settings.validate_timeout_s = 1.5
        try:
            t0 = time.monotonic()
            r = await env.client.post(f"/ai/llm/{cid}/validate", headers=env.writer.h)
            took = time.monotonic() - t0
        finally:
            settings.validate_timeout_s = saved
    assert r.status_code == 200 and r.json()["success"] is False
    assert "no answer within 1.5 s" in r.json()["message"] and took < 6
    assert (await get_dto(env, env.writer, cid))["validationStatus"] == "INVALID"


async def test_validate_roles(env):
    cid = await create(env, env.writer, endpoint=f"http://127.0.0.1:{closed_port()}/v1")
    assert (await env.client.post(f"/ai/llm/{cid}/validate", headers=env.reader.h)).status_code == 403
    assert (await env.client.post(f"/ai/llm/{cid}/validate", headers=env.outsider.h)).status_code == 404
    assert (await env.client.post(f"/ai/llm/{cid}/validate", headers=env.stranger.h)).status_code == 404
    assert (
        await env.client.post("/ai/llm/00000000-0000-0000-0000-000000000000/validate", headers=env.writer.h)
    ).status_code == 404
    for who in (env.owner, env.orgadmin, env.admin):
        r = await env.client.post(f"/ai/llm/{cid}/validate", headers=who.h)
        assert r.status_code == 200 and r.json()["success"] is False


# ---- routing ----------------------------------------------------------------------------------


async def test_static_paths_not_swallowed(env):
    """`GET /ai/llm/stats` (another router, included after ours) still reaches its handler."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(aillm_router.router)
    stats = APIRouter()

    @stats.get("/ai/llm/stats")
    async def _stats() -> dict:
        return {"success": True, "stats": []}

    app.include_router(stats)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/ai/llm/stats")
        assert r.status_code == 200 and r.json() == {"success": True, "stats": []}
    r = await env.client.get("/ai/llm/available", headers=env.reader.h)  # the real app
    assert r.status_code == 200 and "aiLlms" in r.json()
    r = await env.client.get("/ai/llm/stats", headers=env.reader.h)
    assert r.status_code not in (404, 405), r.text  # the stats handler answers, not the {id} routes


async def test_leak_scanner_itself_catches_a_leak(env):
    """Guard for the guard: a registered value appearing in an answer fails the request."""
    marker = "canary-name-0123456789"
    await create(env, env.writer, name=marker)
    env.canaries.add(marker)
    try:
        with pytest.raises(SecretLeak):
            await env.client.get("/ai/llm", headers=env.writer.h)
    finally:
        env.canaries.discard(marker)


async def test_concurrent_creates_with_one_name_give_one_winner(env):
    """The uniqueness check races with itself; the constraint turns the loser into 409, not 500."""
    import asyncio

    body = {
        "name": "raced",
        "aiType": "OPENAI",
        "endpoint": "https://api.openai.com/v1",
        "secret": env.secret("sk-raced-secret-0123456789abcd"),
        "workspaceId": env.ws,
    }
    rs = await asyncio.gather(*(env.client.post("/ai/llm", json=body, headers=env.writer.h) for _ in range(6)))
    codes = sorted(r.status_code for r in rs)
    assert codes == [200] + [409] * 5, codes


# ---- price overrides ------------------------------------------------------------------------


async def test_price_overrides_on_create_and_update(env):
    prices = {"llama-*": {"input": "0.05", "output": "0.10"}}
    cid = await create(env, env.writer, prices=prices)
    dto = await get_dto(env, env.writer, cid)
    assert dto["prices"] == {
        "llama-*": {"input": "0.05", "output": "0.10", "cachedInput": None, "cacheWrite": None, "reasoning": None}
    }
    r = await env.client.put(
        f"/ai/llm/{cid}",
        headers=env.writer.h,
        json={"prices": {"gpt-4o-*": {"input": "0.15", "cachedInput": "0.075", "cacheWrite": None, "output": "0.60"}}},
    )
    assert r.status_code == 200, r.text
    assert (await get_dto(env, env.writer, cid))["prices"]["gpt-4o-*"]["cachedInput"] == "0.075"
    r = await env.client.put(f"/ai/llm/{cid}", headers=env.writer.h, json={"name": "renamed-only"})
    assert (await get_dto(env, env.writer, cid))["prices"] != {}  # untouched when not given
    r = await env.client.put(f"/ai/llm/{cid}", headers=env.writer.h, json={"prices": None})
    assert r.status_code == 200 and (await get_dto(env, env.writer, cid))["prices"] == {}


@pytest.mark.parametrize(
    "prices,field",
    [
        ({"gpt-*": {"input": "abc", "output": "1"}}, "input"),
        ({"gpt-*": {"output": "1"}}, "input is required"),
        ({"gpt-*": {"input": "1", "output": "-1"}}, "output"),
        ({"gpt-*": {"input": "1", "output": "1", "bogus": "1"}}, "bogus"),
        ({"gpt-*": {"input": 1, "output": "1"}}, "decimal string"),
    ],
)
async def test_price_overrides_refused_naming_the_field(env, prices, field):
    j = await create(env, env.writer, prices=prices, expect=400)
    assert field in j["message"]
