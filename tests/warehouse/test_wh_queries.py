"""Pure range planning of the stats queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warehouse.queries import RangePlan, SeriesFilter, llm_stats_query, plan_range, series_query

UTC = UTC


def test_plan_range_splits_whole_days_hours_and_edges():
    t = lambda d, h=0, m=0: datetime(2024, 1, d, h, m, tzinfo=UTC)  # noqa: E731
    p = plan_range(datetime(2024, 1, 1, 10, 30, 20, tzinfo=UTC), datetime(2024, 1, 4, 5, 7, 59, tzinfo=UTC))
    assert p.days == ((t(2), t(4)),)
    assert p.hours == ((t(1, 11), t(2)), (t(4), t(4, 5)))
    assert p.minutes == ((t(1, 10, 30), t(1, 11)), (t(4, 5), t(4, 5, 8)))
    # a date-only end (last millisecond of the day) makes the day whole
    p = plan_range(t(1), datetime(2024, 1, 1, 23, 59, 59, 999000, tzinfo=UTC))
    assert p == RangePlan(((t(1), t(2)),), (), ())
    # inside one hour: minutes only; within a day: whole hours plus edges
    assert plan_range(t(1, 10, 1), t(1, 10, 58)) == RangePlan((), (), ((t(1, 10, 1), t(1, 10, 59)),))
    p = plan_range(t(1, 0, 1), t(1, 23, 0))
    assert p.days == () and p.hours == ((t(1, 1), t(1, 23)),)
    assert p.minutes == ((t(1, 0, 1), t(1, 1)), (t(1, 23), t(1, 23, 1)))
    # unbounded: whole days only; empty: one empty minute span
    p = plan_range(None, None)
    assert len(p.days) == 1 and p.hours == () and p.minutes == ()
    assert plan_range(t(2), t(1)).days == () and plan_range(t(2), t(1)).hours == ()


def test_plan_range_spans_cover_each_minute_once():
    import random

    rng = random.Random(5)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    for _ in range(200):
        lo = base + timedelta(minutes=rng.randrange(3 * 1440), seconds=rng.randrange(60))
        hi = lo + timedelta(minutes=rng.randrange(3 * 1440), seconds=rng.randrange(60))
        p = plan_range(lo, hi)
        spans = sorted(p.days + p.hours + p.minutes)
        assert spans[0][0] == lo.replace(second=0) and spans[-1][1] == hi.replace(second=0) + timedelta(minutes=1)
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # contiguous, disjoint
        assert all(a.minute == 0 and b.minute == 0 for a, b in p.hours)
        assert all(a.hour == 0 and b.hour == 0 and a.minute == 0 and b.minute == 0 for a, b in p.days)


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


def test_series_pieces_split_only_long_unfiltered_windows():
    from warehouse.queries import series_pieces

    t = lambda h, m=0: datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=h, minutes=m)  # noqa: E731
    one = SeriesFilter(["w"], t(0, 30), t(1, 50))
    assert series_pieces("minute", one) == [one]  # under two hours: one query
    f = SeriesFilter(["w"], t(0, 30), t(24, 30))
    a, b = series_pieces("minute", f)
    assert (a.start, a.end, b.start, b.end) == (f.start, t(1, 29), t(1, 30), f.end)
    assert series_pieces("minute", SeriesFilter(["w"], f.start, f.end, key_ids=["k"]))[0].key_ids == ["k"]
    assert len(series_pieces("minute", SeriesFilter(["w"], f.start, f.end, repo_ids=["r"]))) == 1
    a, b = series_pieces("daily", SeriesFilter(["w"], t(3), t(24 * 5)))
    assert a.end == t(0) and b.start == t(24)
    assert len(series_pieces("daily", SeriesFilter(["w"], t(3), t(24 + 5)))) == 1
