"""Pure in-path policy evaluation: policies + one request's context in, verdicts out.

No I/O and no clock inside: the gateway passes the current time and the limit state it holds
(decisions from the policy consumer, local budget reservations) as plain inputs. CPU-bound;
for very large prompts call it through `asyncio.to_thread`.

Scope: org, workspace and repository policies all apply to a request of that repository;
lower levels add to higher ones, never override them. Natural-language policies (no `rule`)
are not evaluated here (they go to the LLM judge).

Verdicts: action 0 log / 1 alert never block; action 2 blocks. A blocking verdict is either a
policy refusal (403, names the policy) or a limit (429 with Retry-After seconds).

A blocking COST_BUDGET refuses (403) a request whose model has no known price on the configuration
it is routed to (`RequestContext.unpriced_model`): a dollar budget cannot count what has no price,
so such a request would otherwise spend without limit. The answer says how to fix it (a price
override on the configuration).
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from policy.compiled import CompiledPolicy as CompiledPolicy  # re-exported
from policy.compiled import compile_policies as compile_policies
from policy.compiled import compile_policy as compile_policy
from policy.detectors import DETECTORS
from policy.rules import (
    LIMIT_RULES,
    ContentPatternRule,
    MaxTokensRule,
    ModelAllowlistRule,
    ModelDenylistRule,
    Per,
    RateLimitRule,
    TokenBudgetRule,
    subject_key,
)

MAX_SCAN_CHARS = 1_000_000  # default bound of the text content rules scan (settings override it)


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What the pre-check knows about one request before it is forwarded."""

    org_id: str
    workspace_id: str
    repo_id: str
    key_id: str
    model: str  # as the client asked ("openai/gpt-4o")
    provider_model: str | None = None
    max_tokens: int | None = None  # requested max (max_tokens / max_completion_tokens)
    texts: Sequence[str] = ()  # message texts (never copied into verdicts)
    prompt_tokens_estimate: int = 0
    output_cap: int = 0  # most output tokens the request can produce (0: max_tokens, else the default)
    worst_usd_pico: int = 0  # most the request can cost (COST_BUDGET reservations)
    # the model a blocking COST_BUDGET cannot price (no table entry, no override): refused
    unpriced_model: str | None = None
    texts_truncated: bool = False  # texts were cut at the scan bound
    scan_cache: dict[Any, bool] | None = None  # content answers computed ahead (see `prescan`)

    def subject_id(self, per: Per) -> str:
        if per is Per.KEY:
            return self.key_id
        if per is Per.REPO:
            return self.repo_id
        if per is Per.WORKSPACE:
            return self.workspace_id
        if per is Per.ORG:
            return self.org_id
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
    status: int = 403  # 403 policy refusal, 429 limit
    retry_after_s: int | None = None
    subject: str | None = None


class LimitState(Protocol):
    """Limit enforcement state the gateway keeps (decisions + local budget). Must not block."""

    def blocked_until(self, subject: str, rule: TokenBudgetRule | RateLimitRule, now: datetime) -> datetime | None: ...


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


MODEL_CACHE_MAX = 1024  # distinct (model, provider model) verdicts kept per model-list policy


class ModelList:
    """A model-list rule's entries (lower-cased once) with its verdict cached per model name.

    Model names come from clients, so the cache is bounded: it starts over when full."""

    __slots__ = ("entries", "_cache")

    def __init__(self, models: Iterable[str]):
        self.entries = tuple(m.lower() for m in models)
        self._cache: dict[tuple[str, str | None], bool] = {}

    def matches(self, model: str, provider_model: str | None) -> bool:
        key = (model, provider_model)
        hit = self._cache.get(key)
        if hit is None:
            cands = model_candidates(model, provider_model)
            hit = any(fnmatch.fnmatchcase(c, e) for e in self.entries for c in cands)
            if len(self._cache) >= MODEL_CACHE_MAX:
                self._cache.clear()
            self._cache[key] = hit
        return hit


def utf8(text: str) -> bytes:
    return text.encode("utf-8", "replace")


def _hit(pat: Any, data: bytes, cache: dict[Any, bool]) -> bool:
    """Whether an RE2 pattern matches (memoised per request: policies often share patterns)."""
    key = pat.pattern
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = pat.search(data) is not None
    return hit


def _detected(name: str, find: Callable[[str], list[Any]], text: str, cache: dict[Any, bool]) -> bool:
    key = "detector:" + name
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = bool(find(text))
    return hit


def _content_hit(
    policy: CompiledPolicy,
    detectors: Sequence[tuple[str, Callable[[str], list[Any]]]],
    text: str,
    data: bytes,
    cache: dict[Any, bool],
) -> str | None:
    """Why the content matched (detector name or pattern index), never the matched text."""
    for name, find in detectors:
        if _detected(name, find, text, cache):
            return f"detector {name}"
    pats = policy.patterns
    if not pats:
        return None
    merged = policy.patterns_any
    if merged is not None and not _hit(merged, data, cache):
        return None  # RE2: linear in the text, so one search bounds the cost of the rule
    for i, pat in enumerate(pats):
        if _hit(pat, data, cache):
            return f"pattern #{i + 1}"
    return None


def prescan(policies: Iterable[CompiledPolicy], text: str) -> dict[Any, bool]:
    """Every content answer the policies may ask about `text` (RE2 releases the GIL, so this
    runs in a worker thread for long texts and evaluation then only reads the cache)."""
    cache: dict[Any, bool] = {}
    data = utf8(text)
    for p in policies:
        rule = p.rule
        if rule is None or rule.type != "CONTENT_PATTERN":
            continue
        for d in rule.detectors:
            name = str(getattr(d, "value", d))
            _detected(name, DETECTORS[name], text, cache)
        for pat in ((p.patterns_any,) if p.patterns_any is not None else ()) + tuple(p.patterns):
            _hit(pat, data, cache)
    return cache


def _verdict(
    p: CompiledPolicy,
    explanation: str,
    *,
    status: int = 403,
    retry_after_s: int | None = None,
    subject: str | None = None,
) -> Verdict:
    return Verdict(
        policy_id=p.id,
        policy_name=p.name,
        rule_type=p.rule.type if p.rule else "NATURAL_LANGUAGE",
        action_type=p.action_type,
        severity=p.risk_type,
        explanation=explanation,
        block=p.blocks,
        status=status,
        retry_after_s=retry_after_s,
        subject=subject,
    )


def unpriced_explanation(model: str, policy_name: str) -> str:
    return (
        f"No price is known for model '{model}', and policy '{policy_name}' is a dollar budget; "
        "add a price override for the model to the configuration to use it under a dollar budget"
    )


def retry_after_seconds(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


# Check kinds (small ints: one compare per policy instead of string compares).
ALLOW, DENY, MAX_TOKENS, CONTENT, LIMIT = range(5)

# One precomputed check: (kind, policy, rule, data). data: ModelList (ALLOW/DENY), the limit
# (MAX_TOKENS), ((detector name, finder), ...) (CONTENT), (Per, subject or None) (LIMIT; the
# subject is filled in by `scoped` when it does not depend on the key).
Check = tuple[int, CompiledPolicy, Any, Any]


def prepare(policies: Iterable[CompiledPolicy]) -> tuple[Check, ...]:
    """Per rule policy (in order) what `evaluate_checks` needs, computed once per policy set.
    Natural-language policies (no rule) are left out: they are not evaluated in-path."""
    out: list[Check] = []
    for p in policies:
        rule = p.rule
        if rule is None:
            continue
        if isinstance(rule, ModelAllowlistRule):
            out.append((ALLOW, p, rule, ModelList(rule.models)))
        elif isinstance(rule, ModelDenylistRule):
            out.append((DENY, p, rule, ModelList(rule.models)))
        elif isinstance(rule, MaxTokensRule):
            out.append((MAX_TOKENS, p, rule, rule.limit))
        elif isinstance(rule, ContentPatternRule):
            names = tuple(str(getattr(d, "value", d)) for d in rule.detectors)
            out.append((CONTENT, p, rule, tuple((n, DETECTORS[n]) for n in names)))
        elif isinstance(rule, LIMIT_RULES):
            out.append((LIMIT, p, rule, (rule.per, None)))
    return tuple(out)


def scoped(checks: Iterable[Check], org_id: str, workspace_id: str | None, repo_id: str | None) -> tuple[Check, ...]:
    """The checks of the policies that apply to one repository (org + workspace + repo levels)."""
    out: list[Check] = []
    for c in checks:
        kind, p, rule, data = c
        if not p.applies_to(org_id, workspace_id, repo_id):
            continue
        if kind == LIMIT:
            per = data[0]
            if per is Per.REPO:
                c = (kind, p, rule, (per, subject_key(per, repo_id or "", p.id)))
            elif per is Per.WORKSPACE:
                c = (kind, p, rule, (per, subject_key(per, workspace_id or "", p.id)))
            elif per is Per.ORG:
                c = (kind, p, rule, (per, subject_key(per, org_id, p.id)))
        out.append(c)
    return tuple(out)


def evaluate(
    policies: Iterable[CompiledPolicy],
    ctx: RequestContext,
    *,
    now: datetime,
    limits: LimitState | None = None,
) -> list[Verdict]:
    """Every verdict of every applicable rule policy, in policy order. Pure; CPU-bound."""
    checks = scoped(prepare(policies), ctx.org_id, ctx.workspace_id, ctx.repo_id)
    return evaluate_checks(checks, ctx, now=now, limits=limits)


def evaluate_checks(
    checks: Sequence[Check],
    ctx: RequestContext,
    *,
    now: datetime,
    limits: LimitState | None = None,
) -> list[Verdict]:
    """`evaluate` over checks already prepared and scoped to `ctx`'s repository (the gateway
    keeps them per repository and policy set). Pure apart from the model-list caches; CPU-bound."""
    out: list[Verdict] = []
    text: str | None = None
    for kind, p, rule, data in checks:
        if kind == ALLOW:
            if not data.matches(ctx.model, ctx.provider_model):
                out.append(_verdict(p, f"Model '{ctx.model}' is not in the allowed list of policy '{p.name}'"))
        elif kind == DENY:
            if data.matches(ctx.model, ctx.provider_model):
                out.append(_verdict(p, f"Model '{ctx.model}' is denied by policy '{p.name}'"))
        elif kind == MAX_TOKENS:
            if ctx.max_tokens is not None and ctx.max_tokens > data:
                out.append(
                    _verdict(p, f"Requested max tokens {ctx.max_tokens} exceed the limit {data} of policy '{p.name}'")
                )
        elif kind == CONTENT:
            if text is None:
                text = "\n".join(ctx.texts)
                raw = utf8(text)
                cache = ctx.scan_cache if ctx.scan_cache is not None else {}
            why = _content_hit(p, data, text, raw, cache) if text else None
            if why is None and ctx.texts_truncated:
                why = "content longer than the scan limit (not fully checked)"  # fail closed
            if why:
                out.append(_verdict(p, f"Request content matched {why} of policy '{p.name}'"))
        elif kind == LIMIT:
            if limits is None or not p.blocks:
                continue  # log/alert limits are reported by the policy consumer, not in-path
            if ctx.unpriced_model is not None and rule.type == "COST_BUDGET":
                out.append(_verdict(p, unpriced_explanation(ctx.unpriced_model, p.name)))
                continue
            per, subject = data
            if subject is None:
                subject = subject_key(per, ctx.subject_id(per), p.id)
            until = limits.blocked_until(subject, rule, now)
            if until is not None:
                what = {"TOKEN_BUDGET": "Token budget", "COST_BUDGET": "Cost budget"}.get(rule.type, "Rate limit")
                out.append(
                    _verdict(
                        p,
                        f"{what} of policy '{p.name}' reached; retry after {until.isoformat()}",
                        status=429,
                        retry_after_s=retry_after_seconds(until, now),
                        subject=subject,
                    )
                )
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
