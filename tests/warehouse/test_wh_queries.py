"""Pure range planning of the stats queries."""

from __future__ import annotations

from datetime import UTC, date, datetime

from warehouse.queries import SeriesFilter, llm_stats_query, plan_range, series_query

UTC = UTC


def test_plan_range_splits_whole_days_and_edges():
    p = plan_range(datetime(2024, 1, 1, 10, 30, 20, tzinfo=UTC), datetime(2024, 1, 4, 5, 0, tzinfo=UTC))
    assert p.minute_lo == datetime(2024, 1, 1, 10, 30, tzinfo=UTC)
    assert (p.day_lo, p.day_hi) == (date(2024, 1, 2), date(2024, 1, 3))
    p = plan_range(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 23, 59, 59, 999000, tzinfo=UTC))
    assert (p.day_lo, p.day_hi) == (date(2024, 1, 1), date(2024, 1, 1))
    p = plan_range(datetime(2024, 1, 1, 0, 1, tzinfo=UTC), datetime(2024, 1, 1, 23, 0, tzinfo=UTC))
    assert p.day_lo is None
    p = plan_range(None, None)
    assert p.day_lo is not None and p.day_hi is not None


def test_queries_bind_values_never_format_them():
    evil = "x' OR 1=1 --"
    sql, params = llm_stats_query([evil], [evil], None, None)
    assert evil not in sql and params["ws"] == [evil] and params["ids"] == [evil]
    f = SeriesFilter(
        [evil], datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC), repo_ids=[evil], models=[evil]
    )
    sql, params = series_query("minute", f)
    assert evil not in sql and params["r"] == [evil] and params["m"] == [evil]
    assert " OR " not in sql  # a single id list: nothing to OR
    f2 = SeriesFilter(["w"], f.start, f.end, repo_ids=["a"], ai_llm_ids=["b"], key_ids=["c"])
    sql2, _ = series_query("daily", f2)
    assert sql2.count(" OR ") == 2 and "usage_daily" in sql2


def test_series_json_query_binds_values_and_picks_order_and_settings():
    from warehouse.queries import series_json_query

    evil = "x' OR 1=1 --"
    one = SeriesFilter([evil], datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
    sql, params = series_json_query("minute", one)
    assert evil not in sql and params["ws"] == [evil] and sql.endswith("FORMAT JSONEachRow")
    assert "ORDER BY workspace_id, bucket" in sql and "optimize_aggregation_in_order = 1" in sql
    two = SeriesFilter(["a", "b"], one.start, one.end, key_ids=["k"])
    sql, params = series_json_query("daily", two)
    assert "ORDER BY bucket," in sql and "usage_daily" in sql and params["k"] == ["k"]
    assert "optimize_aggregation_in_order" not in sql  # an id filter reads a projection


def test_series_body_joins_lines_and_truncates():
    import orjson

    from api.routers.stats import series_body

    rows = [{"timestamp": f"2024-01-01T00:0{i}:00.000Z", "apiCalls": str(i), "host": "a\nb"} for i in range(3)]
    raw = b"".join(orjson.dumps(r) + b"\n" for r in rows)
    assert orjson.loads(series_body(raw, 10)) == {"success": True, "data": rows, "truncated": False}
    assert orjson.loads(series_body(raw, 2)) == {"success": True, "data": rows[:2], "truncated": True}
    assert orjson.loads(series_body(b"", 2)) == {"success": True, "data": [], "truncated": False}
