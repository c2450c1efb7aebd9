"""The new surfaces through `tollgate up` (in-process bus, embedded ClickHouse): configurations,
repository and key made through the management API, calls made with the official SDKs, then
`/ai/llm/stats` per configuration equals the calls and the tokens the SDKs reported, exactly."""

from __future__ import annotations

import time
from collections import Counter

import anthropic
import httpx
import openai
import pytest

from tests.gateway.test_e2e_up import _setup, _until
from tests.support.live import scanning_client

pytestmark = pytest.mark.clickhouse


def test_stats_exact_for_responses_and_messages(live_app, admin_headers, fake_upstream) -> None:
    with scanning_client(live_app.url) as c:
        env = _setup(c, admin_headers, fake_upstream, types=("OPENAI", "ANTHROPIC", "GOOGLE"))
        cfg = dict(zip(("OPENAI", "ANTHROPIC", "GOOGLE"), env["configs"]))
        _until(
            lambda: (
                httpx.get(live_app.url + "/v1/models", headers={"authorization": f"Bearer {env['secret']}"}).status_code
            ),
            200,
            5.0,
        )
        oa = openai.OpenAI(base_url=live_app.url + "/v1", api_key=env["secret"], max_retries=0)
        an = anthropic.Anthropic(base_url=live_app.url, api_key=env["secret"], max_retries=0)
        calls, tin, tout = Counter(), Counter(), Counter()

        def add(ai_type: str, t_in: int, t_out: int) -> None:
            calls[ai_type] += 1
            tin[ai_type] += t_in
            tout[ai_type] += t_out

        for model, fam in (
            ("gpt-4o-mini", "OPENAI"),
            ("gemini-2.0-flash", "GOOGLE"),
            ("claude-3-5-haiku-20241022", "ANTHROPIC"),
        ):
            r = oa.responses.create(model=model, input=f"plain responses call for {fam}")
            add(fam, r.usage.input_tokens, r.usage.output_tokens)
            with oa.responses.stream(model=model, input=f"streamed responses call for {fam} now") as s:
                u = s.get_final_response().usage
            add(fam, u.input_tokens, u.output_tokens)
            m = an.messages.create(
                model=model,
                max_tokens=100,
                system="short",
                messages=[{"role": "user", "content": f"plain message to {fam}"}],
            )
            add(fam, m.usage.input_tokens + (m.usage.cache_read_input_tokens or 0), m.usage.output_tokens)
            with an.messages.stream(
                model=model, max_tokens=100, messages=[{"role": "user", "content": f"streamed message to {fam} ok"}]
            ) as s:
                u = s.get_final_message().usage
            add(fam, u.input_tokens + (u.cache_read_input_tokens or 0), u.output_tokens)
            an.messages.count_tokens(model=model, messages=[{"role": "user", "content": "count me"}])
            add(fam, 0, 0)  # a count is a call without tokens

        want = {fam: (calls[fam], tin[fam], tout[fam]) for fam in cfg}
        assert all(v[0] == 5 and v[1] > 0 and v[2] > 0 for v in want.values())
        got: dict = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for fam, llm in cfg.items():
                r = c.get("/ai/llm/stats", params={"aiLlmId": llm}, headers=admin_headers)
                rows = r.json().get("stats") if r.status_code == 200 else None
                if rows:
                    got[fam] = tuple(int(rows[0][k]) for k in ("totalApiCalls", "totalTokensIn", "totalTokensOut"))
            if got == want:
                break
            time.sleep(0.3)
        assert got == want
