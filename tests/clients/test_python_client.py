"""`tollgate_client` (clients/python), sync and async, against a live `tollgate up`: every
operation, with gateway traffic in between so violations, alerts and statistics have rows."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest

from tests.clients.conftest import LiveUp
from tests.support.secrets import register_secret
from tollgate_client import AsyncTollgateClient, TollgateClient, TollgateError

V = TypeVar("V")
MISSING = "00000000-0000-4000-8000-000000000000"


def until(what: str, fn: Callable[[], V], ok: Callable[[V], bool], seconds: float = 30.0) -> V:
    deadline = time.monotonic() + seconds
    last = fn()
    while not ok(last):
        assert time.monotonic() < deadline, f"{what} not reached in {seconds} s; last: {last!r}"
        time.sleep(0.15)
        last = fn()
    return last


def error_of(fn: Callable[[], Any]) -> TollgateError:
    with pytest.raises(TollgateError) as info:
        fn()
    err = info.value
    assert err.body["success"] is False and err.message
    return err


def api_token(up: LiveUp, name: str) -> tuple[TollgateClient, str, str]:
    anon = TollgateClient(up.url)
    login = anon.user_login(up.admin_email, up.admin_password)
    anon.set_auth_token(anon.user_refresh(login["refreshToken"])["accessToken"])
    with pytest.raises(TollgateError):  # single use
        anon.user_refresh(login["refreshToken"])
    second = anon.user_login(up.admin_email, up.admin_password)
    assert anon.user_logout(second["refreshToken"])["success"] is True
    created = anon.create_api_token(name)
    register_secret(created["token"])
    return anon, created["id"], created["token"]


def test_sync_client_round_trips_every_operation(tollgate_up: LiveUp) -> None:
    s = uuid.uuid4().hex[:8]
    anon = TollgateClient(tollgate_up.url + "/")
    assert anon.health()["status"] == "ok"
    assert error_of(anon.get_workspaces).status == 401
    assert error_of(lambda: anon.user_login(tollgate_up.admin_email, "wrong-password")).status == 401
    admin, token_id, token = api_token(tollgate_up, f"py-{s}")
    with TollgateClient(tollgate_up.url, api_key=token) as tg:
        assert any(t["id"] == token_id for t in tg.get_api_tokens()["tokens"])
        assert token not in str(tg.get_api_tokens())
        org_id = tg.get_me()["user"]["orgId"]

        ws = tg.create_workspace({"name": f"py-{s}"})["workspace"]
        assert tg.update_workspace(ws["id"], {"name": f"py2-{s}"})["workspace"]["name"] == f"py2-{s}"
        assert tg.get_workspace(ws["id"])["workspace"]["name"] == f"py2-{s}"
        assert any(w["id"] == ws["id"] for w in tg.get_workspaces()["workspaces"])
        assert error_of(lambda: tg.create_workspace({"name": f"py2-{s}"})).status == 409
        assert error_of(lambda: tg.get_workspace(MISSING)).status == 404
        member = tg.create_user({"email": f"py-{s}@example.test", "password": f"pw-{s}-long-enough", "name": "M"})
        uid = member["user"]["id"]
        assert tg.add_user_to_workspace(ws["id"], {"userId": uid, "role": "READ"})["success"]
        assert tg.update_workspace_user_role(ws["id"], uid, {"role": "WRITE"})["success"]
        assert tg.remove_user_from_workspace(ws["id"], uid)["success"]
        assert tg.update_user(uid, {"name": "Renamed"})["success"]
        assert error_of(lambda: tg.update_user(MISSING, {"name": "X"})).status == 404

        fake = tollgate_up.fake
        llm_id = tg.create_ai_llm(
            {
                "name": f"openai-{s}",
                "aiType": "OPENAI",
                "endpoint": fake.endpoints["OPENAI"],
                "secret": fake.creds.openai_key,
                "workspaceId": ws["id"],
            }
        )["aiLlmId"]
        dto = next(x for x in tg.get_ai_llms(ws["id"])["aiLlms"] if x["id"] == llm_id)
        assert dto["validationStatus"] == "UNVALIDATED" and fake.creds.openai_key not in str(dto)
        assert tg.validate_ai_llm(llm_id)["success"] is True
        assert any(x["id"] == llm_id for x in tg.get_available_ai_llms()["aiLlms"])
        assert tg.update_ai_llm(llm_id, {"name": f"openai-main-{s}"})["aiLlmId"] == llm_id
        bad = error_of(
            lambda: tg.create_ai_llm(
                {
                    "name": "x",
                    "aiType": "NOPE",
                    "secret": "x",  # type: ignore[typeddict-item]
                    "workspaceId": ws["id"],
                }
            )
        )
        assert bad.status == 400

        repo_id = tg.create_repo({"name": f"app-{s}", "workspaceId": ws["id"], "repoAiLlms": [{"aiLlmId": llm_id}]})[
            "repoId"
        ]
        assert [x["id"] for x in tg.get_repo(repo_id)["aiLlms"]] == [llm_id]
        assert tg.update_repo(repo_id, {"name": f"app2-{s}"})["success"]
        assert any(r["name"] == f"app2-{s}" for r in tg.get_repos(ws["id"])["repos"])
        assert error_of(lambda: tg.get_repo(MISSING)).status == 404
        key = tg.create_repo_ai_api_key(repo_id, {"name": "k1", "aiType": "OPENAI"})
        register_secret(key["secret"])
        assert tg.update_repo_ai_api_key(repo_id, key["id"], {"name": "k1b"})["success"]
        assert [k["name"] for k in tg.get_repo_ai_api_keys(repo_id)["apiKeys"]] == ["k1b"]

        deny = tg.create_policy(
            {
                "name": f"deny-{s}",
                "content": "no gpt-4o",
                "riskType": "HIGH",
                "actionType": 2,
                "orgId": org_id,
                "workspaceId": ws["id"],
                "repoId": repo_id,
                "rule": {"type": "MODEL_DENYLIST", "models": ["gpt-4o"]},
            }
        )["policy"]
        watch = tg.create_policy(
            {
                "name": f"watch-{s}",
                "content": "watch",
                "riskType": "LOW",
                "actionType": 1,
                "orgId": org_id,
                "workspaceId": ws["id"],
                "rule": {"type": "CONTENT_PATTERN", "patterns": ["watchword"], "detectors": []},
            }
        )["policy"]
        assert {p["id"] for p in tg.get_policies(workspace_id=ws["id"])["policies"]} == {deny["id"], watch["id"]}
        assert tg.get_policy(deny["id"])["policy"]["riskType"] == "HIGH"
        assert tg.update_policy(watch["id"], {"content": "the watchword"})["policy"]["content"] == "the watchword"

        with httpx.Client(base_url=tollgate_up.url, headers={"authorization": f"Bearer {key['secret']}"}) as gw:

            def chat(model: str, text: str) -> int:
                return gw.post(
                    "/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": text}]}
                ).status_code

            until("policy reaches the gateway", lambda: chat("gpt-4o", "hi"), lambda code: code == 403)
            assert chat("gpt-4o-mini", "hello") == 200
            assert chat("gpt-4o-mini", "the watchword") == 200

        blocked = until(
            "violation", lambda: tg.get_policy_violations(workspace_id=ws["id"], block=True), lambda r: r["total"] >= 1
        )
        assert all(v["policyId"] == deny["id"] and v["block"] for v in blocked["violations"])
        assert tg.get_policy_violations_by_policy_id(deny["id"], take=5)["total"] == 1
        assert tg.get_policy_violations(workspace_id=ws["id"], severity=["LOW"], block=True)["total"] == 0
        alerts = until("alert", lambda: tg.get_policy_alerts(workspace_id=ws["id"]), lambda r: r["total"] >= 1)
        assert alerts["alerts"][0]["policyId"] == watch["id"]
        assert tg.get_policy_alerts_by_policy_id(watch["id"])["total"] == 1

        stats = until(
            "config stats",
            lambda: tg.get_ai_llm_stats(llm_id),
            lambda r: len(r["stats"]) == 1 and int(r["stats"][0]["totalApiCalls"]) >= 2,
        )
        assert int(stats["stats"][0]["totalTokensIn"]) > 0
        now = datetime.now(UTC)
        minute = until(
            "minute series",
            lambda: tg.get_ai_stats_minute(now - timedelta(hours=1), now + timedelta(minutes=2), repo_id=[repo_id]),
            lambda r: sum(int(x["apiCalls"]) for x in r["data"]) >= 2,
        )
        assert {row["repoId"] for row in minute["data"]} == {repo_id}
        daily = tg.get_ai_stats_daily(now - timedelta(days=1), repo_id=[repo_id], llm_model=["gpt-4o-mini"])
        assert daily["data"] and {row["llmModel"] for row in daily["data"]} == {"gpt-4o-mini"}
        assert error_of(lambda: tg.get_ai_stats_minute(now, now - timedelta(hours=1))).status == 400

        assert error_of(lambda: tg.delete_ai_llm(llm_id)).status == 403
        assert tg.delete_repo_ai_api_key(repo_id, key["id"])["success"]
        assert tg.delete_policy(deny["id"])["success"] and tg.delete_policy(watch["id"])["success"]
        assert tg.delete_repo(repo_id)["success"]
        assert tg.delete_ai_llm(llm_id)["success"]
        assert tg.delete_workspace(ws["id"])["success"]
        assert error_of(lambda: tg.get_workspace(ws["id"])).status == 404

        assert admin.revoke_api_token(token_id)["success"]
        assert error_of(tg.get_workspaces).status == 401
    admin.close()
    anon.close()


async def test_async_client_has_the_same_operations(tollgate_up: LiveUp) -> None:
    s = uuid.uuid4().hex[:8]
    admin, token_id, token = api_token(tollgate_up, f"py-async-{s}")
    async with AsyncTollgateClient(tollgate_up.url, api_key=token) as tg:
        ws = (await tg.create_workspace({"name": f"py-async-{s}"}))["workspace"]
        fake = tollgate_up.fake
        llm_id = (
            await tg.create_ai_llm(
                {
                    "name": "cfg",
                    "aiType": "OPENAI",
                    "endpoint": fake.endpoints["OPENAI"],
                    "secret": fake.creds.openai_key,
                    "workspaceId": ws["id"],
                }
            )
        )["aiLlmId"]
        assert [x["id"] for x in (await tg.get_ai_llms(ws["id"]))["aiLlms"]] == [llm_id]
        assert (await tg.validate_ai_llm(llm_id))["success"] is True
        stats = await tg.get_ai_llm_stats(llm_id)
        assert [row["aiLlmId"] for row in stats["stats"]] == [llm_id] and stats["stats"][0]["totalApiCalls"] == "0"
        with pytest.raises(TollgateError) as info:
            await tg.get_repo(MISSING)
        assert info.value.status == 404
        assert (await tg.delete_ai_llm(llm_id))["success"]
        assert (await tg.delete_workspace(ws["id"]))["success"]
        assert admin.revoke_api_token(token_id)["success"]
        with pytest.raises(TollgateError) as info:
            await tg.get_workspaces()
        assert info.value.status == 401
    admin.close()
