"""`/openapi.json` is true and `/docs` works offline.

Checked against the live app: the document is valid OpenAPI 3.1 and lists exactly the routes
served (management routes and the gateway's route table); every secured operation really
answers 401 without credentials, every operation with a body really answers 400 to a body
that is not an object, every path-id operation without a body really answers 404 for an
unknown id, and real answers validate against the documented response schemas.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from api.openapi import OPERATIONS, PUBLIC
from producers.gateway.app import ROUTES
from tests.policy_e2e.helpers import chat, policy, setup_ws, until, wait_gateway_sees

_METHODS = {"get", "post", "put", "delete", "patch"}


@pytest.fixture(scope="module")
def doc(live_app) -> dict:
    r = httpx.get(live_app.url + "/openapi.json", timeout=30)
    assert r.status_code == 200
    return r.json()


def _ops(doc: dict):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in _METHODS:
                yield method.upper(), path, op


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


def test_document_is_valid_and_lists_exactly_what_is_served(doc, live_app) -> None:
    validate(doc)
    assert '"422"' not in str(doc).replace("'", '"')
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    documented = {(m, p) for m, p, _ in _ops(doc)}
    management = {(m, p) for m, p in documented if not p.startswith("/v1/")}
    assert management == set(OPERATIONS)
    assert {(m, "/v1" + p) for (m, p) in ROUTES} == documented - management
    for method, path, op in _ops(doc):
        codes = set(op["responses"])
        assert codes and all(c.isdigit() for c in codes), (method, path)
        ok = [c for c in codes if c.startswith("2")]
        assert len(ok) == 1, (method, path)
        if (method, path) not in PUBLIC:
            assert "401" in codes and op["security"], (method, path)
    assert set(doc["components"]["securitySchemes"]) == {"bearerAuth", "repoKey", "anthropicKey"}


def _real(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda mt: ids[mt.group(1)], path)


def test_documented_401_400_404_are_really_answered(doc, live_app, client, admin_headers, fake_upstream) -> None:
    env = setup_ws(client, admin_headers, fake_upstream)
    pol = policy(client, admin_headers, env, action=0, rule={"type": "MAX_TOKENS", "limit": 100})
    me = client.get("/user/me", headers=admin_headers).json()["user"]["id"]
    ids = {
        "workspace_id": env["ws"],
        "ai_llm_id": env["config"],
        "repo_id": env["repo"],
        "key_id": env["key_id"],
        "policy_id": pol["id"],
        "user_id": me,
        "token_id": str(uuid.uuid4()),
        "model": "gpt-4o-mini",
    }
    checked = {"401": 0, "400": 0, "404": 0}
    for method, path, op in _ops(doc):
        if (method, path) not in PUBLIC:
            r = client.request(method, _concrete(path), json={} if "requestBody" in op else None)
            assert r.status_code == 401, (method, path, r.status_code, r.text)
            if path.startswith("/v1/"):
                assert r.json()["error"]["message"]
            else:
                assert r.json()["success"] is False
            checked["401"] += 1
        if path.startswith("/v1/"):
            continue
        if "requestBody" in op:
            assert "400" in op["responses"], (method, path)
            r = client.request(method, _real(path, ids), json=[1, 2], headers=admin_headers)
            assert r.status_code == 400, (method, path, r.status_code, r.text)
            checked["400"] += 1
        elif "{" in path:
            assert "404" in op["responses"], (method, path)
            r = client.request(method, _concrete(path), headers=admin_headers)
            assert r.status_code == 404, (method, path, r.status_code, r.text)
            checked["404"] += 1
    assert checked["401"] >= 40 and checked["400"] >= 12 and checked["404"] >= 12, checked


def _validator(doc: dict, name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": doc["components"]})


def test_real_answers_match_the_documented_schemas(doc, live_app, client, admin_headers, fake_upstream) -> None:
    env = setup_ws(client, admin_headers, fake_upstream)
    pol = policy(client, admin_headers, env, action=1, rule={"type": "CONTENT_PATTERN", "patterns": ["flagme"]})
    wait_gateway_sees(live_app.url, env["secret"])
    until(lambda: chat(live_app.url, env["secret"], "please flagme now"), lambda r: r.status_code == 200)

    def schema_of(method: str, path: str) -> str:
        op = doc["paths"][path][method.lower()]
        ok = next(c for c in op["responses"] if c.startswith("2"))
        return op["responses"][ok]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]

    def check(method: str, template: str, url: str, **kw) -> dict:
        r = client.request(method, url, headers=admin_headers, **kw)
        assert r.status_code < 300, (url, r.text)
        body = r.json()
        errors = sorted(_validator(doc, schema_of(method, template)).iter_errors(body), key=str)
        assert not errors, (template, [e.message for e in errors[:5]])
        return body

    ws, repo = env["ws"], env["repo"]
    check("GET", "/workspace", "/workspace")
    check("GET", "/workspace/{workspace_id}", f"/workspace/{ws}")
    check("GET", "/user/me", "/user/me")
    check("GET", "/user/token", "/user/token")
    check("GET", "/ai/llm", "/ai/llm", params={"workspaceId": ws})
    check("GET", "/ai/llm/available", "/ai/llm/available")
    check("GET", "/repo", "/repo", params={"workspaceId": ws})
    check("GET", "/repo/{repo_id}/ai/apikey", f"/repo/{repo}/ai/apikey")
    check("GET", "/policy", "/policy", params={"orgId": env["org"], "workspaceId": ws})
    check("GET", "/policy/{policy_id}", f"/policy/{pol['id']}")
    stats = until(
        lambda: check("GET", "/ai/llm/stats", "/ai/llm/stats", params={"aiLlmId": env["config"]}),
        lambda b: b["stats"] and int(b["stats"][0]["totalApiCalls"]) >= 1,
    )
    assert stats["stats"][0]["aiLlmId"] == env["config"]
    until(lambda: check("GET", "/aistats/minute", "/aistats/minute", params={"repoId": repo}), lambda b: b["data"])
    check("GET", "/aistats/daily", "/aistats/daily", params={"repoId": repo})

    def alert_after_a_flagged_call() -> dict:
        # a call per poll: the alert policy may reach this backend's hooks after the first call
        assert chat(live_app.url, env["secret"], "please flagme again").status_code == 200
        return check("GET", "/policy/alerts", "/policy/alerts", params={"workspaceId": ws})

    until(alert_after_a_flagged_call, lambda b: b["alerts"], limit=60.0, step=0.5)
    check("GET", "/policy/violations", "/policy/violations", params={"workspaceId": ws})
    login = client.post("/user/login", json={"email": live_app.admin_email, "password": live_app.admin_password})
    assert not list(_validator(doc, "LoginResponse").iter_errors(login.json()))


def test_docs_page_is_served_from_bundled_assets(live_app) -> None:
    with httpx.Client(base_url=live_app.url, timeout=30) as c:
        page = c.get("/docs")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        refs = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', page.text)
        refs += re.findall(r"url:\s*'([^']+)'", page.text)
        assert refs, page.text[:500]
        assert not re.search(r"https?://", page.text), "the page loads something from another host"
        for ref in refs:
            r = c.get(ref)
            assert r.status_code == 200 and len(r.content) > 100, ref
        assert "/openapi.json" in refs
        bundle = c.get("/docs/assets/swagger-ui-bundle.js")
        assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text
