"""Budgets across gateways, in the request path: the worst-case USD of a request (COST_BUDGET
reservations) and the gate that backs every admitted budget reservation (TOKEN_BUDGET and
COST_BUDGET) with a slice leased from the config store (`producers.policy.leases`).

`admit` answers without I/O while this gateway's slices cover the request (the common case) and
returns an awaitable only when a slice must be leased. A refusal is a 429 naming the policy with
Retry-After (1 s while reservations elsewhere are settling, else the window end).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from policy.budget import DEFAULT_COMPLETION_CAP
from policy.engine import BUDGET_METRICS, PolicyEngine, PrecheckResult
from policy.rules import PICO_PER_USD, limit_metrics, limit_span, window_bounds
from pricing import table
from pricing.output_caps import max_output_tokens
from pricing.overrides import PriceOverrides
from pricing.pricer import rates_for, worst_case_usd
from producers.adapters.anthropic import DEFAULT_MAX_TOKENS as ANTHROPIC_DEFAULT_MAX_TOKENS
from producers.policy.leases import Lease, LeaseBank

_LABEL = {"tokens": "Token budget", "usd_pico": "Cost budget"}


def output_cap(
    ai_type: str | None,
    model: str,
    prompt_tokens: int,
    max_tokens: int | None,
    overrides: PriceOverrides | None = None,
    default: int = DEFAULT_COMPLETION_CAP,
) -> int:
    """The most output tokens a request can produce: its own limit; else the model's output cap
    (the configuration's `maxOutputTokens` override, else the published cap of its family, else
    `default`), at most what the Anthropic adapter asks for when it must set a limit, and at most
    what the model's context window leaves after the prompt (offline table's model data)."""
    if max_tokens and max_tokens > 0:
        return int(max_tokens)
    cap = (overrides.max_output(model) if overrides else None) or max_output_tokens(model) or default
    if ai_type == "ANTHROPIC":
        cap = min(cap, ANTHROPIC_DEFAULT_MAX_TOKENS)
    e = table.entry(ai_type, model) if ai_type and model else None
    if e is not None and e.context_window:
        cap = min(cap, int(e.context_window) - max(prompt_tokens, 0))
    return max(1, cap)


def routed(ctx: Any) -> tuple[str | None, str, PriceOverrides | None]:
    """(family, model name it is priced by, price overrides) of the configuration a request is
    routed to (the provider's model name, else the one asked for)."""
    cid = ctx.extra.get("ai_llm_id")
    cfg = ctx.snapshot.configs.get(cid) if cid else None
    model = str(ctx.extra.get("provider_model") or ctx.model or "")
    return ctx.extra.get("ai_type"), model, getattr(cfg, "prices", None)


def worst_usd_pico(ctx: Any, prompt_tokens: int, out_tokens: int) -> int | None:
    """Most the request can cost on the configuration it is routed to, in 1e-12 USD, for a prompt
    and an output of at most `out_tokens`; None when no price is known for its model (a blocking
    COST_BUDGET then refuses it)."""
    ai_type, model, overrides = routed(ctx)
    found = rates_for(ai_type, model, overrides)
    if found is None:
        return None
    return math.ceil(worst_case_usd(found[0], prompt_tokens, out_tokens) * PICO_PER_USD)


_COSTS: dict[str, int] = {}  # cost string -> pico-USD (requests repeat the same few costs)


def cost_pico(event: Any) -> int:
    """A request event's cost in 1e-12 USD (0 when unknown)."""
    c = getattr(event, "cost_usd", None)
    if not c:
        return 0
    v = _COSTS.get(c)
    if v is None:
        if len(_COSTS) >= 4096:
            _COSTS.clear()
        v = _COSTS[c] = int(Decimal(c) * PICO_PER_USD)
    return v


class BudgetGate:
    def __init__(self, bank: LeaseBank):
        self.bank = bank
        self._plans: dict[tuple[Any, Any], tuple[str, int, Any, str] | None] = {}
        self._plans_for: Any = None

    def _plan(self, engine: PolicyEngine, result: PrecheckResult) -> list[tuple[Any, str, int, Any, str]]:
        """(reservation, ledger id, limit, window end, policy name) of each budget reservation.
        What a (subject, metric, window) maps to is computed once per policy set."""
        if self._plans_for is not engine.policies or len(self._plans) >= 4096:
            self._plans, self._plans_for = {}, engine.policies
        out = []
        for res in result.reservations:
            if res.amount <= 0:
                continue
            ck = (res.key, res.window_start)
            if ck in self._plans:
                got = self._plans[ck]
            else:
                got = self._plans[ck] = self._plan_one(engine, res)
            if got is not None:
                out.append((res, *got))
        return out

    def _plan_one(self, engine: PolicyEngine, res: Any) -> tuple[str, int, Any, str] | None:
        subject, metric = res.key
        if metric not in BUDGET_METRICS:
            return None
        pid = subject.rsplit(":", 1)[-1]
        p = next((q for q in engine.policies if q.id == pid), None)
        if p is None or p.rule is None:
            return None
        limit = dict(limit_metrics(p.rule)).get(metric)
        if limit is None:
            return None
        _start, end = window_bounds(limit_span(p.rule), res.window_start)
        return self.bank.ledger_id(subject, metric, res.window_start), limit, end, p.name

    def admit(self, ctx: Any, engine: PolicyEngine, result: PrecheckResult, now: Any) -> Any:
        """None (admitted, no I/O), or an awaitable giving None or a Block."""
        plan = self._plan(engine, result)
        if not plan:
            return None
        leases: list[Lease] = []
        for i, (res, lid, _limit, _end, _name) in enumerate(plan):
            got = self.bank.take_local(lid, res.amount)
            if got is None:
                return self._lease_rest(ctx, engine, result, plan[i:], leases, now)
            leases.append(got)
        ctx.extra["leases"] = leases
        return None

    async def _lease_rest(
        self, ctx: Any, engine: PolicyEngine, result: PrecheckResult, rest: list, leases: list[Lease], now: Any
    ) -> Any:
        for res, lid, limit, end, name in rest:
            got, wait_s = await self.bank.take(lid, res.amount, limit, end)
            if got is None:
                for lease in leases:
                    self.bank.settle(lease, 0)
                engine.settle(result, 0, now, forwarded=False)
                ctx.extra.pop("policy_result", None)
                from producers.gateway.hooks import Block

                label = _LABEL.get(res.key[1], "Budget")
                pid = res.key[0].rsplit(":", 1)[-1]
                return Block(
                    429,
                    f"{label} of policy '{name}' reached across gateways; retry after {int(math.ceil(wait_s))} s",
                    pid,
                    int(math.ceil(wait_s)),
                    code="rate_limit_exceeded",
                )
            leases.append(got)
        ctx.extra["leases"] = leases
        return None

    def settle(self, ctx: Any, event: Any) -> None:
        """After the response: each lease keeps what the request used, the rest goes back."""
        leases = ctx.extra.pop("leases", None) if ctx is not None else None
        if not leases:
            return
        forwarded = getattr(event, "status", "ok") != "blocked"
        tokens = int(getattr(event, "tokens_in", 0) or 0) + int(getattr(event, "tokens_out", 0) or 0)
        usd = cost_pico(event)
        for lease in leases:
            actual = (usd if lease.ledger_id.split(":")[-2] == "usd_pico" else tokens) if forwarded else 0
            self.bank.settle(lease, actual)
