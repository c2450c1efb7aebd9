"""LLM judge for natural-language policies (a policy's `content`, no `rule`).

The workspace names its judge (`judgeAiLlmId` + `judgeModel`, set with `PUT /workspace/{id}`).
The judge is asked, through the same provider adapters the gateway uses
(`producers.adapters`), whether the request's text violates the policy, and answers a JSON
verdict `{"violation": bool, "severity": "LOW|MEDIUM|HIGH", "explanation": str}`.

Pure parts (`judge_body`, `parse_verdict`, `resolve_judge`) are separated from the one I/O call
(`Judge.judge`, which awaits one provider request with a timeout and never raises: failures
come back as a verdict with `error` set). Used in the request path for block policies
(`producers.policy.nl`) and by the policy consumer for log/alert policies (async, from
`tollgate.prompts.v1`). Judge tokens are reported as `llmTokensIn/Out` on violation events.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from policy.compiled import CompiledPolicy
from pricing.pricer import UNKNOWN, Price, price
from pricing.rates import TokenCounts, format_usd

log = logging.getLogger("tollgate.policy.judge")

JUDGE_MARKER = "[tollgate-policy-judge]"  # also lets the fake upstream recognise a judge call
MAX_JUDGED_CHARS = 20_000  # request text shown to the judge (head is kept)
JUDGE_MAX_TOKENS = 300
DEFAULT_TIMEOUT_S = 20.0

_SYSTEM = (
    "You are a strict compliance judge for an AI gateway. You receive a policy written in "
    "natural language and the text of a request sent to an AI model. Decide whether the "
    "request violates the policy. Answer with one JSON object and nothing else: "
    '{"violation": true|false, "severity": "LOW"|"MEDIUM"|"HIGH", "explanation": "<one sentence>"}.'
)


@dataclass(frozen=True, slots=True)
class JudgeVerdict:
    violation: bool
    severity: str
    explanation: str
    tokens_in: int = 0
    tokens_out: int = 0
    error: str | None = None  # set when no verdict could be obtained (never a secret)
    cost_usd: str | None = None  # the judge call's price (decimal USD; None: unknown)
    price_source: str = "unknown"


@dataclass(frozen=True, slots=True)
class JudgeTarget:
    """Which configuration and model judge a workspace's policies."""

    config: Any  # store.snapshot.ConfigEntry (secrets inside; never logged)
    model: str


def judge_price(cfg: Any, model: str, usage: Any) -> Price:
    """The judge call priced like a gateway request (the judge configuration's overrides, else
    the offline table, else unknown). Pure."""
    if usage is None:
        return UNKNOWN
    counts = TokenCounts(
        usage.tokens_in,
        usage.tokens_out,
        getattr(usage, "cached_tokens", 0),
        getattr(usage, "cache_write", 0),
        getattr(usage, "reasoning", 0),
    )
    return price(cfg.ai_type, model, counts, getattr(cfg, "prices", None))


def is_nl(policy: CompiledPolicy) -> bool:
    """A natural-language policy: no machine rule, some content."""
    return policy.rule is None and bool(policy.content.strip())


def resolve_judge(snapshot: Any, workspace_id: str | None) -> tuple[JudgeTarget | None, str | None]:
    """The workspace's judge from a config snapshot, or (None, why-not) in words a user can act on."""
    ws = (getattr(snapshot, "workspaces", None) or {}).get(workspace_id or "")
    if ws is None:
        return None, f"workspace {workspace_id} is unknown"
    cid, model = ws.get("judgeAiLlmId"), ws.get("judgeModel")
    if not cid or not model:
        return None, (
            f"workspace {workspace_id} has no policy judge configured "
            "(set judgeAiLlmId and judgeModel with PUT /workspace/{id})"
        )
    cfg = snapshot.configs.get(cid)
    if cfg is None:
        return None, f"the judge configuration {cid} of workspace {workspace_id} no longer exists"
    return JudgeTarget(cfg, model), None


def judge_body(policy_content: str, texts: Sequence[str], model: str) -> dict[str, Any]:
    """The OpenAI-shaped chat body sent to the judge (pure)."""
    text = "\n".join(texts)
    if len(text) > MAX_JUDGED_CHARS:
        text = text[:MAX_JUDGED_CHARS] + "\n[... truncated]"
    user = (
        f"{JUDGE_MARKER}\nPOLICY:\n{policy_content.strip()}\n\nREQUEST TEXT:\n{text}\n\n"
        "Answer with the JSON object only."
    )
    return {
        "model": model,
        "messages": [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}],
        "temperature": 0,
        "max_tokens": JUDGE_MAX_TOKENS,
        "stream": False,
    }


_OBJ = re.compile(r"\{.*\}", re.S)


def parse_verdict(answer: str, default_severity: str = "MEDIUM") -> JudgeVerdict:
    """The judge's answer -> verdict (pure). Accepts code fences / prose around one JSON object;
    anything unreadable is a verdict with `error` set (and no violation)."""
    m = _OBJ.search(answer or "")
    data: Any = None
    if m:
        try:
            data = json.loads(m.group(0))
        except ValueError:
            data = None
    if not isinstance(data, Mapping) or not isinstance(data.get("violation"), bool):
        return JudgeVerdict(False, default_severity, "", error="the judge's answer was not a JSON verdict")
    sev = str(data.get("severity") or default_severity).upper()
    if sev not in ("LOW", "MEDIUM", "HIGH"):
        sev = default_severity
    expl = data.get("explanation")
    expl = expl.strip()[:1000] if isinstance(expl, str) else ""
    return JudgeVerdict(bool(data["violation"]), sev, expl)


class Judge:
    """Calls a provider through the adapters. One pooled httpx client; `judge` never raises."""

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S, client: Any = None, guard: Any = None):
        from core.endpoints import EndpointGuard

        self.timeout_s = timeout_s
        self._client = client
        self.guard = guard or EndpointGuard()
        self.calls = 0

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            from core.guarded_net import guarded_httpx_transport

            self._client = httpx.AsyncClient(
                timeout=self.timeout_s,
                trust_env=False,
                follow_redirects=False,
                transport=guarded_httpx_transport(self.guard),
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def judge(self, target: JudgeTarget, policy: CompiledPolicy, texts: Sequence[str]) -> JudgeVerdict:
        """Ask the judge about one policy. Awaits one provider call (bounded by the timeout)."""
        from producers.adapters import adapter_for
        from producers.adapters.base import ProviderConfig
        from schemas.enums import AiType

        self.calls += 1
        cfg = target.config
        sev = policy.risk_type if policy.risk_type in ("LOW", "MEDIUM", "HIGH") else "MEDIUM"
        try:
            ad = adapter_for(cfg.ai_type)
            pcfg = ProviderConfig(
                ai_llm_id=cfg.ai_llm_id,
                ai_type=AiType(cfg.ai_type),
                endpoint=cfg.endpoint,
                key=cfg.key,
                secret=cfg.secret or "",
                region=cfg.region,
            )
            req = ad.chat_request(pcfg, target.model, judge_body(policy.content, texts, target.model))
            self.guard.check_host(urlsplit(req.url).hostname or "")
            resp = await self._http().request(req.method, req.url, headers=req.headers, content=req.body)
        except Exception as exc:  # noqa: BLE001 - a judge failure is reported, never raised
            return JudgeVerdict(False, sev, "", error=f"judge call failed ({type(exc).__name__})")
        if resp.status_code >= 400:
            err = ad.error(resp.status_code, resp.content, dict(resp.headers))
            from core.scrub import forms_of, scrub_text

            msg = scrub_text(err.message, forms_of(cfg))
            return JudgeVerdict(False, sev, "", error=f"judge answered {resp.status_code}: {msg}"[:300])
        try:
            completion, usage = ad.chat_response(resp.status_code, resp.content, target.model, request_id="judge")
            answer = completion["choices"][0]["message"].get("content") or ""
        except Exception as exc:  # noqa: BLE001
            return JudgeVerdict(False, sev, "", error=f"judge answer unreadable ({type(exc).__name__})")
        v = parse_verdict(answer, sev)
        tin = usage.tokens_in if usage is not None else 0
        tout = usage.tokens_out if usage is not None else 0
        p = judge_price(cfg, target.model, usage)
        return JudgeVerdict(
            v.violation, v.severity, v.explanation, tin, tout, v.error, format_usd(p.cost_usd), p.source
        )
