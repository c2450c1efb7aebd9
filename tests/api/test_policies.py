"""`/policy*` end to end over HTTP: shape, validation (400, never 422), roles, tenancy, epoch."""

from __future__ import annotations

import re
import uuid
from datetime import UTC

import pytest

from store.epoch import current_epoch
from tests.support.api import unique

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
BUDGET = {"type": "TOKEN_BUDGET", "limit": 100000, "period": "DAY", "per": "KEY"}


def epoch(live) -> int:
    async def read(rt):
        async with rt.sessionmaker() as s:
            return await current_epoch(s)

    return live.call(read)


@pytest.fixture
def org_id(client, admin_headers):
    return client.get("/user/me", headers=admin_headers).json()["user"]["orgId"]


@pytest.fixture(autouse=True)
def _policies_do_not_outlive_the_test(client, admin_headers, org_id):
    """The live app is shared: org-scope policies left behind would apply to other tests' requests."""
    before = {
        p["id"] for p in client.get("/policy", params={"orgId": org_id}, headers=admin_headers).json()["policies"]
    }
    yield
    for p in client.get("/policy", params={"orgId": org_id}, headers=admin_headers).json()["policies"]:
        if p["id"] not in before:
            client.delete(f"/policy/{p['id']}", headers=admin_headers)


def body(org_id, **kw):
    b = {
        "name": unique("pol"),
        "content": "No secrets in prompts",
        "riskType": "HIGH",
        "actionType": 2,
        "orgId": org_id,
    }
    b.update(kw)
    return b


def make_repo(client, headers, ws_id):
    r = client.post("/repo", json={"name": unique("repo"), "workspaceId": ws_id, "repoAiLlms": []}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["repoId"]


def test_create_org_policy_shape_and_epoch(client, admin_headers, org_id, live_app):
    before = epoch(live_app)
    r = client.post("/policy", json=body(org_id, rule=BUDGET), headers=admin_headers)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["success"] is True
    p = data["policy"]
    assert set(p) == {
        "id",
        "orgId",
        "name",
        "content",
        "riskType",
        "actionType",
        "workspaceId",
        "repoId",
        "createdAt",
        "lastUpdatedAt",
        "rule",
    }
    assert p["orgId"] == org_id and p["workspaceId"] is None and p["repoId"] is None
    assert p["riskType"] == "HIGH" and p["actionType"] == 2 and p["rule"] == BUDGET
    assert ISO.match(p["createdAt"]) and ISO.match(p["lastUpdatedAt"])
    uuid.UUID(p["id"])
    assert epoch(live_app) > before
    got = client.get(f"/policy/{p['id']}", headers=admin_headers).json()
    assert got == {"success": True, "policy": p}


@pytest.mark.parametrize(
    "patch,message",
    [
        ({"rule": {"type": "TOKEN_BUDGET", "limit": 0, "period": "DAY"}}, "rule.limit: must be a positive integer"),
        ({"rule": {"type": "RATE_LIMIT", "window": "MINUTE"}}, "rule.requests: at least one of requests or tokens"),
        (
            {"rule": {"type": "CONTENT_PATTERN", "patterns": ["(x"]}},
            "rule.patterns[0]: is not a valid regular expression",
        ),
        ({"rule": {"type": "WHAT"}}, "rule.type: must be one of"),
        ({"riskType": "EXTREME"}, "riskType"),
        ({"actionType": 3}, "actionType"),
        ({"name": ""}, "name"),
        ({"content": "", "rule": None}, "content: describe the policy, or give a rule"),
        ({"orgId": "not-a-uuid"}, "orgId: must be a UUID"),
    ],
)
def test_invalid_bodies_are_400_with_the_field(client, admin_headers, org_id, patch, message):
    r = client.post("/policy", json=body(org_id, **patch), headers=admin_headers)
    assert r.status_code == 400, r.text
    assert r.json()["success"] is False and message in r.json()["message"]


def test_missing_fields_and_bad_json_are_400(client, admin_headers, org_id):
    r = client.post("/policy", json={"orgId": org_id}, headers=admin_headers)
    assert r.status_code == 400 and "name" in r.json()["message"]
    r = client.post("/policy", content=b"{not json", headers={**admin_headers, "content-type": "application/json"})
    assert r.status_code == 400
    assert client.post("/policy", json=body(org_id)).status_code == 401


def test_rule_only_policy_and_content_only_policy(client, admin_headers, org_id):
    r = client.post(
        "/policy", json=body(org_id, content=None, rule={"type": "MAX_TOKENS", "limit": 4096}), headers=admin_headers
    )
    assert r.status_code == 200 and r.json()["policy"]["content"] == ""
    r = client.post("/policy", json=body(org_id), headers=admin_headers)
    assert r.status_code == 200 and r.json()["policy"]["rule"] is None


def test_roles(client, admin_headers, org_id, make_user, make_workspace):
    ws = make_workspace()["id"]
    writer = make_user(workspaces={ws: "WRITE"})
    reader = make_user(workspaces={ws: "READ"})
    orgadmin = make_user(org_role="ADMINISTRATORS")
    # org scope: org-wide roles only
    assert client.post("/policy", json=body(org_id), headers=writer.headers).status_code == 403
    assert client.post("/policy", json=body(org_id), headers=orgadmin.headers).status_code == 200
    # workspace scope: WRITE yes, READ no
    r = client.post("/policy", json=body(org_id, workspaceId=ws), headers=writer.headers)
    assert r.status_code == 200, r.text
    pid = r.json()["policy"]["id"]
    r = client.post("/policy", json=body(org_id, workspaceId=ws), headers=reader.headers)
    assert r.status_code == 403 and "WRITE" in r.json()["message"]
    # READ can list and get, not change
    listed = client.get("/policy", params={"workspaceId": ws}, headers=reader.headers).json()["policies"]
    assert [p["id"] for p in listed] == [pid]
    assert client.get(f"/policy/{pid}", headers=reader.headers).status_code == 200
    assert client.put(f"/policy/{pid}", json={"name": "x"}, headers=reader.headers).status_code == 403
    assert client.delete(f"/policy/{pid}", headers=reader.headers).status_code == 403
    # writer cannot change an org policy it can see
    org_pol = client.post("/policy", json=body(org_id), headers=admin_headers).json()["policy"]["id"]
    assert client.get(f"/policy/{org_pol}", headers=writer.headers).status_code == 200
    assert client.put(f"/policy/{org_pol}", json={"name": "x"}, headers=writer.headers).status_code == 403


def test_tenancy_outsiders_see_nothing(client, admin_headers, org_id, make_user, make_workspace):
    ws = make_workspace()["id"]
    pid = client.post("/policy", json=body(org_id, workspaceId=ws), headers=admin_headers).json()["policy"]["id"]
    org_pid = client.post("/policy", json=body(org_id), headers=admin_headers).json()["policy"]["id"]
    stranger = make_user(org_role="OWNER", new_org=True)
    nonmember = make_user()
    for who in (stranger, nonmember):
        assert client.get(f"/policy/{pid}", headers=who.headers).status_code == 404
        assert client.put(f"/policy/{pid}", json={"name": "x"}, headers=who.headers).status_code == 404
        assert client.delete(f"/policy/{pid}", headers=who.headers).status_code == 404
        ids = [p["id"] for p in client.get("/policy", headers=who.headers).json()["policies"]]
        assert pid not in ids
        assert client.get("/policy", params={"workspaceId": ws}, headers=who.headers).status_code == 404
    # the stranger sees nothing of our org, not even org policies; the non-member does see those
    assert org_pid not in [p["id"] for p in client.get("/policy", headers=stranger.headers).json()["policies"]]
    assert client.get(f"/policy/{org_pid}", headers=stranger.headers).status_code == 404
    assert client.get(f"/policy/{org_pid}", headers=nonmember.headers).status_code == 200
    assert client.get("/policy", params={"orgId": org_id}, headers=stranger.headers).json()["policies"] == []
    r = client.post("/policy", json=body(org_id, workspaceId=ws), headers=stranger.headers)
    assert r.status_code == 404
    assert client.get(f"/policy/{uuid.uuid4()}", headers=admin_headers).status_code == 404
    assert client.get("/policy/not-a-uuid", headers=admin_headers).status_code == 404


def test_repo_scope(client, admin_headers, org_id, make_workspace):
    ws, ws2 = make_workspace()["id"], make_workspace()["id"]
    repo = make_repo(client, admin_headers, ws)
    r = client.post("/policy", json=body(org_id, workspaceId=ws2, repoId=repo), headers=admin_headers)
    assert r.status_code == 400 and "repoId" in r.json()["message"]
    r = client.post("/policy", json=body(org_id, repoId=repo), headers=admin_headers)  # workspace inferred
    assert r.status_code == 200 and r.json()["policy"]["workspaceId"] == ws
    pid = r.json()["policy"]["id"]
    r = client.post("/policy", json=body(org_id, workspaceId=ws, repoId=str(uuid.uuid4())), headers=admin_headers)
    assert r.status_code == 404
    got = client.get("/policy", params={"repoId": repo}, headers=admin_headers).json()["policies"]
    assert [p["id"] for p in got] == [pid]
    in_ws = client.get("/policy", params={"workspaceId": ws}, headers=admin_headers).json()["policies"]
    assert pid in [p["id"] for p in in_ws]


def test_update_and_delete(client, admin_headers, org_id, make_workspace, live_app):
    ws = make_workspace()["id"]
    p = client.post("/policy", json=body(org_id, workspaceId=ws, rule=BUDGET), headers=admin_headers).json()["policy"]
    before = epoch(live_app)
    r = client.put(
        f"/policy/{p['id']}",
        json={"name": "renamed", "actionType": 1, "rule": {"type": "MODEL_DENYLIST", "models": ["o1*"]}},
        headers=admin_headers,
    )
    assert r.status_code == 200, r.text
    q = r.json()["policy"]
    assert (
        q["name"] == "renamed" and q["actionType"] == 1 and q["rule"] == {"type": "MODEL_DENYLIST", "models": ["o1*"]}
    )
    assert q["createdAt"] == p["createdAt"] and q["lastUpdatedAt"] >= p["lastUpdatedAt"]
    assert q["workspaceId"] == ws and q["content"] == p["content"]
    assert epoch(live_app) > before
    r = client.put(f"/policy/{p['id']}", json={"rule": {"type": "MAX_TOKENS", "limit": -1}}, headers=admin_headers)
    assert r.status_code == 400 and r.json()["message"] == "rule.limit: must be a positive integer"
    r = client.put(f"/policy/{p['id']}", json={"rule": None}, headers=admin_headers)
    assert r.status_code == 200 and r.json()["policy"]["rule"] is None
    r = client.put(f"/policy/{p['id']}", json={"content": ""}, headers=admin_headers)
    assert r.status_code == 400
    r = client.delete(f"/policy/{p['id']}", headers=admin_headers)
    assert r.status_code == 200 and r.json()["success"] is True
    assert client.get(f"/policy/{p['id']}", headers=admin_headers).status_code == 404


def test_violation_query_validation(client, admin_headers):
    for params, field in [
        ({"take": 101}, "take"),
        ({"take": 0}, "take"),
        ({"skip": -1}, "skip"),
        ({"from": "yesterday"}, "from"),
        ({"severity": "CRITICAL"}, "severity"),
        ({"take": "many"}, "take"),
        ({"block": "maybe"}, "block"),
    ]:
        r = client.get("/policy/violations", params=params, headers=admin_headers)
        assert r.status_code == 400, (params, r.text)
        assert field in r.json()["message"]
    assert client.get(f"/policy/{uuid.uuid4()}/violations", headers=admin_headers).status_code == 404
    assert client.get("/policy/alerts").status_code == 401


# ---- violations / alerts through the warehouse (embedded ClickHouse engine) ----------------


def _insert_violations(live, events):
    from consumers.metering import violation_row
    from schemas.records import Record

    rows = [violation_row(e, Record("tollgate.violations.v1", 0, i, None, b"", 0)) for i, e in enumerate(events)]

    async def ins(rt):
        await rt.warehouse.insert_violations(rows, dedup_token=unique("tok"))

    live.call(ins)


@pytest.mark.clickhouse
def test_violations_and_alerts_listing(client, admin_headers, org_id, make_user, make_workspace, live_app):
    from datetime import datetime, timedelta

    from schemas.events import ViolationEvent

    ws, ws2 = make_workspace()["id"], make_workspace()["id"]
    repo = make_repo(client, admin_headers, ws)
    key = client.post(f"/repo/{repo}/ai/apikey", json={"name": "k1", "aiType": "OPENAI"}, headers=admin_headers)
    assert key.status_code == 201, key.text
    key_id = key.json()["id"]
    from tests.support.secrets import register_secret

    register_secret(key.json()["secret"])
    pol = client.post("/policy", json=body(org_id, workspaceId=ws), headers=admin_headers).json()["policy"]
    # recent times: raw rows older than the TTL (raw_ttl_days) are dropped by ClickHouse
    t0 = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=0)
    evs = [
        ViolationEvent(
            policy_id=pol["id"],
            policy_name=pol["name"],
            org_id=org_id,
            workspace_id=ws,
            repo_id=repo,
            repo_ai_api_key_id=key_id,
            occurred_at=t0 + timedelta(minutes=i),
            severity=("LOW", "MEDIUM", "HIGH")[i % 3],
            action_type=i % 3,
            block=(i % 3 == 2),
            explanation=f"why {i}",
            llm_type="OPENAI",
            llm_model="gpt-4o" if i < 4 else "o1",
            gateway_id="gw-1",
            conversation_id="c1",
        )
        for i in range(6)
    ]
    other = ViolationEvent(
        policy_id=pol["id"], policy_name="x", org_id=org_id, workspace_id=ws2, occurred_at=t0, explanation="elsewhere"
    )
    _insert_violations(live_app, evs + [other])
    _insert_violations(live_app, evs[:1])  # a redelivered duplicate is listed once

    r = client.get("/policy/violations", params={"workspaceId": ws}, headers=admin_headers)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["total"] == 6 and data["skip"] == 0 and data["take"] == 50
    v = data["violations"]
    assert [x["explanation"] for x in v] == [f"why {i}" for i in range(5, -1, -1)]  # newest first
    top = v[0]
    assert set(top) == {
        "id",
        "policyId",
        "policyName",
        "timestamp",
        "explanation",
        "conversationId",
        "repoId",
        "repoName",
        "userId",
        "repoAiApiKeyId",
        "repoAiApiKeyName",
        "severity",
        "block",
        "llmType",
        "llmModel",
        "host",
    }
    assert top["id"] == evs[5].event_id
    assert top["timestamp"] == (t0 + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert top["repoName"] and top["repoAiApiKeyName"] == "k1" and top["host"] == "gw-1"
    assert top["severity"] == "HIGH" and top["block"] is True

    def ids(params, path="/policy/violations", headers=admin_headers):
        r = client.get(path, params={"workspaceId": ws, **params}, headers=headers)
        assert r.status_code == 200, r.text
        return [x.get("explanation") or x.get("message") for x in r.json()["violations"]]

    assert ids({"take": 2, "skip": 1}) == ["why 4", "why 3"]
    assert ids({"block": "true"}) == ["why 5", "why 2"]
    assert ids({"severity": "LOW,MEDIUM"}) == ["why 4", "why 3", "why 1", "why 0"]
    assert ids({"llmModel": "o1"}) == ["why 5", "why 4"]
    iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # noqa: E731
    assert ids({"from": iso(t0 + timedelta(minutes=2)), "to": iso(t0 + timedelta(minutes=3))}) == ["why 3", "why 2"]
    assert ids({}, path="/policy/alerts") == ["why 4", "why 1"]
    alert = client.get("/policy/alerts", params={"workspaceId": ws}, headers=admin_headers).json()["violations"][0]
    assert "message" in alert and "explanation" not in alert
    assert ids({}, path=f"/policy/{pol['id']}/violations") == [f"why {i}" for i in range(5, -1, -1)]
    # tenancy: a READ member of ws sees them; a member of nothing sees none; ws2 is separate
    reader = make_user(workspaces={ws: "READ"})
    assert len(ids({}, headers=reader.headers)) == 6
    nobody = make_user()
    r = client.get("/policy/violations", headers=nobody.headers).json()
    assert r["violations"] == [] and r["total"] == 0
    assert client.get("/policy/violations", params={"workspaceId": ws}, headers=nobody.headers).status_code == 404
    r = client.get("/policy/violations", params={"workspaceId": ws2}, headers=admin_headers).json()
    assert [x["explanation"] for x in r["violations"]] == ["elsewhere"]
