"""Natural-language policies on top of the rule hooks (`GatewayPolicyHooks`).

In the request path (`NlPolicyHooks.precheck`, called by the gateway before forwarding):
* rule policies are evaluated first by the rule hooks (in memory); a rule block wins;
* log/alert NL policies that apply are NOT judged here: one `PromptEvent` (prompt text, short
  retention topic `tollgate.prompts.v1`) is emitted and the policy consumer judges it later;
* block NL policies that apply are judged before forwarding: `precheck` then returns an
  awaitable (the gateway awaits it) resolving to a 403 `Block` naming the policy, or None.

Every judged violation yields exactly one `ViolationEvent` with the judge's tokens as
`llmTokensIn/Out`. A policy that cannot be judged (no judge configured for the workspace, or
the judge failed) is reported, not ignored: a log-level violation event (actionType 0, not a
block) saying why, plus a rate-limited warning. Judge failures fail open (the request passes).

`judge_prompt_event` is the consumer-side step for the prompts topic (the composition root
hands it to `consumers.policy_runner`): prompt event in, violation events out. It awaits the
judge (network); everything else here is in memory.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from policy.compiled import CompiledPolicy
from producers.policy.hooks import GatewayPolicyHooks, _texts
from producers.policy.judge import Judge, JudgeVerdict, is_nl, resolve_judge
from schemas import topics
from schemas.events import PromptEvent, ViolationEvent

log = logging.getLogger("tollgate.policy")

_NS = uuid.UUID("0b7d9a3e-2c41-4d8e-9f6a-5e1c2b3d4f70")
_WARN_EVERY_S = 60.0
_last_warn: dict[str, float] = {}


def _warn(key: str, msg: str, *args: Any) -> None:
    now = time.monotonic()
    if now - _last_warn.get(key, -1e9) >= _WARN_EVERY_S:
        _last_warn[key] = now
        log.warning(msg, *args)


def _sev(s: str) -> str:
    return s if s in ("LOW", "MEDIUM", "HIGH") else "MEDIUM"


def nl_violation(
    policy: CompiledPolicy,
    verdict: JudgeVerdict | None,
    *,
    why_not: str | None,
    org_id: str,
    workspace_id: str,
    repo_id: str,
    key_id: str,
    request_id: str,
    gateway_id: str | None,
    model: str,
    ai_llm_id: str | None,
    ai_type: str | None,
    user_id: str | None,
    conversation_id: str | None,
    occurred_at: datetime,
    event_id: str | None = None,
) -> ViolationEvent:
    """One violation event for an NL policy: a judged violation, or a 'could not judge' report."""
    if why_not is not None or verdict is None or verdict.error:
        reason = why_not or (verdict.error if verdict else "no verdict")
        sev, action, block = _sev(policy.risk_type), 0, False
        expl = f"Policy '{policy.name}' could not be judged: {reason}"
    else:
        sev, action, block = _sev(verdict.severity), policy.action_type, policy.blocks
        expl = verdict.explanation or f"The request violates policy '{policy.name}'"
    kw: dict[str, Any] = {"event_id": event_id} if event_id else {}
    return ViolationEvent(
        **kw,
        occurred_at=occurred_at,
        policy_id=policy.id,
        policy_name=policy.name,
        org_id=org_id,
        workspace_id=workspace_id,
        repo_id=repo_id,
        repo_ai_api_key_id=key_id,
        ai_llm_id=ai_llm_id,
        request_id=request_id,
        gateway_id=gateway_id,
        severity=sev,
        action_type=action,
        block=block,
        explanation=expl[:2000],
        llm_type=ai_type,
        llm_model=model or None,
        user_id=user_id,
        conversation_id=conversation_id,
        llm_tokens_in=verdict.tokens_in if verdict else 0,
        llm_tokens_out=verdict.tokens_out if verdict else 0,
        llm_cost_usd=verdict.cost_usd if verdict else None,
        llm_price_source=verdict.price_source if verdict else "unknown",
    )


class NlPolicyHooks(GatewayPolicyHooks):
    """Rule hooks + natural-language policies (see module docstring). Call from the gateway loop."""

    def __init__(self, publisher_getter: Callable[[], Any], gateway_id: str, *, judge: Judge | None = None, **kw: Any):
        super().__init__(publisher_getter, gateway_id, **kw)
        self.judge = judge or Judge()
        self._nl: list[CompiledPolicy] = []

    def _sync_policies(self, snapshot: Any) -> None:
        entries = getattr(snapshot, "policies", ())
        if entries is not self._compiled_for:
            super()._sync_policies(snapshot)
            self._nl = [p for p in self.engine.policies if is_nl(p)]

    def _emit(self, ctx: Any, pctx: Any, v: Any, now: datetime) -> None:
        """The rule violation event, plus the request's configuration (for per-config stats)."""
        pub = self._publisher()
        if pub is None:
            return
        ai_llm_id, ai_type = ctx.extra.get("ai_llm_id"), ctx.extra.get("ai_type")
        ev = ViolationEvent(
            occurred_at=now,
            policy_id=v.policy_id,
            policy_name=v.policy_name,
            org_id=pctx.org_id,
            workspace_id=pctx.workspace_id,
            repo_id=pctx.repo_id,
            repo_ai_api_key_id=pctx.key_id,
            ai_llm_id=ai_llm_id,
            request_id=ctx.request_id,
            gateway_id=self.gateway_id,
            severity=_sev(v.severity),
            action_type=v.action_type,
            block=v.block,
            explanation=v.explanation,
            llm_type=ai_type,
            llm_model=pctx.model or None,
            user_id=ctx.user_id,
            conversation_id=ctx.conversation_id,
        )
        try:
            pub.emit(topics.VIOLATIONS, v.policy_id, ev)
        except Exception:  # noqa: BLE001
            log.exception("violation event could not be queued")

    def precheck(self, ctx: Any, body: dict) -> Any:
        block = super().precheck(ctx, body)
        if inspect.isawaitable(block):  # a budget held by in-flight requests: waited on first
            return self._after_wait(block, ctx, body)
        if block is not None or not self._nl:
            return block
        return self._nl_step(ctx, body)

    async def _after_wait(self, pending: Any, ctx: Any, body: dict) -> Any:
        block = await pending
        if block is not None or not self._nl:
            return block
        step = self._nl_step(ctx, body)
        return (await step) if inspect.isawaitable(step) else step

    def _nl_step(self, ctx: Any, body: dict) -> Any:
        repo = ctx.key.repo
        applicable = [p for p in self._nl if p.applies_to(repo.org_id, repo.workspace_id, repo.repo_id)]
        if not applicable:
            return None
        texts = _texts(body)
        later = [p for p in applicable if not p.blocks]
        if later:
            self._emit_prompt(ctx, texts, later)
        now_ = [p for p in applicable if p.blocks]
        return self._judge_now(ctx, texts, now_) if now_ else None

    def _emit_prompt(self, ctx: Any, texts: list[str], policies: list[CompiledPolicy]) -> None:
        pub = self._publisher()
        if pub is None:
            return
        repo = ctx.key.repo
        ev = PromptEvent(
            gateway_id=self.gateway_id,
            request_id=ctx.request_id,
            org_id=repo.org_id,
            workspace_id=repo.workspace_id,
            repo_id=repo.repo_id,
            repo_ai_api_key_id=ctx.key.key_id,
            ai_llm_id=ctx.extra.get("ai_llm_id"),
            ai_type=ctx.extra.get("ai_type"),
            model=ctx.model or "",
            policy_ids=[p.id for p in policies],
            texts=texts,
            user_id=ctx.user_id,
            conversation_id=ctx.conversation_id,
        )
        try:
            pub.emit(topics.PROMPTS, ctx.key.key_id, ev)
        except Exception:  # noqa: BLE001
            log.exception("prompt event could not be queued")

    async def _judge_now(self, ctx: Any, texts: list[str], policies: list[CompiledPolicy]) -> Any:
        """Judge block policies before forwarding (awaits the judge; bounded by its timeout)."""
        from producers.gateway.hooks import Block

        repo = ctx.key.repo
        target, why_not = resolve_judge(ctx.snapshot, repo.workspace_id)
        if target is None:
            _warn(
                f"nojudge:{repo.workspace_id}",
                "natural-language policies of workspace %s cannot be judged: %s",
                repo.workspace_id,
                why_not,
            )
            verdicts: Sequence[JudgeVerdict | None] = [None] * len(policies)
        else:
            verdicts = await asyncio.gather(*(self.judge.judge(target, p, texts) for p in policies))
        now = self._clock()
        blocked: CompiledPolicy | None = None
        for p, v in zip(policies, verdicts):
            if v is not None and not v.error and not v.violation:
                continue  # compliant: nothing to report
            if v is not None and v.error:
                _warn(f"judgefail:{p.id}", "policy %s could not be judged: %s", p.id, v.error)
            ev = nl_violation(
                p,
                v,
                why_not=why_not,
                org_id=repo.org_id,
                workspace_id=repo.workspace_id,
                repo_id=repo.repo_id,
                key_id=ctx.key.key_id,
                request_id=ctx.request_id,
                gateway_id=self.gateway_id,
                model=ctx.model or "",
                ai_llm_id=ctx.extra.get("ai_llm_id"),
                ai_type=ctx.extra.get("ai_type"),
                user_id=ctx.user_id,
                conversation_id=ctx.conversation_id,
                occurred_at=now,
            )
            pub = self._publisher()
            if pub is not None:
                pub.emit(topics.VIOLATIONS, p.id, ev)
            if ev.block:
                ctx.policy_ids.append(p.id)
                blocked = blocked or p
        if blocked is None:
            return None
        return Block(403, f"Request blocked by policy '{blocked.name}'", blocked.id, code="policy_blocked")


async def judge_prompt_event(
    ev: PromptEvent, snapshot: Any, judge: Judge, policies: Sequence[CompiledPolicy]
) -> list[ViolationEvent]:
    """Consumer step for `tollgate.prompts.v1`: judge the named log/alert NL policies that still
    exist. Violation ids derive from (prompt event, policy) so a redelivery repeats the same ids."""
    by_id = {p.id: p for p in policies}
    todo = [by_id[i] for i in ev.policy_ids if i in by_id and is_nl(by_id[i]) and not by_id[i].blocks]
    if not todo:
        return []
    target, why_not = resolve_judge(snapshot, ev.workspace_id)
    if target is None:
        _warn(
            f"nojudge:{ev.workspace_id}",
            "natural-language policies of workspace %s cannot be judged: %s",
            ev.workspace_id,
            why_not,
        )
        verdicts: Sequence[JudgeVerdict | None] = [None] * len(todo)
    else:
        verdicts = await asyncio.gather(*(judge.judge(target, p, ev.texts) for p in todo))
    out = []
    for p, v in zip(todo, verdicts):
        if v is not None and not v.error and not v.violation:
            continue
        out.append(
            nl_violation(
                p,
                v,
                why_not=why_not,
                org_id=ev.org_id,
                workspace_id=ev.workspace_id,
                repo_id=ev.repo_id,
                key_id=ev.repo_ai_api_key_id,
                request_id=ev.request_id,
                gateway_id=ev.gateway_id,
                model=ev.model,
                ai_llm_id=ev.ai_llm_id,
                ai_type=ev.ai_type,
                user_id=ev.user_id,
                conversation_id=ev.conversation_id,
                occurred_at=ev.occurred_at,
                event_id=str(uuid.uuid5(_NS, f"{ev.event_id}|{p.id}")),
            )
        )
    return out


def compile_snapshot_policies(snapshot: Any) -> list[CompiledPolicy]:
    """All policies of a snapshot, compiled (for the policy consumer)."""
    from producers.policy.hooks import compile_entries

    return compile_entries(getattr(snapshot, "policies", ()))


def utcnow() -> datetime:
    return datetime.now(UTC)
