"""Migration 005: request cost as Decimal(38, 12) in the raw table and both rollups, summed
exactly; unknown prices counted as unpriced calls and never shown as $0; limit refusals counted
on the configuration they would have used."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from consumers.metering import records_to_rows
from schemas import topics
from schemas.events import RequestEvent
from schemas.records import Record
from tests.warehouse.support import warehouse  # noqa: F401
from warehouse.queries import SeriesFilter

pytestmark = pytest.mark.clickhouse

NOW = datetime(2026, 3, 4, 10, 30, tzinfo=UTC)


def _ev(
    llm: str,
    cost: str | None,
    *,
    tin: int = 10,
    tout: int = 5,
    status: str = "ok",
    http: int = 200,
    read: int = 0,
    source: str = "table:x",
) -> RequestEvent:
    return RequestEvent(
        gateway_id="gw",
        request_id=str(uuid.uuid4()),
        org_id="o",
        workspace_id="w",
        repo_id="r",
        repo_ai_api_key_id="k",
        ai_llm_id=llm,
        model="m",
        tokens_in=tin,
        tokens_out=tout,
        cached_tokens=read,
        cache_read_tokens=read,
        cache_write_tokens=2,
        reasoning_tokens=1,
        cost_usd=cost,
        price_source=source if cost else "unknown",
        status=status,
        http_status=http,
        occurred_at=NOW,
    )


async def _insert(wh, events) -> None:
    recs = [Record(topics.REQUESTS, 0, i, b"k", e.to_wire(), 0) for i, e in enumerate(events)]
    rows, _, dead = records_to_rows(recs)
    assert dead == []
    await wh.insert_requests(rows, uuid.uuid4().hex)


async def test_cost_columns_are_decimal_not_float(warehouse):  # noqa: F811
    for table in ("requests", "usage_minute", "usage_daily"):
        rows = await warehouse.query(
            "SELECT type FROM system.columns WHERE database = currentDatabase() "
            "AND table = {t:String} AND name = 'cost_usd'",
            {"t": table},
        )
        assert rows and "Decimal(38, 12)" in rows[0][0] and "Float" not in rows[0][0]


async def test_costs_sum_exactly_and_unknown_is_never_zero(warehouse):  # noqa: F811
    # 0.1 + 0.2 (+ 1e-12) is exact in Decimal, not in a float
    await _insert(
        warehouse,
        [
            _ev("a", "0.1", read=4),
            _ev("a", "0.2"),
            _ev("a", "0.000000000001"),
            _ev("a", None),
            _ev("b", None),
            _ev("b", None, tin=0, tout=0, status="blocked", http=429),
            _ev("c", "0.000000735", source="override"),
            _ev("c", None, tin=0, tout=0, status="blocked", http=429),
        ],
    )
    totals = await warehouse.llm_stats(["w"], None, NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert totals["a"]["cost_usd"] == Decimal("0.300000000001")
    assert totals["a"]["unpriced_calls"] == 1 and totals["a"]["cached_tokens"] == 4
    assert totals["a"]["cache_write_tokens"] == 8 and totals["a"]["reasoning_tokens"] == 4
    assert totals["b"]["cost_usd"] == 0 and totals["b"]["unpriced_calls"] == 1  # the blocked call has no tokens
    assert totals["b"]["limit_blocks"] == 1 and totals["c"]["limit_blocks"] == 1
    raw = await warehouse.usage_series_json(
        "minute", SeriesFilter(["w"], NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    )
    by_llm = {r["aiLlmId"]: r for r in map(orjson.loads, raw.splitlines())}
    assert Decimal(by_llm["a"]["cost"]) == Decimal("0.300000000001") and by_llm["a"]["unpricedCalls"] == "1"
    assert by_llm["b"]["cost"] is None and by_llm["b"]["unpricedCalls"] == "1"
    assert Decimal(by_llm["c"]["cost"]) == Decimal("0.000000735")
    assert by_llm["a"]["cachedTokensIn"] == "4"
    # the day rollup carries the same money
    daily = await warehouse.usage_series_json(
        "daily", SeriesFilter(["w"], NOW - timedelta(days=1), NOW + timedelta(days=1))
    )
    d = {r["aiLlmId"]: r for r in map(orjson.loads, daily.splitlines())}
    assert Decimal(d["a"]["cost"]) == Decimal("0.300000000001") and d["b"]["cost"] is None


async def test_bad_cost_string_is_a_dead_letter_not_a_failed_insert():
    ev = _ev("a", "0.1").model_copy(update={"cost_usd": "1e-3"})
    _, _, dead = records_to_rows([Record(topics.REQUESTS, 0, 0, b"k", ev.to_wire(), 0)])
    assert len(dead) == 1 and "costUsd" in dead[0].reason


async def test_judge_cost_is_summed_on_violations(warehouse):  # noqa: F811
    from schemas.events import ViolationEvent

    vs = [
        ViolationEvent(
            policy_id="p",
            policy_name="P",
            org_id="o",
            workspace_id="w",
            ai_llm_id="a",
            llm_tokens_in=100,
            llm_cost_usd=c,
            occurred_at=NOW,
        )
        for c in ("0.0000015", None, "0.1")
    ]
    recs = [Record(topics.VIOLATIONS, 0, i, b"k", v.to_wire(), 0) for i, v in enumerate(vs)]
    _, rows, dead = records_to_rows(recs)
    assert dead == []
    await warehouse.insert_violations(rows, uuid.uuid4().hex)
    totals = await warehouse.llm_stats(["w"], None, NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert totals["a"]["llm_cost_usd"] == Decimal("0.1000015") and totals["a"]["llm_tokens_in"] == 300
