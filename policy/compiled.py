"""Policies as gateways and the policy consumer hold them in memory: rule parsed, patterns compiled.

Pure: no I/O. `compile_policy` raises `RuleError` on a bad stored rule; `compile_policies`
skips such rows so one bad row cannot stop enforcement of the rest.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from policy.rules import ContentPatternRule, Rule, RuleError, compile_pattern, parse_rule
from schemas.enums import ActionType

# ---------------------------------------------------------------- in-memory policies


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A policy as gateways and the policy consumer hold it in memory (rule parsed, patterns compiled)."""

    id: str
    org_id: str
    name: str
    action_type: int
    risk_type: str = "MEDIUM"
    workspace_id: str | None = None
    repo_id: str | None = None
    content: str = ""
    rule: Rule | None = None
    patterns: tuple[Any, ...] = ()  # compiled RE2 patterns of a CONTENT_PATTERN rule
    # One alternation of all the patterns (None: fewer than two), and the indexes searched on
    # their own. A pre-filter only: a hit re-runs the patterns one by one, so the explanation
    # names the first matching pattern in order.
    patterns_any: Any = None
    patterns_alone: tuple[int, ...] = ()

    @property
    def blocks(self) -> bool:
        return self.action_type == ActionType.BLOCK

    def applies_to(self, org_id: str, workspace_id: str | None, repo_id: str | None) -> bool:
        """Org policies apply to every repo of the org; workspace ones to its repos; repo ones to it."""
        if self.org_id != org_id:
            return False
        if self.workspace_id is not None and self.workspace_id != workspace_id:
            return False
        if self.repo_id is not None and self.repo_id != repo_id:
            return False
        return True


def compile_policy(
    *,
    id: str,
    org_id: str,
    name: str,
    action_type: int,
    risk_type: str = "MEDIUM",
    workspace_id: str | None = None,
    repo_id: str | None = None,
    content: str = "",
    rule: Mapping[str, Any] | Rule | None = None,
) -> CompiledPolicy:
    """Parse the rule and pre-compile its patterns (raises RuleError on a bad stored rule)."""
    parsed = parse_rule(dict(rule) if isinstance(rule, Mapping) else rule) if rule is not None else None
    patterns: tuple[Any, ...] = ()
    patterns_any: Any = None
    patterns_alone: tuple[int, ...] = ()
    if isinstance(parsed, ContentPatternRule):
        try:
            patterns = tuple(compile_pattern(p) for p in parsed.patterns)
        except ValueError as exc:
            raise RuleError(f"rule.patterns: not compilable by RE2 ({exc})") from None
        patterns_any, patterns_alone = merge_patterns(parsed.patterns)
    return CompiledPolicy(
        id=id,
        org_id=org_id,
        name=name,
        action_type=int(action_type),
        risk_type=risk_type,
        workspace_id=workspace_id,
        repo_id=repo_id,
        content=content or "",
        rule=parsed,
        patterns=patterns,
        patterns_any=patterns_any,
        patterns_alone=patterns_alone,
    )


def merge_patterns(sources: list[str] | tuple[str, ...]) -> tuple[Any, tuple[int, ...]]:
    """(one RE2 alternation of all the patterns or None, indexes searched on their own).

    One search of the alternation finds a match iff one of the patterns matches (each is wrapped
    in its own group, so inline flags stay scoped), at about the cost of a single search;
    callers re-run the patterns singly only on a hit, to name the first one."""
    if len(sources) < 2:
        return None, tuple(range(len(sources)))
    try:
        merged = compile_pattern("|".join(f"(?:{src})" for src in sources))
    except ValueError:
        return None, tuple(range(len(sources)))
    return merged, ()


def compile_policies(rows: Iterable[Any]) -> list[CompiledPolicy]:
    """From store rows (attributes) or dicts; rows whose stored rule no longer parses are skipped."""
    out = []
    for r in rows:
        get: Callable[[str], Any] = r.get if isinstance(r, Mapping) else functools.partial(getattr, r)
        try:
            out.append(
                compile_policy(
                    id=get("id"),
                    org_id=get("org_id"),
                    name=get("name"),
                    action_type=get("action_type"),
                    risk_type=get("risk_type") or "MEDIUM",
                    workspace_id=get("workspace_id"),
                    repo_id=get("repo_id"),
                    content=get("content") or "",
                    rule=get("rule"),
                )
            )
        except RuleError:
            continue
    return out
