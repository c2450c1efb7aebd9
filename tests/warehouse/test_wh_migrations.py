"""Warehouse DDL on the embedded engine: applies, re-runs idempotently, TTL follows settings."""

from __future__ import annotations

import uuid

import pytest

from tests.warehouse.support import ch_settings, warehouse  # noqa: F401
from warehouse.client import Warehouse
from warehouse.migrate import load_migrations, migrate

pytestmark = pytest.mark.clickhouse


def test_migration_files_parse_and_substitute_ttl():
    migs = load_migrations(90)
    assert [m.version for m in migs] == sorted(m.version for m in migs)
    text = "\n".join(s for m in migs for s in m.statements)
    assert "toIntervalDay(90)" in text and "__RAW_TTL_DAYS__" not in text
    assert "non_replicated_deduplication_window" in text
    with pytest.raises(ValueError):
        load_migrations(0)


async def test_tables_exist_and_rerun_is_noop(warehouse):  # noqa: F811
    names = {r[0] for r in await warehouse.query("SELECT name FROM system.tables WHERE database = currentDatabase()")}
    for t in (
        "requests",
        "violations",
        "usage_minute",
        "usage_daily",
        "ingest_log",
        "schema_migrations",
        "usage_minute_from_requests",
        "usage_minute_from_violations",
        "usage_daily_from_minute",
        "usage_llm_hourly",
        "usage_llm_daily",
        "usage_llm_hourly_from_minute",
        "usage_llm_daily_from_hourly",
    ):
        assert t in names
    before = await warehouse.query("SELECT version FROM schema_migrations ORDER BY version")
    assert await warehouse._run(migrate, warehouse.client, 400) == []
    after = await warehouse.query("SELECT version FROM schema_migrations ORDER BY version")
    assert before == after and len(after) == len(load_migrations(400))
    # every raw table and MV target keeps dedup block ids
    engines = dict(
        await warehouse.query("SELECT name, engine_full FROM system.tables WHERE database = currentDatabase()")
    )
    for t in ("requests", "violations", "usage_minute", "usage_daily", "usage_llm_hourly", "usage_llm_daily"):
        assert "non_replicated_deduplication_window = 10000" in engines[t]
    assert "toIntervalDay(400)" in engines["requests"]


async def test_changed_ttl_is_applied_on_restart():
    db = f"t_{uuid.uuid4().hex[:12]}"
    wh = Warehouse(ch_settings(), database=db)
    await wh.start()
    await wh.stop()
    wh2 = Warehouse(ch_settings(raw_ttl_days=30), database=db)
    await wh2.start()
    try:
        rows = await wh2.query(
            "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'violations'"
        )
        assert "toIntervalDay(30)" in rows[0][0]
    finally:
        await wh2.stop()


async def test_rollup_projections_serve_id_filters(warehouse):  # noqa: F811
    """Migration 004: repo/key projections exist on both rollups and answer id-filtered reads."""
    for t in ("usage_minute", "usage_daily"):
        ddl = (await warehouse.query(f"SHOW CREATE TABLE {t}"))[0][0]
        assert "PROJECTION by_repo" in ddl and "PROJECTION by_key" in ddl
    await warehouse._run(
        warehouse.client.command,
        "INSERT INTO usage_minute (bucket, workspace_id, repo_id, repo_ai_api_key_id, api_calls) "
        "SELECT toDateTime(1700000000 + number * 60, 'UTC'), 'w', concat('r', toString(number % 50)), "
        "concat('k', toString(number % 200)), 1 FROM numbers(50000)",
    )
    for col, value, table, want in (("repo_ai_api_key_id", "k11", "by_key", 250), ("repo_id", "r7", "by_repo", 1000)):
        sql = f"SELECT sum(api_calls) FROM usage_minute WHERE workspace_id = 'w' AND {col} = '{value}'"
        plan = "\n".join(r[0] for r in await warehouse.query("EXPLAIN " + sql))
        assert table in plan
        assert (await warehouse.query(sql))[0][0] == want
