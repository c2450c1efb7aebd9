"""The gateway's in-memory policy state: compiled policies, consumer decisions, local budgets.

Glue around the pure parts (`evaluate`, `BudgetLedger`); holds no clients and never blocks.
The gateway calls `precheck` before forwarding and `settle` after the response (both on its
event loop), `set_policies` when the config snapshot reloads, `apply_decision` for every
record of the decisions topic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from policy.budget import BudgetLedger, Reservation, worst_case_tokens
from policy.evaluate import (
    LIMIT,
    Check,
    CompiledPolicy,
    RequestContext,
    Verdict,
    blocking,
    evaluate_checks,
    prepare,
    scoped,
)
from policy.rules import LIMIT_RULES, LimitRule, TokenBudgetRule, limit_metrics, limit_span, subject_key
from schemas.events import Decision

BUDGET_METRICS = frozenset({"tokens", "usd_pico"})
MAX_SCOPES = 4096  # repositories whose scoped checks are kept per policy set (starts over when full)


@dataclass(frozen=True, slots=True)
class _Scope:
    """What one repository's requests are checked against, computed once per policy set."""

    checks: tuple[Check, ...]
    # Blocking limits to reserve on admission:
    # (policy id, per, subject or None when it depends on the key, span, ((metric, limit), ...)).
    reserve: tuple[tuple[str, Any, str | None, str, tuple[tuple[str, int], ...]], ...]


@dataclass
class PrecheckResult:
    verdicts: list[Verdict]
    block: Verdict | None
    reservations: list[Reservation] = field(default_factory=list)


class PolicyEngine:
    """Implements `LimitState` for `evaluate` from decisions + the local ledger."""

    def __init__(self, ledger: BudgetLedger | None = None, gateway_id: str = ""):
        self.ledger = ledger or BudgetLedger(gateway_id)
        self.policies: list[CompiledPolicy] = []
        self._decisions: dict[str, Decision] = {}
        self._limit_meta: dict[int, tuple[str, list[tuple[str, int]]]] = {}  # id(rule) -> span, metrics
        self._checks: tuple[Check, ...] = ()
        self._scopes: dict[tuple[str, str | None, str | None], _Scope] = {}

    # -- inputs
    def set_policies(self, policies: Iterable[CompiledPolicy]) -> None:
        self.policies = list(policies)
        # Per limit rule, computed once per policy set instead of on every request. Keyed by
        # id(): the rules stay alive in self.policies for as long as this map is used.
        self._limit_meta = {
            id(p.rule): (limit_span(p.rule), limit_metrics(p.rule))
            for p in self.policies
            if isinstance(p.rule, LIMIT_RULES)
        }
        self._checks = prepare(self.policies)
        self._scopes = {}

    def _scope(self, org_id: str, workspace_id: str | None, repo_id: str | None) -> _Scope:
        key = (org_id, workspace_id, repo_id)
        sc = self._scopes.get(key)
        if sc is None:
            checks = scoped(self._checks, org_id, workspace_id, repo_id)
            reserve = tuple(
                (p.id, *data, *self._meta_t(rule)) for kind, p, rule, data in checks if kind == LIMIT and p.blocks
            )
            sc = _Scope(checks, reserve)
            if len(self._scopes) >= MAX_SCOPES:
                self._scopes.clear()
            self._scopes[key] = sc
        return sc

    def _meta_t(self, rule: LimitRule) -> tuple[str, tuple[tuple[str, int], ...]]:
        span, metrics = self._meta(rule)
        return span, tuple(metrics)

    def _meta(self, rule: LimitRule) -> tuple[str, list[tuple[str, int]]]:
        meta = self._limit_meta.get(id(rule))
        return meta if meta is not None else (limit_span(rule), limit_metrics(rule))

    def apply_decision(self, d: Decision) -> None:
        """Latest decision per subject wins; token usage feeds the ledger's published state."""
        prev = self._decisions.get(d.subject)
        if prev is not None and prev.occurred_at > d.occurred_at:
            return
        self._decisions[d.subject] = d
        if d.used is not None and d.until is not None:
            pol = next((p for p in self.policies if p.id == d.policy_id), None)
            if pol is not None and isinstance(pol.rule, TokenBudgetRule):
                self.ledger.apply_published(d.subject, "tokens", limit_span(pol.rule), d.until, d.used, d.used_by)

    # -- LimitState
    def blocked_until(self, subject: str, rule: LimitRule, now: datetime) -> datetime | None:
        d = self._decisions.get(subject)
        if d is not None and d.blocked and d.until is not None and d.until > now:
            return d.until  # a consumer decision in force (same test as `decision_blocks`)
        span, metrics = self._meta(rule)
        end = None
        for metric, limit in metrics:
            e = self.ledger.would_exceed(subject, metric, limit, span, now)
            if e is not None and (end is None or e > end):
                end = e
        return end

    def decision_blocks(self, subject: str, now: datetime) -> bool:
        d = self._decisions.get(subject)
        return d is not None and d.blocked and d.until is not None and d.until > now

    def contended(self, result: PrecheckResult, now: datetime) -> bool:
        """True when the refusal is only due to in-flight worst-case reservations: no 403, no
        consumer decision in force, and every limit that refused still has settled usage below
        it. Waiting for settlements may then admit the request (see `producers.policy.hooks`)."""
        if result.block is None or result.block.status != 429:
            return False
        by_id = {p.id: p for p in self.policies}
        for v in result.verdicts:
            if v.status != 429:
                continue
            p = by_id.get(v.policy_id)
            if p is None or v.subject is None or not isinstance(p.rule, LIMIT_RULES):
                return False
            if self.decision_blocks(v.subject, now):
                return False
            span = limit_span(p.rule)
            for metric, limit in limit_metrics(p.rule):
                if self.ledger.settled_used(v.subject, metric, span, now) >= limit:
                    return False
        return True

    # -- per request
    def precheck(self, ctx: RequestContext, now: datetime) -> PrecheckResult:
        """Verdicts; when admitted, reservations for every blocking limit that applies."""
        sc = self._scope(ctx.org_id, ctx.workspace_id, ctx.repo_id)
        verdicts = evaluate_checks(sc.checks, ctx, now=now, limits=self)
        block = blocking(verdicts) if verdicts else None
        result = PrecheckResult(verdicts, block)
        if block is not None or not sc.reserve:
            return result
        worst = worst_case_tokens(ctx.prompt_tokens_estimate, ctx.output_cap or ctx.max_tokens)
        reserve, out = self.ledger.reserve, result.reservations
        for pid, per, subject, span, metrics in sc.reserve:
            if subject is None:
                subject = subject_key(per, ctx.subject_id(per), pid)
            for metric, _limit in metrics:
                amount = 1 if metric == "requests" else (ctx.worst_usd_pico if metric == "usd_pico" else worst)
                out.append(reserve(subject, metric, span, now, amount))
        return result

    def settle(
        self, result: PrecheckResult, tokens: int, now: datetime, *, forwarded: bool = True, cost_pico: int = 0
    ) -> None:
        """After the response: reservations become actual usage (nothing if never forwarded)."""
        for res in result.reservations:
            metric = res.key[1]
            if metric == "requests":
                self.ledger.settle(res, 1 if forwarded else 0, now)
            elif metric == "usd_pico":
                self.ledger.settle(res, cost_pico if forwarded else 0, now)
            else:
                self.ledger.settle(res, tokens if forwarded else 0, now)
        result.reservations.clear()

    def prune(self, now: datetime) -> None:
        self.ledger.prune(now)
        for s in [
            s for s, d in self._decisions.items() if d.until is not None and d.until + timedelta(minutes=1) <= now
        ]:
            del self._decisions[s]
