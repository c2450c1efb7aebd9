"""What a budget reserves for a request without max_tokens (the routed model's output cap, the
configured default when unknown), the prompt estimate, and when a refusal says to come back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from policy.budget import prompt_tokens_estimate
from pricing.overrides import PriceOverrides, parse_overrides
from producers.gateway.hooks import RequestContext
from producers.policy import leases
from producers.policy.hooks import GatewayPolicyHooks
from store.snapshot import ConfigEntry, KeyEntry, PolicyEntry, RepoEntry, Snapshot

T0 = datetime(2026, 12, 2, 11, 30, tzinfo=UTC)
REPO = RepoEntry(repo_id="r", org_id="o", workspace_id="w", name="repo", disabled=False, configs=())
KEY = KeyEntry(key_id="k", name="key", repo=REPO)
TEXT = "count these few words please"


def _snapshot(ai_type: str, prices: dict | None, rule: dict) -> Snapshot:
    cfg = ConfigEntry(
        ai_llm_id="cfg",
        org_id="o",
        workspace_id="w",
        name="c",
        ai_type=ai_type,
        endpoint="http://127.0.0.1:1",
        region=None,
        updated_at=None,
        prices=PriceOverrides(parse_overrides(prices)) if prices else None,
    )
    pol = PolicyEntry(
        policy_id="b",
        org_id="o",
        workspace_id=None,
        repo_id=None,
        name="Budget",
        content="",
        risk_type="HIGH",
        action_type=2,
        rule=rule,
    )
    return Snapshot(epoch=1, keys_by_hash={}, repos={}, configs={"cfg": cfg}, policies=(pol,))


def reserved(model: str, ai_type: str = "OPENAI", prices: dict | None = None, default: int = 4096, **body) -> int:
    snap = _snapshot(ai_type, prices, {"type": "TOKEN_BUDGET", "limit": 10**9, "period": "DAY", "per": "KEY"})
    ctx = RequestContext(request_id="q", key=KEY, snapshot=snap, endpoint="chat.completions", model=model)
    ctx.extra.update({"ai_llm_id": "cfg", "ai_type": ai_type, "provider_model": model})
    h = GatewayPolicyHooks(lambda: None, "gw", clock=lambda: T0, default_output_tokens=default)
    assert h.precheck(ctx, {"model": model, "messages": [{"role": "user", "content": TEXT}], **body}) is None
    [res] = ctx.extra["policy_result"].reservations
    return res.amount


PROMPT = len(TEXT) // 4 + 1


def test_without_max_tokens_the_model_output_cap_is_reserved() -> None:
    assert reserved("gpt-4o-mini") == PROMPT + 16_384  # was a flat 4096
    assert reserved("gpt-4.1") == PROMPT + 32_768
    assert reserved("gpt-4o-mini", max_tokens=20) == PROMPT + 20  # the request's own limit first
    assert reserved("gpt-4o-mini", max_completion_tokens=30) == PROMPT + 30


def test_unknown_models_reserve_the_configured_default_or_their_override() -> None:
    assert reserved("house-model", ai_type="OTHER", default=1000) == PROMPT + 1000
    cap = {"house-*": {"input": "1", "output": "1", "maxOutputTokens": "300"}}
    assert reserved("house-model", ai_type="OTHER", prices=cap, default=1000) == PROMPT + 300


def test_prompt_estimate_counts_bytes_so_dense_scripts_are_not_underestimated() -> None:
    assert prompt_tokens_estimate([TEXT]) == len(TEXT) // 4 + 1  # ASCII: 4 characters a token
    zh = "我们的网关为每个请求计算费用并执行预算策略。" * 20  # ~280 tokens in OpenAI's o200k
    assert prompt_tokens_estimate([zh]) >= 280 > len(zh) // 4 + 1
    assert prompt_tokens_estimate(["ab", "cd"]) == 2 and prompt_tokens_estimate([]) == 1


def test_lease_refusal_says_when_the_budget_frees(monkeypatch) -> None:
    """Refused by the shared store: Retry-After is the window end when nothing is settling, and
    1 s while reservations are in flight here or the window changed elsewhere moments ago."""
    changed: list[datetime | None] = [None]

    async def refuse(sm, lid, want, need, limit, window_end):
        return 0, changed[0]

    async def give_back(sm, lid, n):
        return None

    monkeypatch.setattr(leases.budget_leases, "lease", refuse)
    monkeypatch.setattr(leases.budget_leases, "give_back", give_back)

    async def run() -> list[float]:
        bank = leases.LeaseBank(sessionmaker=None)
        end = datetime.now(UTC) + timedelta(hours=3)
        out = [(await bank.take("a", 10, 100, end))[1]]  # spent, nothing in flight
        bank._win("b").inflight = 1  # noqa: SLF001 - another request of the window still running
        out.append((await bank.take("b", 10, 100, end))[1])
        changed[0] = datetime.now(UTC)  # another gateway just settled into the window
        out.append((await bank.take("c", 10, 100, end))[1])
        return out

    spent, inflight, recent = asyncio.run(run())
    assert 3 * 3600 - 5 <= spent <= 3 * 3600
    assert inflight == 1.0 and recent == 1.0
