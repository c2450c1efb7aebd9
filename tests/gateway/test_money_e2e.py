"""Money end to end through `tollgate up` (in-process bus, embedded ClickHouse): calls with cache
and reasoning tokens on OpenAI and Anthropic, a self-hosted model priced by an override and one
with no price; `/ai/llm/stats` totalCost equals the list prices of what the SDKs reported, the
override's prices, and unknown stays unknown (null, counted) — never $0; `/aistats` rows carry
the same cost."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import anthropic
import httpx
import openai
import pytest

from pricing.pricer import price
from pricing.rates import TokenCounts
from tests.support.live import scanning_client
from tests.support.secrets import register_secret

pytestmark = pytest.mark.clickhouse

MARKED = "price me FAKE-CACHE-READ FAKE-CACHE-WRITE FAKE-REASONING one two three four five six"
SELF_HOSTED = "my-selfhosted-llm"


def _config(c, h, ws, name, ai_type, endpoint, secret, prices=None) -> str:
    body = {"name": name, "aiType": ai_type, "endpoint": endpoint, "secret": secret, "workspaceId": ws}
    if prices is not None:
        body["prices"] = prices
    r = c.post("/ai/llm", headers=h, json=body)
    assert r.status_code == 200, r.text
    return r.json()["aiLlmId"]


def _repo_key(c, h, ws, name, cfgs) -> str:
    r = c.post("/repo", headers=h, json={"name": name, "workspaceId": ws, "repoAiLlms": [{"aiLlmId": i} for i in cfgs]})
    assert r.status_code in (200, 201), r.text
    r = c.post(f"/repo/{r.json()['repoId']}/ai/apikey", headers=h, json={"name": "app", "aiType": "OPENAI"})
    assert r.status_code == 201, r.text
    register_secret(r.json()["secret"])
    return r.json()["secret"]


def _stats(c, h, llm) -> dict:
    r = c.get("/ai/llm/stats", params={"aiLlmId": llm}, headers=h)
    assert r.status_code == 200, r.text
    return r.json()["stats"][0]


def test_total_cost_through_up(live_app, admin_headers, fake_upstream) -> None:
    fake_models = fake_upstream.app.state.ctx.models["openai"]
    fake_models.append(SELF_HOSTED)
    h = admin_headers
    try:
        with scanning_client(live_app.url) as c:
            sfx = uuid.uuid4().hex[:8]
            ws = c.post("/workspace", json={"name": f"money-{sfx}"}, headers=h).json()["workspace"]["id"]
            ep, cr = fake_upstream.endpoints, fake_upstream.creds
            oa = _config(c, h, ws, "oa", "OPENAI", ep["OPENAI"], cr.openai_key)
            an = _config(c, h, ws, "an", "ANTHROPIC", ep["ANTHROPIC"], cr.anthropic_key)
            unknown = _config(c, h, ws, "selfhosted", "OTHER", ep["OTHER"], cr.openai_key)
            priced = _config(
                c,
                h,
                ws,
                "selfhosted-priced",
                "OTHER",
                ep["OTHER"],
                cr.openai_key,
                prices={"my-selfhosted-*": {"input": "1.5", "output": "2"}},
            )
            k_main = _repo_key(c, h, ws, f"main-{sfx}", [oa, an])
            k_unknown = _repo_key(c, h, ws, f"unk-{sfx}", [unknown])
            k_priced = _repo_key(c, h, ws, f"pri-{sfx}", [priced])
            for k in (k_main, k_unknown, k_priced):
                end = time.monotonic() + 5
                while (
                    httpx.get(live_app.url + "/v1/models", headers={"authorization": f"Bearer {k}"}).status_code != 200
                ):
                    assert time.monotonic() < end
                    time.sleep(0.05)
            sdk = openai.OpenAI(base_url=live_app.url + "/v1", api_key=k_main, max_retries=0)
            an_sdk = anthropic.Anthropic(base_url=live_app.url, api_key=k_main, max_retries=0)
            want_oa, cached_oa = Decimal(0), 0
            msgs = [{"role": "user", "content": MARKED}]
            u = sdk.chat.completions.create(model="gpt-4o-mini", messages=msgs).usage
            chunks = list(
                sdk.chat.completions.create(
                    model="gpt-4o-mini", messages=msgs, stream=True, stream_options={"include_usage": True}
                )
            )
            for usage in (u, chunks[-1].usage):
                counts = TokenCounts(
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    usage.prompt_tokens_details.cached_tokens,
                    0,
                    usage.completion_tokens_details.reasoning_tokens,
                )
                assert counts.cache_read > 0 and counts.reasoning > 0
                cached_oa += counts.cache_read
                want_oa += price("OPENAI", "gpt-4o-mini", counts).cost_usd
            # list prices, by hand: $0.15 in, $0.075 cached, $0.60 out per 1M
            hand = sum(
                (
                    Decimal(x.prompt_tokens - x.prompt_tokens_details.cached_tokens) * Decimal("0.15")
                    + Decimal(x.prompt_tokens_details.cached_tokens) * Decimal("0.075")
                    + Decimal(x.completion_tokens) * Decimal("0.60")
                )
                / 1_000_000
                for x in (u, chunks[-1].usage)
            )
            assert hand == want_oa
            want_an = Decimal(0)
            m = an_sdk.messages.create(model="claude-3-5-haiku-20241022", max_tokens=100, messages=msgs)
            with an_sdk.messages.stream(model="claude-3-5-haiku-20241022", max_tokens=100, messages=msgs) as s:
                m2 = s.get_final_message()
            for x in (m.usage, m2.usage):
                read, write = x.cache_read_input_tokens or 0, x.cache_creation_input_tokens or 0
                assert read > 0 and write > 0
                want_an += price(
                    "ANTHROPIC",
                    "claude-3-5-haiku-20241022",
                    TokenCounts(x.input_tokens + read + write, x.output_tokens, read, write),
                ).cost_usd
            self_u = (
                openai.OpenAI(base_url=live_app.url + "/v1", api_key=k_unknown, max_retries=0)
                .chat.completions.create(model=SELF_HOSTED, messages=[{"role": "user", "content": "no price here"}])
                .usage
            )
            assert self_u.prompt_tokens > 0
            p = (
                openai.OpenAI(base_url=live_app.url + "/v1", api_key=k_priced, max_retries=0)
                .chat.completions.create(
                    model=SELF_HOSTED, messages=[{"role": "user", "content": "negotiated price here"}]
                )
                .usage
            )
            want_priced = (Decimal(p.prompt_tokens) * Decimal("1.5") + Decimal(p.completion_tokens) * 2) / 1_000_000

            want = {
                oa: (str(want_oa.normalize()), str(cached_oa), "0"),
                an: (str(want_an.normalize()), None, "0"),
                unknown: (None, "0", "1"),
                priced: (str(want_priced.normalize()), "0", "0"),
            }
            got: dict = {}
            end = time.monotonic() + 60
            while time.monotonic() < end:
                for llm in want:
                    s = _stats(c, h, llm)
                    got[llm] = (
                        None if s["totalCost"] is None else str(Decimal(s["totalCost"]).normalize()),
                        None if want[llm][1] is None else s["totalCachedTokensIn"],
                        s["totalUnpricedCalls"],
                    )
                if got == want:
                    break
                time.sleep(0.3)
            assert got == want
            assert _stats(c, h, unknown)["totalApiCalls"] == "1"  # counted, with an unknown cost
            rows = c.get("/aistats/minute", params={"aiLlmId": f"{oa},{unknown}"}, headers=h).json()["data"]
            cost = {r["aiLlmId"]: r["cost"] for r in rows}
            assert Decimal(cost[oa]) == want_oa and cost[unknown] is None
    finally:
        fake_models.remove(SELF_HOSTED)
