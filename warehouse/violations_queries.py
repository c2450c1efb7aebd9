"""SQL for `/policy/violations` and `/policy/alerts` over the raw `violations` table.

Pure: builds parameterized SQL + bound values, runs nothing (run with `Warehouse.query`).
Every query is scoped by `workspace_id IN {ws}` first (the table's sort key), then by time,
so a page costs a range read, not a table scan. Alerts are the rows with action_type 1;
violations are all rows (log, alert and block), newest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

VIOLATION_FIELDS = (
    "event_id",
    "occurred_at",
    "policy_id",
    "policy_name",
    "explanation",
    "conversation_id",
    "repo_id",
    "user_id",
    "repo_ai_api_key_id",
    "severity",
    "block",
    "llm_type",
    "llm_model",
    "gateway_id",
    "action_type",
    "workspace_id",
)


@dataclass(frozen=True)
class ViolationFilter:
    workspace_ids: Sequence[str]
    repo_id: str | None = None
    policy_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    llm_models: Sequence[str] = field(default_factory=tuple)
    severities: Sequence[str] = field(default_factory=tuple)
    block: bool | None = None
    alerts_only: bool = False
    take: int = 50
    skip: int = 0


def _where(f: ViolationFilter) -> tuple[str, dict[str, Any]]:
    parts = ["workspace_id IN {ws:Array(String)}"]
    params: dict[str, Any] = {"ws": list(f.workspace_ids)}
    if f.repo_id:
        parts.append("repo_id = {repo:String}")
        params["repo"] = f.repo_id
    if f.policy_id:
        parts.append("policy_id = {policy:String}")
        params["policy"] = f.policy_id
    if f.start:
        parts.append("occurred_at >= {start:DateTime64(3, 'UTC')}")
        params["start"] = f.start
    if f.end:
        parts.append("occurred_at <= {end:DateTime64(3, 'UTC')}")
        params["end"] = f.end
    if f.llm_models:
        parts.append("llm_model IN {models:Array(String)}")
        params["models"] = list(f.llm_models)
    if f.severities:
        parts.append("severity IN {sev:Array(String)}")
        params["sev"] = list(f.severities)
    if f.block is not None:
        parts.append("block = {block:Bool}")
        params["block"] = f.block
    if f.alerts_only:
        parts.append("action_type = 1")
    return " AND ".join(parts), params


def page_query(f: ViolationFilter) -> tuple[str, dict[str, Any]]:
    """One page of rows (VIOLATION_FIELDS order), newest first; duplicates collapsed by id."""
    where, params = _where(f)
    params.update(take=int(f.take), skip=int(f.skip))
    cols = ", ".join(VIOLATION_FIELDS)
    sql = (
        f"SELECT {cols} FROM violations WHERE {where} "
        "ORDER BY occurred_at DESC, event_id DESC LIMIT 1 BY event_id "
        "LIMIT {take:UInt32} OFFSET {skip:UInt64}"
    )
    return sql, params


def count_query(f: ViolationFilter) -> tuple[str, dict[str, Any]]:
    where, params = _where(f)
    return f"SELECT uniqExact(event_id) FROM violations WHERE {where}", params
