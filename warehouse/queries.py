"""Stats SQL over the rollups (pure: builds parameterized SQL + bound values, runs nothing).

Range semantics: an event counts when its minute bucket lies in [floor_minute(start), end].
`/ai/llm/stats` reads whole days from `usage_llm_daily`, whole hours from `usage_llm_hourly`
(both one row per configuration and bucket) and only the ragged edge minutes from
`usage_minute`, so a year-long range costs a few thousand small rows, not a table scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

LAST_INTENT_SQL = (
    "SELECT argMax(first_offset, last_offset), max(last_offset), argMax(token, last_offset) "
    "FROM ingest_log WHERE topic = {topic:String} AND partition = {partition:UInt32}"
)

LLM_STATS_FIELDS = (
    "api_calls",
    "tokens_in",
    "tokens_out",
    "llm_tokens_in",
    "llm_tokens_out",
    "policy_violations",
    "num_alerts",
    "num_blocks",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "unpriced_calls",
    "limit_blocks",
    "llm_cost_usd",
)
DECIMAL_FIELDS = frozenset({"cost_usd", "llm_cost_usd"})

SERIES_FIELDS = (
    "bucket",
    "repo_id",
    "ai_llm_id",
    "repo_ai_api_key_id",
    "llm_type",
    "llm_model",
    "host",
    "tokens_in",
    "tokens_out",
    "llm_tokens_in",
    "llm_tokens_out",
    "api_calls",
    "policy_violations",
    "num_alerts",
    "num_blocks",
    "num_severity_low",
    "num_severity_medium",
    "num_severity_high",
    "latency_ms_sum",
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_DT = datetime(2106, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def floor_minute(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(second=0, microsecond=0)


def floor_hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def floor_day(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _ceil(t: datetime, floor: Any, step: timedelta) -> datetime:
    f = floor(t)
    return f if f == t else f + step


def _epoch(t: datetime) -> int:
    return int((t - _EPOCH).total_seconds())


Span = tuple[datetime, datetime]  # [lo, hi): half-open, UTC


@dataclass(frozen=True)
class RangePlan:
    """The minute buckets of [floor_minute(start), end] as disjoint half-open spans: whole UTC
    days (read from usage_llm_daily), whole hours (usage_llm_hourly) and the ragged minutes at
    the edges (usage_minute)."""

    days: tuple[Span, ...]
    hours: tuple[Span, ...]
    minutes: tuple[Span, ...]


def plan_range(start: datetime | None, end: datetime | None) -> RangePlan:
    """Pure: split [start, end] (None: unbounded) into whole days, whole hours and minutes."""
    lo = floor_minute(start) if start else _EPOCH
    hi = floor_minute(end) + MINUTE if end else _MAX_DT  # bucket <= end  <=>  bucket < hi
    if hi <= lo:
        return RangePlan((), (), ((lo, lo),))
    days: list[Span] = []
    rest: list[Span] = [(lo, hi)]
    d_lo, d_hi = _ceil(lo, floor_day, DAY), floor_day(hi)
    if d_lo < d_hi:
        days.append((d_lo, d_hi))
        rest = [(lo, d_lo), (d_hi, hi)]
    hours: list[Span] = []
    minutes: list[Span] = []
    for a, b in rest:
        if a >= b:
            continue
        h_lo, h_hi = _ceil(a, floor_hour, HOUR), floor_hour(b)
        if h_lo < h_hi:
            hours.append((h_lo, h_hi))
            minutes += [s for s in ((a, h_lo), (h_hi, b)) if s[0] < s[1]]
        else:
            minutes.append((a, b))
    return RangePlan(tuple(days), tuple(hours), tuple(minutes))


_SUMS = ", ".join(f"sum({c}) AS {c}" for c in LLM_STATS_FIELDS)
_COLS = ", ".join(LLM_STATS_FIELDS)


def _span_sql(spans: Sequence[Span], tag: str, params: dict[str, Any], *, dates: bool = False) -> str:
    """`(bucket >= lo AND bucket < hi) OR ...` with the bounds bound as values."""
    out = []
    for i, (lo, hi) in enumerate(spans):
        a, b = f"{tag}{i}a", f"{tag}{i}b"
        if dates:
            params[a], params[b] = lo.date().isoformat(), hi.date().isoformat()
            out.append(f"(bucket >= {{{a}:Date}} AND bucket < {{{b}:Date}})")
        else:
            params[a], params[b] = _epoch(lo), _epoch(hi)
            out.append(f"(bucket >= toDateTime({{{a}:UInt32}}, 'UTC') AND bucket < toDateTime({{{b}:UInt32}}, 'UTC'))")
    return "(" + " OR ".join(out) + ")"


def llm_stats_query(
    workspace_ids: Sequence[str], ai_llm_ids: Sequence[str] | None, start: datetime | None, end: datetime | None
) -> tuple[str, dict[str, Any]]:
    """Totals per configuration over [start, end]: whole days and hours from the per-config
    rollups (a few hundred rows for a month), edge minutes from usage_minute."""
    plan = plan_range(start, end)
    params: dict[str, Any] = {"ws": list(workspace_ids)}
    scope = "workspace_id IN {ws:Array(String)}"
    if ai_llm_ids is not None:
        params["ids"] = list(ai_llm_ids)
        scope += " AND ai_llm_id IN {ids:Array(String)}"
    parts = []
    for table, spans, tag in (
        ("usage_llm_daily", plan.days, "d"),
        ("usage_llm_hourly", plan.hours, "h"),
        ("usage_minute", plan.minutes, "m"),
    ):
        if spans:
            where = _span_sql(spans, tag, params, dates=tag == "d")
            parts.append(f"SELECT ai_llm_id, {_COLS} FROM {table} WHERE {scope} AND {where}")
    sql = f"SELECT ai_llm_id, {_SUMS} FROM ({' UNION ALL '.join(parts)}) GROUP BY ai_llm_id ORDER BY ai_llm_id"
    return sql, params


@dataclass(frozen=True)
class SeriesFilter:
    workspace_ids: Sequence[str]
    start: datetime
    end: datetime
    repo_ids: Sequence[str] = field(default_factory=tuple)
    ai_llm_ids: Sequence[str] = field(default_factory=tuple)
    key_ids: Sequence[str] = field(default_factory=tuple)
    models: Sequence[str] = field(default_factory=tuple)
    limit: int = 10_000


def _series_where(grain: str, f: SeriesFilter) -> tuple[str, str, dict[str, Any]]:
    """(table, WHERE clause, bound values) shared by both series queries."""
    if grain not in ("minute", "daily"):
        raise ValueError("grain must be minute or daily")
    params: dict[str, Any] = {"ws": list(f.workspace_ids), "lim": int(f.limit)}
    where = ["workspace_id IN {ws:Array(String)}"]
    if grain == "minute":
        table = "usage_minute"
        params["lo"] = _epoch(floor_minute(f.start))
        params["hi"] = _epoch(f.end.astimezone(UTC))
        where.append("bucket >= toDateTime({lo:UInt32}, 'UTC') AND bucket <= toDateTime({hi:UInt32}, 'UTC')")
    else:
        table = "usage_daily"
        params["lo"] = f.start.astimezone(UTC).date().isoformat()
        params["hi"] = f.end.astimezone(UTC).date().isoformat()
        where.append("bucket >= {lo:Date} AND bucket <= {hi:Date}")
    ors = []
    for name, col, values in (
        ("r", "repo_id", f.repo_ids),
        ("a", "ai_llm_id", f.ai_llm_ids),
        ("k", "repo_ai_api_key_id", f.key_ids),
    ):
        if values:
            params[name] = list(values)
            ors.append(f"{col} IN {{{name}:Array(String)}}")
    if ors:
        where.append("(" + " OR ".join(ors) + ")")
    if f.models:
        params["m"] = list(f.models)
        where.append("llm_model IN {m:Array(String)}")
    return table, " AND ".join(where), params


def series_pieces(grain: str, f: SeriesFilter) -> list[SeriesFilter]:
    """Pure: the window as consecutive pieces whose rows, in order, are the window's rows: its
    first hour (minute grain) or day, then the rest; a window under two hours (days) stays
    whole. Only for reads without an id filter (those read a projection, and a repo's or key's
    rows rarely fill the limit early)."""
    if f.repo_ids or f.ai_llm_ids or f.key_ids:
        return [f]
    step = HOUR if grain == "minute" else DAY
    if grain == "minute":
        cut = floor_minute(f.start) + HOUR  # first piece: buckets < cut
        last_of_first = cut - MINUTE
    else:
        cut = floor_day(f.start) + DAY
        last_of_first = cut - DAY
    if f.end < cut + step:  # a short window: one query costs less than two
        return [f]
    return [replace(f, end=last_of_first), replace(f, start=cut)]


def series_query(grain: str, f: SeriesFilter) -> tuple[str, dict[str, Any]]:
    """Rows of the minute or day rollup, grouped by bucket and the API's dimensions."""
    table, where, params = _series_where(grain, f)
    dims = "bucket, repo_id, ai_llm_id, repo_ai_api_key_id, llm_type, llm_model, host"
    sums = ", ".join(f"sum({c})" for c in SERIES_FIELDS[7:])
    sql = f"SELECT {dims}, {sums} FROM {table} WHERE {where} GROUP BY {dims} ORDER BY {dims} LIMIT {{lim:UInt32}}"
    return sql, params


# (API field, rollup counter) of `/aistats/*`, formatted as decimal strings by ClickHouse.
SERIES_COUNTERS = (
    ("tokensIn", "tokens_in"),
    ("tokensOut", "tokens_out"),
    ("llmTokensIn", "llm_tokens_in"),
    ("llmTokensOut", "llm_tokens_out"),
    ("apiCalls", "api_calls"),
    ("policyViolations", "policy_violations"),
    ("numAlerts", "num_alerts"),
    ("numBlocks", "num_blocks"),
    ("numSeverityLow", "num_severity_low"),
    ("numSeverityMedium", "num_severity_medium"),
    ("numSeverityHigh", "num_severity_high"),
    ("cachedTokensIn", "cached_tokens"),
    ("unpricedCalls", "unpriced_calls"),
)
# `cost`: the decimal USD string (known prices summed); null when the row has calls with an
# unknown price and none with a known one (unknown is never shown as 0). `unpricedCalls` says
# how many calls of the row had tokens but no price.
_COST = "if(sum(unpriced_calls) > 0 AND sum(cost_usd) = 0, NULL, toString(toDecimal128(sum(cost_usd), 12)))"
# Inlined as the query's SETTINGS clause (measured cheaper than per-query settings on chdb).
SERIES_JSON_SETTINGS = {
    "output_format_json_array_of_rows": 0,
    "output_format_json_escape_forward_slashes": 0,
    "output_format_json_quote_64bit_floats": 0,
    "output_format_json_validate_utf8": 1,
}
# Without an id filter the read walks the main key, in the GROUP BY's order: aggregate in order.
# (An id filter reads a projection ordered by repo/key: hash aggregation is faster there.)
_IN_ORDER = {"optimize_aggregation_in_order": 1, "read_in_order_use_buffering": 0}


def series_json_settings(f: SeriesFilter) -> dict[str, Any]:
    """Pure: the read settings for `series_json_query(grain, f)`."""
    if f.repo_ids or f.ai_llm_ids or f.key_ids:
        return dict(SERIES_JSON_SETTINGS)
    return dict(SERIES_JSON_SETTINGS, **_IN_ORDER)


def series_json_query(grain: str, f: SeriesFilter) -> tuple[str, dict[str, Any]]:
    """Same rows as `series_query`, but each already in the API's shape (camelCase keys,
    counters as strings, ISO timestamp, average latency), to read as JSONEachRow so Python
    only joins lines. GROUP BY follows the rollup's sort key, so ClickHouse aggregates in key
    order; with one workspace ORDER BY does too (same order: time first), which lets a
    truncated read stop near the LIMIT instead of hashing the whole range."""
    table, where, params = _series_where(grain, f)
    # toString of DateTime('UTC') / Date is 'YYYY-MM-DD hh:mm:ss' / 'YYYY-MM-DD' (measured
    # cheaper than formatDateTime here).
    ts = (
        "concat(replaceOne(toString(bucket), ' ', 'T'), '.000Z')"
        if grain == "minute"
        else "concat(toString(bucket), 'T00:00:00.000Z')"
    )
    settings = ", ".join(f"{k} = {int(v)}" for k, v in series_json_settings(f).items())
    dims = "workspace_id, bucket, ai_llm_id, repo_id, repo_ai_api_key_id, llm_model, llm_type, host"
    order = dims if len(f.workspace_ids) == 1 else dims.replace("workspace_id, ", "") + ", workspace_id"
    counters = ", ".join(f"toString(sum({col})) AS `{name}`" for name, col in SERIES_COUNTERS)
    sql = (
        f"SELECT {ts} AS `timestamp`, "
        "repo_id AS `repoId`, ai_llm_id AS `aiLlmId`, repo_ai_api_key_id AS `repoAiApiKeyId`, "
        f"{counters}, {_COST} AS `cost`, toString(toDecimal128(sum(llm_cost_usd), 12)) AS `llmCost`, "
        "if(sum(api_calls) = 0, 0, round(sum(latency_ms_sum) / sum(api_calls), 3)) AS `latency_ms`, "
        "llm_type AS `llmType`, llm_model AS `llmModel`, host AS `host` "
        f"FROM {table} WHERE {where} GROUP BY {dims} ORDER BY {order} "
        f"LIMIT {{lim:UInt32}} SETTINGS {settings} FORMAT JSONEachRow"
    )
    return sql, params
