"""Pure in-path policy evaluation: policies + one request's context in, verdicts out.

No I/O and no clock inside: the gateway passes the current time and the limit state it holds
(decisions from the policy consumer, local budget reservations) as plain inputs. CPU-bound;
for very large prompts call it through `asyncio.to_thread`.

Scope: org, workspace and repository policies all apply to a request of that repository;
lower levels add to higher ones, never override them. Natural-language policies (no `rule`)
are not evaluated here (they go to the LLM judge).

Verdicts: action 0 log / 1 alert never block; action 2 blocks. A blocking verdict is either a
policy refusal (403, names the policy) or a limit (429 with Retry-After seconds).
"""
from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Protocol, Sequence

from producers.policy.detectors import first_detector_hit
from schemas.policy import (  # noqa: F401  (CompiledPolicy & co re-exported for the gateway)
    CompiledPolicy,
    compile_policies,
    compile_policy,
    ContentPatternRule,
    MaxTokensRule,
    ModelAllowlistRule,
    ModelDenylistRule,
    Per,
    RateLimitRule,
    TokenBudgetRule,
    subject_key,
)

PATTERN_TIMEOUT_S = 0.05   # per pattern per request; a timeout counts as a match (fail closed)


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What the pre-check knows about one request before it is forwarded."""

    org_id: str
    workspace_id: str
    repo_id: str
    key_id: str
    model: str                                   # as the client asked ("openai/gpt-4o")
    provider_model: str | None = None
    max_tokens: int | None = None                # requested max (max_tokens / max_completion_tokens)
    texts: Sequence[str] = ()                    # message texts (never copied into verdicts)
    prompt_tokens_estimate: int = 0

    def subject_id(self, per: Per) -> str:
        if per is Per.KEY:
            return self.key_id
        if per is Per.REPO:
            return self.repo_id
        if per is Per.WORKSPACE:
            return self.workspace_id
        raise KeyError(per)


@dataclass(frozen=True, slots=True)
class Verdict:
    policy_id: str
    policy_name: str
    rule_type: str
    action_type: int
    severity: str
    explanation: str
    block: bool = False
    status: int = 403                # 403 policy refusal, 429 limit
    retry_after_s: int | None = None
    subject: str | None = None


class LimitState(Protocol):
    """Limit enforcement state the gateway keeps (decisions + local budget). Must not block."""

    def blocked_until(
        self, subject: str, rule: TokenBudgetRule | RateLimitRule, now: datetime
    ) -> datetime | None: ...


@dataclass
class StaticLimits:
    """A fixed subject -> until map (tests, and a fallback when no ledger is wired)."""

    blocked: dict[str, datetime] = field(default_factory=dict)

    def blocked_until(self, subject: str, rule: Any, now: datetime) -> datetime | None:
        until = self.blocked.get(subject)
        return until if until is not None and until > now else None


def model_candidates(model: str, provider_model: str | None) -> list[str]:
    """Names a model-list entry is compared with (lower-cased)."""
    out = [model.lower()]
    if "/" in model:
        out.append(model.split("/", 1)[1].lower())
    if provider_model:
        out.append(provider_model.lower())
    return out


def model_matches(entries: Iterable[str], candidates: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(c, e.lower()) for e in entries for c in candidates)


def _content_hit(policy: CompiledPolicy, rule: ContentPatternRule, text: str) -> str | None:
    """Why the content matched (detector name or pattern index), never the matched text."""
    hit = first_detector_hit(text, rule.detectors)
    if hit:
        return f"detector {hit}"
    for i, pat in enumerate(policy.patterns):
        try:
            if pat.search(text, timeout=PATTERN_TIMEOUT_S):
                return f"pattern #{i + 1}"
        except TimeoutError:
            return f"pattern #{i + 1} (evaluation timed out)"
    return None


def _verdict(p: CompiledPolicy, explanation: str, *, status: int = 403,
             retry_after_s: int | None = None, subject: str | None = None) -> Verdict:
    return Verdict(
        policy_id=p.id, policy_name=p.name, rule_type=p.rule.type if p.rule else "NATURAL_LANGUAGE",
        action_type=p.action_type, severity=p.risk_type, explanation=explanation, block=p.blocks,
        status=status, retry_after_s=retry_after_s, subject=subject,
    )


def retry_after_seconds(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


def evaluate(
    policies: Iterable[CompiledPolicy], ctx: RequestContext, *,
    now: datetime, limits: LimitState | None = None,
) -> list[Verdict]:
    """Every verdict of every applicable rule policy, in policy order. Pure; CPU-bound."""
    out: list[Verdict] = []
    text: str | None = None
    cands = model_candidates(ctx.model, ctx.provider_model)
    org_id, workspace_id, repo_id = ctx.org_id, ctx.workspace_id, ctx.repo_id
    for p in policies:
        rule = p.rule
        if rule is None or not p.applies_to(org_id, workspace_id, repo_id):
            continue
        kind = rule.type   # the union's discriminator: one string compare instead of isinstance chains
        if kind == "MODEL_ALLOWLIST":
            if not model_matches(rule.models, cands):
                out.append(_verdict(p, f"Model '{ctx.model}' is not in the allowed list of policy '{p.name}'"))
        elif kind == "MODEL_DENYLIST":
            if model_matches(rule.models, cands):
                out.append(_verdict(p, f"Model '{ctx.model}' is denied by policy '{p.name}'"))
        elif kind == "MAX_TOKENS":
            if ctx.max_tokens is not None and ctx.max_tokens > rule.limit:
                out.append(_verdict(
                    p, f"Requested max tokens {ctx.max_tokens} exceed the limit {rule.limit} of policy '{p.name}'"))
        elif kind == "CONTENT_PATTERN":
            if text is None:
                text = "\n".join(ctx.texts)
            why = _content_hit(p, rule, text) if text else None
            if why:
                out.append(_verdict(p, f"Request content matched {why} of policy '{p.name}'"))
        elif kind == "TOKEN_BUDGET" or kind == "RATE_LIMIT":
            if limits is None or not p.blocks:
                continue   # log/alert limits are reported by the policy consumer, not in-path
            subject = subject_key(rule.per, ctx.subject_id(rule.per), p.id)
            until = limits.blocked_until(subject, rule, now)
            if until is not None:
                what = "Token budget" if kind == "TOKEN_BUDGET" else "Rate limit"
                out.append(_verdict(
                    p, f"{what} of policy '{p.name}' reached; retry after {until.isoformat()}",
                    status=429, retry_after_s=retry_after_seconds(until, now), subject=subject))
    return out


def blocking(verdicts: Sequence[Verdict]) -> Verdict | None:
    """The verdict the gateway answers with: a 403 refusal first, else the longest 429 wait."""
    blocks = [v for v in verdicts if v.block]
    if not blocks:
        return None
    refusals = [v for v in blocks if v.status == 403]
    if refusals:
        return refusals[0]
    return max(blocks, key=lambda v: v.retry_after_s or 0)
