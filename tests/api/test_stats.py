"""Stats API over the live app: exact totals, zero rows, scoping, filters, bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from consumers.metering import MeteringHandler
from schemas import topics
from schemas.events import RequestEvent, ViolationEvent
from schemas.records import Record
from tests.support.secrets import register_secret


def _config(client, headers, ws_id: str) -> str:
    secret = "sk-test-" + uuid.uuid4().hex
    register_secret(secret)
    r = client.post(
        "/ai/llm",
        headers=headers,
        json={
            "name": "cfg-" + uuid.uuid4().hex[:8],
            "aiType": "OPENAI",
            "endpoint": "http://127.0.0.1:9/v1",
            "secret": secret,
            "workspaceId": ws_id,
        },
    )
    assert r.status_code in (200, 201), r.text
    return r.json()["aiLlmId"]


def _ingest(live_app, ws: str, llm: str, n: int, when: datetime) -> None:
    recs = []
    for i in range(n):
        e = RequestEvent(
            gateway_id="gw-t",
            request_id=str(i),
            org_id="o",
            workspace_id=ws,
            repo_id="repo-1",
            repo_ai_api_key_id=f"key-{i % 2}",
            ai_llm_id=llm,
            ai_type="OPENAI",
            model="gpt-4o" if i % 3 else "gpt-4o-mini",
            tokens_in=10,
            tokens_out=i,
            latency_ms=100.0,
            occurred_at=when,
        )
        recs.append(Record(topics.REQUESTS, 0, i, None, e.to_wire(), 0))
    v = ViolationEvent(
        policy_id="p",
        policy_name="P",
        org_id="o",
        workspace_id=ws,
        ai_llm_id=llm,
        repo_id="repo-1",
        severity="HIGH",
        action_type=2,
        block=True,
        llm_tokens_in=5,
        occurred_at=when,
    )
    recs.append(Record(topics.VIOLATIONS, 0, 0, None, v.to_wire(), 0))

    async def run(rt):
        await MeteringHandler(rt.warehouse, exactly_once=False).handle(recs)

    live_app.call(run)


def test_llm_stats_totals_scoping_and_filters(live_app, client, admin_headers, make_workspace, make_user):
    ws = make_workspace()["id"]
    used, idle = _config(client, admin_headers, ws), _config(client, admin_headers, ws)
    when = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    _ingest(live_app, ws, used, 30, when)

    r = client.get("/ai/llm/stats", params={"workspaceId": ws}, headers=admin_headers)
    assert r.status_code == 200, r.text
    stats = {s["aiLlmId"]: s for s in r.json()["stats"]}
    assert set(stats) == {used, idle}
    assert stats[used] == {
        "aiLlmId": used,
        "totalApiCalls": "30",
        "totalTokensIn": "300",
        "totalTokensOut": str(sum(range(30))),
        "totalLlmTokensIn": "5",
        "totalLlmTokensOut": "0",
        "totalPolicyViolations": "1",
        "totalAlerts": "0",
        "totalBlocks": "1",
        "totalCost": None,
        "totalCachedTokensIn": "0",
        "totalCacheWriteTokensIn": "0",
        "totalReasoningTokensOut": "0",
        "totalUnpricedCalls": "30",
        "totalLlmCost": "0",
    }  # events without a price: unknown, never $0
    assert stats[idle]["totalApiCalls"] == "0" and stats[idle]["totalBlocks"] == "0"

    # time window: before the events -> zeros; one around them -> the totals
    early = (when - timedelta(hours=2)).isoformat()
    r = client.get("/ai/llm/stats", params={"aiLlmId": used, "to": early}, headers=admin_headers)
    assert r.json()["stats"][0]["totalApiCalls"] == "0"
    r = client.get(
        "/ai/llm/stats",
        params={"aiLlmId": used, "from": when.isoformat(), "to": (when + timedelta(minutes=1)).isoformat()},
        headers=admin_headers,
    )
    assert r.json()["stats"][0]["totalApiCalls"] == "30"

    # an outsider sees nothing and learns nothing
    outsider = make_user(new_org=True)
    r = client.get("/ai/llm/stats", params={"aiLlmId": used}, headers=outsider.headers)
    assert r.status_code == 404
    r = client.get("/aistats/minute", params={"aiLlmId": used}, headers=outsider.headers)
    assert r.status_code == 200 and r.json()["data"] == []

    # minute series, filtered by model; ids OR together
    r = client.get(
        "/aistats/minute",
        params={"aiLlmId": used, "llmModel": "gpt-4o-mini", "startDate": (when - timedelta(minutes=1)).isoformat()},
        headers=admin_headers,
    )
    data = r.json()["data"]
    assert r.status_code == 200 and sum(int(d["apiCalls"]) for d in data) == 10
    assert {d["llmModel"] for d in data} == {"gpt-4o-mini"} and data[0]["timestamp"].endswith(":00.000Z")
    assert data[0]["latency_ms"] == 100.0 and data[0]["host"] == "gw-t" and data[0]["llmType"] == "OPENAI"
    r = client.get("/aistats/daily", params={"repoId": "repo-1", "aiLlmId": "nope"}, headers=admin_headers)
    rows = [d for d in r.json()["data"] if d["aiLlmId"] == used]
    assert sum(int(d["apiCalls"]) for d in rows) == 30
    assert sum(int(d["numSeverityHigh"]) for d in rows) == 1


def test_bad_parameters_get_400(client, admin_headers):
    for path, params in [
        ("/ai/llm/stats", {"from": "yesterday"}),
        ("/ai/llm/stats", {"from": "2024-02-01", "to": "2024-01-01"}),
        ("/aistats/minute", {"startDate": "2024-13-01"}),
        ("/aistats/minute", {"startDate": "2024-01-01", "endDate": "2024-06-01"}),
        ("/aistats/daily", {"endDate": "not a date"}),
    ]:
        r = client.get(path, params=params, headers=admin_headers)
        assert r.status_code == 400, (path, params, r.text)
        assert r.json()["success"] is False and r.json()["message"]
    assert client.get("/aistats/daily").status_code == 401
