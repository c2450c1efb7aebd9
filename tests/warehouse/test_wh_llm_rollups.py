"""Migration 006: `/ai/llm/stats` reads whole days and hours from the per-configuration rollups
and the ragged edges from usage_minute; the totals equal the minute rollup's for any window,
and an upgrade backfills the history that was metered before the migration."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.warehouse.support import ch_settings, warehouse  # noqa: F401
from warehouse.client import Warehouse
from warehouse.migrate import applied_versions, load_migrations, migrate
from warehouse.queries import LLM_STATS_FIELDS, floor_minute, plan_range

pytestmark = pytest.mark.clickhouse

T0 = (datetime.now(UTC) - timedelta(days=4)).replace(hour=0, minute=0, second=0, microsecond=0)
SPAN_S = 3 * 86400

REQUESTS_SQL = """
INSERT INTO requests (event_id, occurred_at, org_id, workspace_id, repo_id, repo_ai_api_key_id,
    ai_llm_id, ai_type, model, status, http_status, latency_ms, tokens_in, tokens_out,
    cached_tokens, cost_usd, gateway_id)
SELECT generateUUIDv4(number), toDateTime64({t0:UInt32} + cityHash64(number, {seed:UInt32}) % {span:UInt32}, 3, 'UTC'),
    'o', if(number % 7 = 0, 'w2', 'w'), concat('r', toString(number % 5)), concat('k', toString(number % 11)),
    concat('c', toString(number % 3)), 'OPENAI', 'gpt-4o', if(number % 13 = 0, 'blocked', 'ok'),
    if(number % 13 = 0, 429, 200), 100, number % 100, number % 37, number % 5,
    if(number % 4 = 0, NULL, toDecimal128(number % 1000, 12)), concat('gw', toString(number % 3))
FROM numbers({n:UInt64})
"""
VIOLATIONS_SQL = """
INSERT INTO violations (event_id, occurred_at, policy_id, workspace_id, ai_llm_id, severity,
    action_type, block, llm_tokens_in, llm_cost_usd)
SELECT generateUUIDv4(number), toDateTime64({t0:UInt32} + cityHash64(number, 99) % {span:UInt32}, 3, 'UTC'),
    'p', 'w', concat('c', toString(number % 3)), 'HIGH', number % 3, number % 3 = 2, 7,
    toDecimal128(number % 3, 12)
FROM numbers({n:UInt64})
"""


async def _fill(wh: Warehouse, n: int, seed: int) -> None:
    params = {"t0": int(T0.timestamp()), "span": SPAN_S, "n": n, "seed": seed}
    await wh._run(wh.client.command, REQUESTS_SQL, params)
    await wh._run(wh.client.command, VIOLATIONS_SQL, dict(params, n=n // 20))


async def _from_minutes(wh: Warehouse, ids: list[str] | None, lo: datetime | None, hi: datetime | None) -> dict:
    """The reference: the same totals summed from usage_minute alone."""
    sums = ", ".join(f"sum({c})" for c in LLM_STATS_FIELDS)
    where = "workspace_id = 'w'"
    params: dict = {}
    if ids is not None:
        where += " AND ai_llm_id IN {ids:Array(String)}"
        params["ids"] = ids
    if lo is not None:
        where += " AND bucket >= toDateTime({lo:UInt32}, 'UTC')"
        params["lo"] = int(floor_minute(lo).timestamp())
    if hi is not None:
        where += " AND bucket <= toDateTime({hi:UInt32}, 'UTC')"
        params["hi"] = int(hi.timestamp())
    rows = await wh.query(f"SELECT ai_llm_id, {sums} FROM usage_minute WHERE {where} GROUP BY ai_llm_id", params)
    out = {}
    for r in rows:
        out[r[0]] = {k: v for k, v in zip(LLM_STATS_FIELDS, r[1:])}
    return out


def _windows(rng: random.Random) -> list[tuple[datetime | None, datetime | None]]:
    s = lambda sec: T0 + timedelta(seconds=sec)  # noqa: E731
    fixed = [
        (None, None),
        (s(5 * 3600 + 17 * 60 + 33), s(2 * 86400 + 3 * 3600 + 41 * 60 + 12)),  # days, hours, minutes
        (s(3600 + 60), s(23 * 3600 + 59)),  # hours and edges within one day
        (s(7 * 3600 + 10 * 60), s(7 * 3600 + 50 * 60)),  # inside one hour
        (None, s(86400 + 30 * 60)),
        (s(86400 - 1), None),
    ]
    rand = []
    for _ in range(8):
        a = rng.randrange(SPAN_S)
        rand.append((s(a), s(a + rng.randrange(SPAN_S - a + 1))))
    return fixed + rand


async def _assert_same(wh: Warehouse, rng: random.Random) -> None:
    for lo, hi in _windows(rng):
        plan = plan_range(lo, hi)
        for ids in (None, ["c1"]):
            got = await wh.llm_stats(["w"], ids, lo, hi)
            want = await _from_minutes(wh, ids, lo, hi)
            assert got == want, (lo, hi, plan)


async def test_llm_stats_from_rollups_equal_the_minute_path(warehouse):  # noqa: F811
    await _fill(warehouse, 30_000, 1)
    # the windows do use all three tables
    plan = plan_range(*_windows(random.Random(0))[1])
    assert plan.days and plan.hours and plan.minutes
    calls = await warehouse.query("SELECT sum(api_calls) FROM usage_llm_daily WHERE workspace_id = 'w'")
    assert calls[0][0] == sum(1 for i in range(30_000) if i % 7)
    await _assert_same(warehouse, random.Random(2))
    totals = await warehouse.llm_stats(["w"], None, None, None)
    assert totals["c2"]["num_blocks"] > 0 and totals["c2"]["limit_blocks"] > 0 and totals["c2"]["cost_usd"] > 0


def _apply_upto(client, version: int) -> None:
    applied_versions(client)
    for mig in load_migrations(400):
        if mig.version <= version:
            for stmt in mig.statements:
                client.command(stmt)
            client.insert("schema_migrations", [[mig.version, mig.name]], column_names=["version", "name"])


async def test_upgrade_backfills_history_once():
    wh = Warehouse(ch_settings(), database=f"t_{uuid.uuid4().hex[:12]}")

    def before_006() -> None:
        wh._client = wh._factory()
        _apply_upto(wh._client, 5)

    await wh._run(before_006)
    try:
        await _fill(wh, 20_000, 3)  # metered before the upgrade
        assert await wh._run(migrate, wh.client, 400) == [6]
        await _assert_same(wh, random.Random(4))
        await _fill(wh, 5_000, 5)  # metered after: the views keep the rollups current
        await _assert_same(wh, random.Random(6))
        # a second process applying the same backfill at the same time adds nothing
        backfill = next(m for m in load_migrations(400) if m.version == 6).statements[-1]
        assert backfill.startswith("INSERT INTO usage_llm_hourly")
        await wh._run(wh.client.command, backfill)
        await _assert_same(wh, random.Random(7))
    finally:
        await wh.stop()


async def test_series_read_in_pieces_equals_one_query(warehouse):  # noqa: F811
    """`/aistats/*` reads the first hour (day) first and the rest only when the limit is not
    reached: the lines are exactly those of one query over the whole window."""
    from warehouse.client import read_series_json
    from warehouse.queries import SeriesFilter, series_json_query, series_pieces

    await _fill(warehouse, 30_000, 8)
    s = lambda sec: T0 + timedelta(seconds=sec)  # noqa: E731
    cases = []
    for ws in (["w"], ["w", "w2"]):
        for lo, hi in ((s(3 * 3600 + 1234), s(27 * 3600 + 5)), (s(10), s(50 * 60)), (s(0), s(SPAN_S))):
            for limit in (1, 40, 2_000, 100_000):
                cases.append(("minute", SeriesFilter(ws, lo, hi, limit=limit)))
                cases.append(("daily", SeriesFilter(ws, lo, hi, limit=limit)))
        cases.append(("minute", SeriesFilter(ws, s(0), s(SPAN_S), key_ids=["k3"], limit=500)))
    split = 0
    for grain, f in cases:
        split += len(series_pieces(grain, f)) > 1
        sql, params = series_json_query(grain, f)
        want = await warehouse._run(warehouse.client.raw_query, sql, params)
        got = await warehouse.usage_series_json(grain, f)
        assert got == want, (grain, f)
        assert got.count(b"\n") == min(f.limit, want.count(b"\n"))
    assert split == 24  # 24 h and 3 d windows in minutes, 3 d in days; short ones stay whole
    assert read_series_json is not None
