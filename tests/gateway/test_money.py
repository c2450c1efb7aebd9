"""Money through the live gateway: cache and reasoning tokens from every family's usage (streamed
and not, on chat, responses and messages), each request priced once on its event (table, a
configuration's override, or unknown — never $0)."""

from __future__ import annotations

from decimal import Decimal

import anthropic
import httpx
import pytest
from sqlalchemy import update

from fakeupstream.rules import REASONING_TOKENS
from pricing import table
from pricing.pricer import price
from pricing.rates import TokenCounts
from store.epoch import bump_epoch
from store.models import AiLlm

MARKED = "hello FAKE-CACHE-READ FAKE-CACHE-WRITE FAKE-REASONING one two three four five"
PROMPT_WORDS = len(MARKED.split())  # the fake's prompt tokens (one user message)
READ = PROMPT_WORDS // 2
WRITE = PROMPT_WORDS // 4

# model, family, reports cache writes, reports reasoning apart
FAMILIES = [
    ("gpt-4o-mini", "OPENAI", False, True),
    ("claude-3-5-haiku-20241022", "ANTHROPIC", True, False),
    ("gemini-2.0-flash", "GOOGLE", False, True),
    ("anthropic.claude-3-haiku-20240307-v1:0", "AWS", True, False),
]


@pytest.fixture(autouse=True)
def _clean(gw):
    gw.fake.control.reset()
    gw.gw.gateway.breakers._states.clear()
    yield


def one_event(env, request_id: str):
    evs = env.gw.publisher.wait_for(request_id)
    assert len(evs) == 1
    return evs[0]


def _expected_cost(ev) -> str:
    counts = TokenCounts(ev.tokens_in, ev.tokens_out, ev.cache_read_tokens, ev.cache_write_tokens, ev.reasoning_tokens)
    p = price(ev.ai_type, ev.provider_model, counts)
    assert p.cost_usd is not None and p.cost_usd > 0
    return format(p.cost_usd.normalize(), "f")


def _check(ev, family: str, writes: bool, reasoning: bool) -> None:
    assert ev.ai_type == family and ev.status == "ok" and ev.usage_source == "provider"
    assert ev.tokens_in == PROMPT_WORDS
    assert ev.cache_read_tokens == ev.cached_tokens == READ
    assert ev.cache_write_tokens == (WRITE if writes else 0)
    assert ev.reasoning_tokens == (REASONING_TOKENS if reasoning else 0)
    assert ev.price_source == table.VERSION and ev.price_source.startswith("table:")
    assert Decimal(ev.cost_usd) == Decimal(_expected_cost(ev))


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("model,family,writes,reasoning", FAMILIES)
def test_chat_cache_and_reasoning_tokens_priced(gw, model, family, writes, reasoning, stream) -> None:
    client = gw.client("all")
    msgs = [{"role": "user", "content": MARKED}]
    if stream:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=msgs, stream=True, stream_options={"include_usage": True}
        )
        usage = [c.usage for c in raw.parse() if c.usage is not None][-1]
    else:
        raw = client.chat.completions.with_raw_response.create(model=model, messages=msgs)
        usage = raw.parse().usage
    # the client sees the same cache and reasoning counts (OpenAI's shape, whatever the family)
    assert usage.prompt_tokens == PROMPT_WORDS
    assert usage.prompt_tokens_details.cached_tokens == READ
    if reasoning:
        assert usage.completion_tokens_details.reasoning_tokens == REASONING_TOKENS
    _check(one_event(gw, raw.headers["x-request-id"]), family, writes, reasoning)


def test_gpt_4o_mini_cost_is_the_list_price(gw) -> None:
    """9 prompt tokens (4 cached), reply + 5 reasoning tokens: $0.15 / $0.075 / $0.60 per 1M."""
    raw = gw.client("all").chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": MARKED}]
    )
    ev = one_event(gw, raw.headers["x-request-id"])
    want = (
        Decimal(PROMPT_WORDS - READ) * Decimal("0.15")
        + Decimal(READ) * Decimal("0.075")
        + Decimal(ev.tokens_out) * Decimal("0.60")
    ) / 1_000_000
    assert Decimal(ev.cost_usd) == want


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("model,family,writes,reasoning", FAMILIES)
def test_messages_surface_cache_tokens(gw, model, family, writes, reasoning, stream) -> None:
    an = anthropic.Anthropic(base_url=gw.gw.url.removesuffix("/v1"), api_key=gw.keys["all"], max_retries=0)
    msgs = [{"role": "user", "content": MARKED}]
    if stream:
        with an.messages.with_streaming_response.create(model=model, max_tokens=100, messages=msgs, stream=True) as r:
            rid = r.headers["x-request-id"]
            r.read()
    else:
        raw = an.messages.with_raw_response.create(model=model, max_tokens=100, messages=msgs)
        rid = raw.headers["x-request-id"]
        u = raw.parse().usage
        assert u.cache_read_input_tokens == READ
        assert u.input_tokens + u.cache_read_input_tokens + (u.cache_creation_input_tokens or 0) == PROMPT_WORDS
    _check(one_event(gw, rid), family, writes, reasoning)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("model,family,writes,reasoning", FAMILIES)
def test_responses_surface_cache_tokens(gw, model, family, writes, reasoning, stream) -> None:
    client = gw.client("all")
    if stream:
        with client.responses.with_streaming_response.create(model=model, input=MARKED, stream=True) as r:
            rid = r.headers["x-request-id"]
            r.read()
    else:
        raw = client.responses.with_raw_response.create(model=model, input=MARKED)
        rid = raw.headers["x-request-id"]
        u = raw.parse().usage
        assert u.input_tokens_details.cached_tokens == READ
        assert u.output_tokens_details.reasoning_tokens == (REASONING_TOKENS if reasoning else 0)
    _check(one_event(gw, rid), family, writes, reasoning)


async def _set_prices(live, ai_llm_id: str, prices: dict | None) -> None:
    async with live.sm() as s, s.begin():
        await s.execute(update(AiLlm).where(AiLlm.id == ai_llm_id).values(prices=prices))
        await bump_epoch(s)


def _wait_prices(gw, ai_llm_id: str, present: bool) -> None:
    import time

    end = time.monotonic() + 5
    while time.monotonic() < end:
        cfg = gw.gw.gateway.refresher.snapshot.configs.get(ai_llm_id)
        if cfg is not None and bool(cfg.prices) == present:
            return
        time.sleep(0.02)
    raise AssertionError("snapshot did not pick up the prices")


def test_override_prices_the_configuration(gw) -> None:
    cfg = gw.cfg["openai"]
    gw.gw.run(
        _set_prices(
            gw.gw,
            cfg,
            {"gpt-4o-*": {"input": "1", "cachedInput": "0.5", "cacheWrite": None, "output": "2", "reasoning": "4"}},
        )
    )
    _wait_prices(gw, cfg, True)
    try:
        raw = gw.client("single").chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": MARKED}]
        )
        ev = one_event(gw, raw.headers["x-request-id"])
        assert ev.price_source == "override"
        plain_out = ev.tokens_out - REASONING_TOKENS
        want = (
            Decimal(PROMPT_WORDS - READ) * 1
            + Decimal(READ) * Decimal("0.5")
            + Decimal(plain_out) * 2
            + Decimal(REASONING_TOKENS) * 4
        ) / 1_000_000
        assert Decimal(ev.cost_usd) == want
    finally:
        gw.gw.run(_set_prices(gw.gw, cfg, None))
        _wait_prices(gw, cfg, False)


def test_unknown_model_is_unknown_never_zero(gw) -> None:
    """A self-hosted model on an OTHER endpoint (no table price, no override)."""
    assert price("OTHER", "slow-model", TokenCounts(10, 10)).cost_usd is None
    with gw.client("slow").chat.completions.with_streaming_response.create(
        model="slow-model", messages=[{"role": "user", "content": "hello there"}], stream=True
    ) as r:
        rid = r.headers["x-request-id"]
        r.read()
    ev = one_event(gw, rid)
    assert ev.tokens_in == 11 and ev.cost_usd is None and ev.price_source == "unknown"
    wire = ev.to_wire()
    assert b'"costUsd":null' in wire and b'"priceSource":"unknown"' in wire


def test_event_wire_names(gw) -> None:
    raw = gw.client("all").chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": MARKED}]
    )
    ev = one_event(gw, raw.headers["x-request-id"])
    wire = httpx.Response(200, content=ev.to_wire()).json()
    for k in ("costUsd", "priceSource", "cacheReadTokens", "cacheWriteTokens", "reasoningTokens"):
        assert k in wire
    assert isinstance(wire["costUsd"], str) and "e" not in wire["costUsd"].lower()
