"""Model names in the rollups: the provider's model, so `claude-x` and `anthropic/claude-x` are
one model in /aistats, while the raw table keeps the name as the client asked."""

from __future__ import annotations

import uuid

import pytest

from consumers.metering import request_row, violation_row
from schemas import topics
from schemas.enums import bare_model
from schemas.events import RequestEvent, ViolationEvent
from schemas.records import Record
from tests.warehouse.support import warehouse  # noqa: F401

pytestmark = pytest.mark.clickhouse


@pytest.mark.parametrize(
    "asked,bare",
    [
        ("anthropic/claude-x", "claude-x"),
        ("OpenAI/gpt-4o", "gpt-4o"),
        ("gemini/gemini-2.0-flash", "gemini-2.0-flash"),
        ("meta-llama/Llama-3-8B", "meta-llama/Llama-3-8B"),
        ("gpt-4o", "gpt-4o"),
        ("openai/", "openai/"),
    ],
)
def test_bare_model_drops_only_provider_aliases(asked: str, bare: str) -> None:
    assert bare_model(asked) == bare


async def test_rollups_group_by_the_provider_model(warehouse) -> None:  # noqa: F811
    ws, llm = str(uuid.uuid4()), str(uuid.uuid4())
    common = dict(
        gateway_id="gw",
        org_id="o",
        workspace_id=ws,
        repo_id="r",
        repo_ai_api_key_id="k",
        ai_llm_id=llm,
        tokens_in=3,
        tokens_out=2,
    )
    asked = [("anthropic/claude-x", "claude-x"), ("claude-x", "claude-x"), ("claude-x", "")]
    rows = [
        request_row(
            RequestEvent(request_id=f"r{i}", model=m, provider_model=pm, **common),
            Record(topics.REQUESTS, 0, i, None, b"", 0),
        )
        for i, (m, pm) in enumerate(asked)
    ]
    await warehouse.insert_requests(rows, dedup_token=f"req-{ws}")
    v = ViolationEvent(
        policy_id="p",
        policy_name="deny",
        org_id="o",
        workspace_id=ws,
        repo_id="r",
        repo_ai_api_key_id="k",
        ai_llm_id=llm,
        llm_model="anthropic/claude-x",
    )
    await warehouse.insert_violations(
        [violation_row(v, Record(topics.VIOLATIONS, 0, 0, None, b"", 0))], dedup_token=f"vio-{ws}"
    )
    got = await warehouse.query(
        "SELECT llm_model, sum(api_calls), sum(policy_violations) FROM usage_minute "
        "WHERE workspace_id = {w:String} GROUP BY llm_model",
        {"w": ws},
    )
    assert [(m, int(c), int(p)) for m, c, p in got] == [("claude-x", 3, 1)]
    raw = await warehouse.query(
        "SELECT DISTINCT model FROM requests WHERE workspace_id = {w:String} ORDER BY model", {"w": ws}
    )
    assert [r[0] for r in raw] == ["anthropic/claude-x", "claude-x"]
