"""Budgets that hold across gateways: two gateway processes (apps) sharing the config store, 200
concurrent callers, a TOKEN_BUDGET and a COST_BUDGET, with the policy consumer running (`tollgate
up` plus a second gateway) and with no consumer at all (two bare gateways). Both bounds hold:

    limit - one worst case  <=  spend  <=  limit + one worst case

where the worst case is what a gateway reserves for one request (prompt estimate + max_tokens,
or that many tokens at the model's dearest rates). Callers retry a 429 that says `Retry-After: 1`
(reservations still settling) and stop at a longer one (the window is spent)."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import httpx
import pytest

from pricing.pricer import price, rates_for, worst_case_usd
from pricing.rates import TokenCounts
from tests.policy_e2e.helpers import policy, repo_key, setup_ws
from tests.support.live import scanning_client

CALLERS = 200
TEXT = "budget probe one two three four"
MAX_TOKENS = 8
PROMPT_ESTIMATE = len(TEXT) // 4 + 1  # the gateway's estimate (policy hooks)
WORST_TOKENS = PROMPT_ESTIMATE + MAX_TOKENS
TOKEN_LIMIT = 3000
USD_LIMIT = Decimal("0.0003")
LATENCY_S = 0.2
RESULTS: dict[str, tuple] = {}


def _worst_usd() -> Decimal:
    rates, _ = rates_for("OPENAI", "gpt-4o-mini", None)
    return worst_case_usd(rates, PROMPT_ESTIMATE, MAX_TOKENS)


async def _drive(urls: list[str], secret: str, deadline_s: float = 90.0) -> tuple[int, Decimal, int, int, int]:
    """200 callers spread over the gateways until each sees a long refusal: (tokens, usd, ok,
    refusals, refusals with Retry-After > 1)."""
    tokens, usd = 0, Decimal(0)
    counts = {"ok": 0, "429": 0, "long": 0}
    end = time.monotonic() + deadline_s
    body = {"model": "gpt-4o-mini", "max_tokens": MAX_TOKENS, "messages": [{"role": "user", "content": TEXT}]}
    # no keep-alive: a server closing an idle pooled connection would look like a failed call
    limits = httpx.Limits(max_connections=CALLERS, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60, limits=limits, headers={"authorization": f"Bearer {secret}"}) as client:

        async def caller(i: int) -> None:
            nonlocal tokens, usd
            url = urls[i % len(urls)] + "/v1/chat/completions"
            while time.monotonic() < end:
                r = await client.post(url, json=body)
                if r.status_code == 200:
                    u = r.json()["usage"]
                    tokens += u["prompt_tokens"] + u["completion_tokens"]
                    usd += price(
                        "OPENAI", "gpt-4o-mini", TokenCounts(u["prompt_tokens"], u["completion_tokens"])
                    ).cost_usd
                    counts["ok"] += 1
                    continue
                assert r.status_code == 429, r.text
                counts["429"] += 1
                wait = float(r.headers["retry-after"])
                if wait > 1:
                    counts["long"] += 1
                    return
                await asyncio.sleep(0.05)
            raise AssertionError("callers were still admitted at the deadline")

        await asyncio.gather(*(caller(i) for i in range(CALLERS)))
    return tokens, usd, counts["ok"], counts["429"], counts["long"]


def _run_case(name: str, urls: list[str], c: httpx.Client, h: dict, env: dict, rule: dict) -> tuple:
    rk = repo_key(c, h, env)
    policy(c, h, env, action=2, repo=rk["repo"], rule=rule)
    for u in urls:  # every gateway knows the key and the policy before the burst
        end = time.monotonic() + 10
        while httpx.get(u + "/v1/models", headers={"authorization": f"Bearer {rk['secret']}"}).status_code != 200:
            assert time.monotonic() < end
            time.sleep(0.05)
    time.sleep(0.5)
    got = asyncio.run(_drive(urls, rk["secret"]))
    RESULTS[name] = got
    print(f"\n{name}: tokens={got[0]} usd={got[1]} admitted={got[2]} refusals={got[3]}")  # for the note (-s)
    return got


def _check_tokens(got: tuple) -> None:
    tokens, _usd, ok, refused, long_ = got
    assert ok > 0 and long_ == CALLERS
    assert TOKEN_LIMIT - WORST_TOKENS <= tokens <= TOKEN_LIMIT + WORST_TOKENS, (tokens, got)


def _check_usd(got: tuple) -> None:
    _tokens, usd, ok, refused, long_ = got
    worst = _worst_usd()
    assert ok > 0 and long_ == CALLERS
    assert USD_LIMIT - worst <= usd <= USD_LIMIT + worst, (usd, worst, got)


@pytest.fixture
def two_gateways(live_app, live_app_factory, admin_headers, fake_upstream):
    url = live_app.runtime.settings.sqlalchemy_url
    other = live_app_factory(kind="gateway", database_url=url, gateway_id="gateway-b")
    fake_upstream.control.set_latency(LATENCY_S)
    yield [live_app.url, other.url]
    fake_upstream.control.reset()


@pytest.fixture
def bare_gateways(live_app, live_app_factory, fake_upstream):
    """Two gateways and no policy consumer anywhere (the `up` app only manages)."""
    url = live_app.runtime.settings.sqlalchemy_url
    a = live_app_factory(kind="gateway", database_url=url, gateway_id="gateway-a")
    b = live_app_factory(kind="gateway", database_url=url, gateway_id="gateway-b")
    fake_upstream.control.set_latency(LATENCY_S)
    yield [a.url, b.url]
    fake_upstream.control.reset()


@pytest.mark.parametrize("kind", ["tokens", "usd"])
def test_budget_holds_across_two_gateways_with_the_consumer(
    live_app, two_gateways, admin_headers, fake_upstream, kind
) -> None:
    with scanning_client(live_app.url) as c:
        env = setup_ws(c, admin_headers, fake_upstream)
        if kind == "tokens":
            _check_tokens(
                _run_case(
                    "tokens+consumer",
                    two_gateways,
                    c,
                    admin_headers,
                    env,
                    {"type": "TOKEN_BUDGET", "limit": TOKEN_LIMIT, "period": "DAY", "per": "REPO"},
                )
            )
            # the refusals of the metered gateway count as blocks of the configuration they would have used
            end = time.monotonic() + 30
            while True:
                st = c.get("/ai/llm/stats", params={"aiLlmId": env["config"]}, headers=admin_headers).json()["stats"][0]
                if int(st["totalBlocks"]) > 0:
                    break
                assert time.monotonic() < end, st
                time.sleep(0.3)
        else:
            _check_usd(
                _run_case(
                    "usd+consumer",
                    two_gateways,
                    c,
                    admin_headers,
                    env,
                    {"type": "COST_BUDGET", "limitUsd": str(USD_LIMIT), "period": "DAY", "per": "REPO"},
                )
            )


@pytest.mark.parametrize("kind", ["tokens", "usd"])
def test_budget_holds_across_two_gateways_without_a_consumer(
    live_app, bare_gateways, admin_headers, fake_upstream, kind
) -> None:
    with scanning_client(live_app.url) as c:
        env = setup_ws(c, admin_headers, fake_upstream)
        if kind == "tokens":
            _check_tokens(
                _run_case(
                    "tokens-no-consumer",
                    bare_gateways,
                    c,
                    admin_headers,
                    env,
                    {"type": "TOKEN_BUDGET", "limit": TOKEN_LIMIT, "period": "DAY", "per": "REPO"},
                )
            )
        else:
            _check_usd(
                _run_case(
                    "usd-no-consumer",
                    bare_gateways,
                    c,
                    admin_headers,
                    env,
                    {"type": "COST_BUDGET", "limitUsd": str(USD_LIMIT), "period": "DAY", "per": "REPO"},
                )
            )
