"""Pure range planning of the stats queries."""
from __future__ import annotations

from datetime import date, datetime, timezone

from warehouse.queries import SeriesFilter, llm_stats_query, plan_range, series_query

UTC = timezone.utc


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
    f = SeriesFilter([evil], datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC),
                     repo_ids=[evil], models=[evil])
    sql, params = series_query("minute", f)
    assert evil not in sql and params["r"] == [evil] and params["m"] == [evil]
    assert " OR " not in sql  # a single id list: nothing to OR
    f2 = SeriesFilter(["w"], f.start, f.end, repo_ids=["a"], ai_llm_ids=["b"], key_ids=["c"])
    sql2, _ = series_query("daily", f2)
    assert sql2.count(" OR ") == 2 and "usage_daily" in sql2
