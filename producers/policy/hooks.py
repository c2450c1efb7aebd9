"""The gateway's policy hooks (the gateway's `PolicyHooks` protocol), backed by `PolicyEngine`.

`precheck` runs in the request path: compiles the snapshot's policies once per snapshot,
evaluates in memory, publishes one ViolationEvent per fired rule policy (log, alert or block;
never the prompt text), reserves limit budget, and returns a Block for 403/429. Limit refusals
(429) publish no event per refused request: the policy consumer reports the crossing once.
`post_usage` settles the reservations to the actual tokens. Neither call blocks or does I/O
beyond `publisher.emit` (non-blocking by contract).

Contention: when a limit refuses only because of other requests' in-flight worst-case
reservations (settled usage still below the limit, no consumer decision in force), `precheck`
returns an awaitable instead (the gateway awaits it): it waits for settlements (bounded by
`contention_wait_s`) and re-checks, admitting the request as soon as room frees up. If the room
is still held at the deadline the answer is 429 with `Retry-After: 1` (transient), not the
window end. This keeps a burst's final usage within one worst case below/above the limit
instead of refusing while a third of the budget is unused.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from policy.budget import DEFAULT_COMPLETION_CAP, prompt_tokens_estimate
from policy.compiled import CompiledPolicy, compile_policy
from policy.engine import PolicyEngine, PrecheckResult
from policy.evaluate import MAX_SCAN_CHARS, Verdict, prescan
from policy.evaluate import RequestContext as PolicyContext
from policy.limits import TokenLimitError, token_limit
from policy.rules import LIMIT_RULES, RuleError, limit_metrics
from producers.policy.budget_gate import BudgetGate, cost_pico, output_cap, routed, worst_usd_pico
from schemas import topics
from schemas.events import Decision, ViolationEvent

log = logging.getLogger("tollgate.policy")

OFFLOAD_CHARS = 16 * 1024  # longer request text: content rules are evaluated off the event loop
MAX_TEXT_CHARS = MAX_SCAN_CHARS  # content rules scan at most this much (settings: policy_max_scan_chars)
DEFAULT_CONTENTION_WAIT_S = 5.0  # longest wait for in-flight reservations to settle


def _texts(body: dict) -> list[str]:
    """Message/input text of a chat or embeddings body (string or content-part lists)."""
    out: list[str] = []

    def add(v: Any) -> None:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, list):
            for part in v:
                if isinstance(part, str):
                    out.append(part)
                elif isinstance(part, dict) and isinstance(part.get("text"), str):
                    out.append(part["text"])

    for m in body.get("messages") or []:
        if isinstance(m, dict):
            add(m.get("content"))
    add(body.get("input"))
    add(body.get("prompt"))
    return out


def _max_tokens(body: dict) -> int | None:
    """The strict limit (the gateway refused malformed ones before the policy check)."""
    try:
        return token_limit(body)
    except TokenLimitError:
        return None


def compile_entries(entries: Any) -> list[CompiledPolicy]:
    """Snapshot `PolicyEntry`s -> compiled policies (a stored rule that no longer parses is skipped)."""
    out = []
    for e in entries:
        try:
            out.append(
                compile_policy(
                    id=e.policy_id,
                    org_id=e.org_id,
                    name=e.name,
                    action_type=e.action_type,
                    risk_type=e.risk_type,
                    workspace_id=e.workspace_id,
                    repo_id=e.repo_id,
                    content=e.content,
                    rule=e.rule,
                )
            )
        except RuleError:
            log.warning("policy %s: stored rule is invalid; ignored", e.policy_id)
    return out


class GatewayPolicyHooks:
    def __init__(
        self,
        publisher_getter: Callable[[], Any],
        gateway_id: str,
        engine: PolicyEngine | None = None,
        clock: Callable[[], datetime] | None = None,
        contention_wait_s: float = DEFAULT_CONTENTION_WAIT_S,
        max_scan_chars: int = MAX_TEXT_CHARS,
        gate: BudgetGate | None = None,
        default_output_tokens: int = DEFAULT_COMPLETION_CAP,
    ):
        self._publisher = publisher_getter
        self.gate = gate  # budgets across gateways (slices leased from the store)
        self._cost_budgets = False
        self._budgets = False  # a limit counts tokens or USD: reservations need the worst case
        self.default_output_tokens = default_output_tokens
        self.max_scan_chars = max_scan_chars
        self.gateway_id = gateway_id
        self.engine = engine or PolicyEngine(gateway_id=gateway_id)
        if not self.engine.ledger.gateway_id:
            self.engine.ledger.gateway_id = gateway_id  # own usage = events with this gatewayId
        self.contention_wait_s = contention_wait_s
        self._waiters: list[asyncio.Future] = []
        self._clock = clock or (lambda: datetime.now(UTC))
        self._compiled_for: Any = None
        self._last_prune: datetime | None = None

    def _sync_policies(self, snapshot: Any) -> None:
        entries = getattr(snapshot, "policies", ())
        if entries is not self._compiled_for:
            self.engine.set_policies(compile_entries(entries))
            self._compiled_for = entries
            self._cost_budgets = any(p.rule is not None and p.rule.type == "COST_BUDGET" for p in self.engine.policies)
            self._budgets = any(
                isinstance(p.rule, LIMIT_RULES) and any(m != "requests" for m, _ in limit_metrics(p.rule))
                for p in self.engine.policies
            )

    def apply_decision(self, decision: Decision) -> None:
        """Feed a record of the decisions topic (call from the gateway's loop)."""
        self.engine.apply_decision(decision)
        self._wake()

    def _wake(self) -> None:
        """Budget state changed: let requests waiting on in-flight reservations re-check."""
        waiters, self._waiters = self._waiters, []
        for f in waiters:
            if not f.done():
                f.set_result(None)

    def precheck(self, ctx: Any, body: dict) -> Any:
        self._sync_policies(ctx.snapshot)
        if not self.engine.policies:
            return None
        repo = ctx.key.repo
        texts = _texts(body)
        total = sum(len(t) for t in texts)
        truncated = total > self.max_scan_chars
        whole = texts
        if truncated:
            texts = ["\n".join(texts)[: self.max_scan_chars]]
        pctx = PolicyContext(
            org_id=repo.org_id,
            workspace_id=repo.workspace_id,
            repo_id=repo.repo_id,
            key_id=ctx.key.key_id,
            model=ctx.model or "",
            max_tokens=_max_tokens(body),
            texts=texts,
            prompt_tokens_estimate=total // 4 + 1,
            texts_truncated=truncated,
        )
        if self._budgets:
            pctx = self._worst_case(ctx, pctx, whole)
        if total > OFFLOAD_CHARS:
            content = [
                p
                for p in self.engine.policies
                if p.rule is not None
                and p.rule.type == "CONTENT_PATTERN"
                and p.applies_to(repo.org_id, repo.workspace_id, repo.repo_id)
            ]
            if content:
                return self._scan_then_decide(ctx, pctx, content)
        return self._decide(ctx, pctx)

    def _worst_case(self, ctx: Any, pctx: PolicyContext, texts: list[str]) -> PolicyContext:
        """What budgets reserve: the prompt estimate, the output cap on the routed configuration
        and, under a COST_BUDGET, the worst-case USD (or the model no price is known for)."""
        ai_type, model, overrides = routed(ctx)
        prompt = prompt_tokens_estimate(texts)
        cap = output_cap(ai_type, model, prompt, pctx.max_tokens, overrides, self.default_output_tokens)
        pctx = replace(pctx, prompt_tokens_estimate=prompt, output_cap=cap)
        if not self._cost_budgets:
            return pctx
        worst = worst_usd_pico(ctx, prompt, cap)
        if worst is None:
            return replace(pctx, unpriced_model=model)
        return replace(pctx, worst_usd_pico=worst)

    async def _scan_then_decide(self, ctx: Any, pctx: PolicyContext, content: list) -> Any:
        """Long text: the content rules run in a worker thread (RE2 releases the GIL), so a
        tenant's heavy rules slow only its own requests, never the event loop."""
        cache = await asyncio.to_thread(prescan, content, "\n".join(pctx.texts))
        decided = self._decide(ctx, replace(pctx, scan_cache=cache))
        return await decided if inspect.isawaitable(decided) else decided

    def _decide(self, ctx: Any, pctx: PolicyContext) -> Any:
        now = self._clock()
        if self._last_prune is None or (now - self._last_prune).total_seconds() > 60:
            self.engine.prune(now)
            self._last_prune = now
        result = self.engine.precheck(pctx, now)
        if self.contention_wait_s > 0 and self.engine.contended(result, now):
            return self._wait_for_room(ctx, pctx)
        return self._finish(ctx, pctx, result, now)

    async def _wait_for_room(self, ctx: Any, pctx: PolicyContext) -> Any:
        """Re-check after each settlement until admitted, truly exhausted, or the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.contention_wait_s
        while True:
            fut = loop.create_future()
            self._waiters.append(fut)
            try:
                await asyncio.wait_for(fut, max(0.0, deadline - loop.time()))
            except TimeoutError:
                pass
            now = self._clock()
            result = self.engine.precheck(pctx, now)
            if not self.engine.contended(result, now):
                out = self._finish(ctx, pctx, result, now)
                return (await out) if inspect.isawaitable(out) else out
            if loop.time() >= deadline:
                return self._finish(ctx, pctx, result, now, transient=True)

    def _finish(
        self, ctx: Any, pctx: PolicyContext, result: PrecheckResult, now: datetime, transient: bool = False
    ) -> Any:
        ctx.extra["policy_result"] = result
        if result.verdicts:
            fired = [v for v in result.verdicts if v.status != 429]
            ctx.policy_ids.extend(v.policy_id for v in fired)
            for v in fired:
                self._emit(ctx, pctx, v, now)
        b = result.block
        if b is None:
            if self.gate is not None and result.reservations:
                return self.gate.admit(ctx, self.engine, result, now)
            return None
        from producers.gateway.hooks import Block

        if b.status == 429:
            if transient:
                return Block(
                    429,
                    f"Limit of policy '{b.policy_name}' is held by requests in flight; retry shortly",
                    b.policy_id,
                    1,
                    code="rate_limit_exceeded",
                )
            return Block(429, b.explanation, b.policy_id, b.retry_after_s, code="rate_limit_exceeded")
        if b.rule_type == "COST_BUDGET":  # no price known for the model under a dollar budget
            return Block(403, b.explanation, b.policy_id, code="price_unknown")
        return Block(403, f"Request blocked by policy '{b.policy_name}'", b.policy_id, code="policy_blocked")

    def _emit(self, ctx: Any, pctx: PolicyContext, v: Verdict, now: datetime) -> None:
        pub = self._publisher()
        if pub is None:
            return
        ev = ViolationEvent(
            occurred_at=now,
            policy_id=v.policy_id,
            policy_name=v.policy_name,
            org_id=pctx.org_id,
            workspace_id=pctx.workspace_id,
            repo_id=pctx.repo_id,
            repo_ai_api_key_id=pctx.key_id,
            request_id=ctx.request_id,
            gateway_id=self.gateway_id,
            ai_llm_id=ctx.extra.get("ai_llm_id"),
            llm_type=ctx.extra.get("ai_type"),
            severity=v.severity if v.severity in ("LOW", "MEDIUM", "HIGH") else "MEDIUM",
            action_type=v.action_type,
            block=v.block,
            explanation=v.explanation,
            llm_model=pctx.model or None,
            user_id=ctx.user_id,
            conversation_id=ctx.conversation_id,
        )
        try:
            pub.emit(topics.VIOLATIONS, v.policy_id, ev)
        except Exception:  # noqa: BLE001 - the request path never fails on reporting
            log.exception("violation event could not be queued")

    def post_usage(self, ctx: Any, event: Any) -> None:
        if self.gate is not None:
            self.gate.settle(ctx, event)
        result: PrecheckResult | None = ctx.extra.pop("policy_result", None) if ctx is not None else None
        if result is None or not result.reservations:
            return
        tokens = int(getattr(event, "tokens_in", 0) or 0) + int(getattr(event, "tokens_out", 0) or 0)
        forwarded = getattr(event, "status", "ok") != "blocked"
        self.engine.settle(result, tokens, self._clock(), forwarded=forwarded, cost_pico=cost_pico(event))
        self._wake()
