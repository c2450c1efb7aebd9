"""Pure fixed-window counters for TOKEN_BUDGET, COST_BUDGET and RATE_LIMIT policies. No I/O, no
clock.

Fed with request events (deduplicated by eventId, counted at the time the request happened),
they keep per (policy, subject, window) the requests, tokens and USD (in 1e-12 USD, from the
event's `costUsd`; a call without a known price adds nothing) used and report:

* a crossing (used >= limit, once per window): one ViolationEvent for any action, plus, for
  blocking policies, Decision(blocked=True, until=window end) for the compacted topic;
* token progress of blocking budgets (every `progress_step` of the limit): Decision(blocked=
  <crossed>, used=N, used_by={gatewayId: tokens}) so gateways can account against the published
  consumption without counting their own completions twice (see `policy.budget`);
* a rollover (window ended): Decision(blocked=False) for subjects that were blocked.

Blocked requests (status "blocked") are not usage and are not counted. Violation ids are
derived from (policy, subject, window) so a replay after a crash yields the same ids.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from policy.compiled import CompiledPolicy
from policy.rules import (
    PICO_PER_USD,
    CostBudgetRule,
    Per,
    RateLimitRule,
    TokenBudgetRule,
    limit_metrics,
    limit_span,
    subject_key,
    window_bounds,
)
from schemas.events import Decision, RequestEvent, ViolationEvent

_NS = uuid.UUID("6f1c3e52-6b0e-4d43-9a57-2f4f0c1d7a10")
_SEVERITY: dict[str, Literal["LOW", "MEDIUM", "HIGH"]] = {"LOW": "LOW", "MEDIUM": "MEDIUM", "HIGH": "HIGH"}


@dataclass
class _Count:
    policy: CompiledPolicy
    subject: str
    start: datetime
    end: datetime
    requests: int = 0
    tokens: int = 0
    usd_pico: int = 0
    crossed: bool = False
    published_tokens: int = 0
    released: bool = False
    by_gateway: dict[str, int] = field(default_factory=dict)  # tokens per request-event gatewayId

    def used_by(self) -> dict[str, int]:
        return dict(self.by_gateway)


@dataclass
class WindowOutput:
    decisions: list[Decision] = field(default_factory=list)
    violations: list[ViolationEvent] = field(default_factory=list)


LimitRule = TokenBudgetRule | CostBudgetRule | RateLimitRule
_COUNTED = (TokenBudgetRule, CostBudgetRule, RateLimitRule)


def cost_pico(cost_usd: str | None) -> int:
    """A request event's `costUsd` in 1e-12 USD (0 when no price is known)."""
    if not cost_usd:
        return 0
    try:
        return max(0, int(Decimal(cost_usd) * PICO_PER_USD))
    except (InvalidOperation, ValueError):
        return 0


def usd(pico: int) -> str:
    """1e-12 USD as a plain dollar string without trailing zeros ("0.25", "12")."""
    s = format(Decimal(pico).scaleb(-12), "f")
    return (s.rstrip("0").rstrip(".") if "." in s else s) or "0"


def _used(c: _Count, metric: str) -> int:
    return c.requests if metric == "requests" else c.usd_pico if metric == "usd_pico" else c.tokens


def _subject_id(per: Per, ev: RequestEvent) -> str:
    return {Per.KEY: ev.repo_ai_api_key_id, Per.REPO: ev.repo_id, Per.WORKSPACE: ev.workspace_id, Per.ORG: ev.org_id}[
        per
    ]


class PolicyWindows:
    """Counters for the limit policies of one consumer (one partition set). Never blocks."""

    def __init__(
        self, policies: Iterable[CompiledPolicy] = (), *, dedupe_capacity: int = 200_000, progress_step: float = 0.1
    ):
        self._policies: list[CompiledPolicy] = []
        self._counts: dict[tuple[str, str, datetime], _Count] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._cap = dedupe_capacity
        self._step = progress_step
        self.set_policies(policies)

    def set_policies(self, policies: Iterable[CompiledPolicy]) -> None:
        """Only limit policies matter here; counters of removed policies are dropped."""
        self._policies = [p for p in policies if isinstance(p.rule, _COUNTED)]
        live = {p.id: p for p in self._policies}
        for key in list(self._counts):
            if key[0] not in live:
                del self._counts[key]
            else:
                self._counts[key].policy = live[key[0]]

    def _is_new(self, event_id: str) -> bool:
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        if len(self._seen) > self._cap:
            self._seen.popitem(last=False)
        return True

    def apply(self, ev: RequestEvent) -> WindowOutput:
        out = WindowOutput()
        if not self._is_new(ev.event_id) or ev.status == "blocked":
            return out
        tokens = ev.tokens_in + ev.tokens_out
        pico = cost_pico(ev.cost_usd)
        for p in self._policies:
            if not p.applies_to(ev.org_id, ev.workspace_id, ev.repo_id):
                continue
            rule = p.rule
            assert isinstance(rule, _COUNTED)
            subject = subject_key(rule.per, _subject_id(rule.per, ev), p.id)
            start, end = window_bounds(limit_span(rule), ev.occurred_at)
            c = self._counts.get((p.id, subject, start))
            if c is None:
                c = self._counts[(p.id, subject, start)] = _Count(p, subject, start, end)
            c.requests += 1
            c.tokens += tokens
            c.usd_pico += pico
            gw = ev.gateway_id or ""
            c.by_gateway[gw] = c.by_gateway.get(gw, 0) + tokens
            self._check(c, rule, ev, out)
        return out

    def _check(self, c: _Count, rule: LimitRule, ev: RequestEvent, out: WindowOutput) -> None:
        p = c.policy
        hit = next(((m, lim) for m, lim in limit_metrics(rule) if _used(c, m) >= lim), None)
        if hit and not c.crossed:
            c.crossed = True
            metric, lim = hit
            used = _used(c, metric)
            out.violations.append(self._violation(c, rule, ev, metric, lim, used))
            if p.blocks:
                out.decisions.append(
                    Decision(
                        subject=c.subject,
                        policy_id=p.id,
                        policy_name=p.name,
                        blocked=True,
                        until=c.end,
                        reason=f"cost limit ${usd(lim)} reached"
                        if metric == "usd_pico"
                        else f"{metric} limit {lim} reached",
                        limit=lim,
                        used=used,
                        used_by=c.used_by() if metric == "tokens" else None,
                        occurred_at=ev.occurred_at,
                    )
                )
                c.published_tokens = c.tokens
                return
        if p.blocks and isinstance(rule, TokenBudgetRule):
            if c.tokens - c.published_tokens >= max(1, int(rule.limit * self._step)):
                c.published_tokens = c.tokens
                out.decisions.append(
                    Decision(
                        subject=c.subject,
                        policy_id=p.id,
                        policy_name=p.name,
                        blocked=c.crossed,
                        until=c.end,
                        reason="usage",
                        limit=rule.limit,
                        used=c.tokens,
                        used_by=c.used_by(),
                        occurred_at=ev.occurred_at,
                    )
                )

    def _violation(
        self, c: _Count, rule: LimitRule, ev: RequestEvent, metric: str, lim: int, used: int
    ) -> ViolationEvent:
        p = c.policy
        spent = f"{used} used"
        if isinstance(rule, TokenBudgetRule):
            what = f"Token budget of {lim} tokens per {rule.period.value}"
        elif isinstance(rule, CostBudgetRule):
            what = f"Cost budget of ${usd(lim)} per {rule.period.value}"
            spent = f"${usd(used)} used"
        else:
            what = f"Rate limit of {lim} {metric} per {rule.window.value}"
        per, sid, _ = c.subject.split(":", 2)
        return ViolationEvent(
            event_id=str(uuid.uuid5(_NS, f"{p.id}|{c.subject}|{c.start.isoformat()}")),
            occurred_at=ev.occurred_at,
            policy_id=p.id,
            policy_name=p.name,
            org_id=ev.org_id,
            workspace_id=ev.workspace_id,
            repo_id=ev.repo_id,
            repo_ai_api_key_id=ev.repo_ai_api_key_id,
            ai_llm_id=ev.ai_llm_id,
            request_id=ev.request_id,
            gateway_id=ev.gateway_id,
            severity=_SEVERITY.get(p.risk_type, "MEDIUM"),
            action_type=p.action_type,
            block=p.blocks,
            explanation=f"{what} reached for {per} {sid}: {spent}",
            llm_type=ev.ai_type,
            llm_model=ev.model or None,
            user_id=ev.user_id,
            conversation_id=ev.conversation_id,
        )

    def rollover(self, now: datetime) -> list[Decision]:
        """Unblock subjects whose window ended; forget ended windows. Call periodically."""
        out: list[Decision] = []
        for key, c in list(self._counts.items()):
            if c.end > now:
                continue
            if c.crossed and c.policy.blocks and not c.released:
                newer = any(
                    k[0] == key[0] and k[1] == key[1] and k[2] > key[2] and v.crossed for k, v in self._counts.items()
                )
                if not newer:
                    out.append(
                        Decision(
                            subject=c.subject,
                            policy_id=c.policy.id,
                            policy_name=c.policy.name,
                            blocked=False,
                            until=None,
                            reason="window rolled over",
                            used=0,
                            limit=None,
                            occurred_at=c.end,
                        )
                    )
                c.released = True
            del self._counts[key]
        return out

    def active_counts(self) -> int:
        return len(self._counts)
