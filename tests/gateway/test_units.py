"""Pure parts of the gateway: routing, circuit breaker, usage estimates, stream filtering, events."""

from __future__ import annotations

import orjson
import pytest

from producers.gateway.asgi import parse_json
from producers.gateway.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreakers
from producers.gateway.errors import error_body
from producers.gateway.events import RequestRecord, build_event
from producers.gateway.routing import resolve
from producers.gateway.surfaces.chat import filter_chunks
from producers.gateway.usage import CompletionCounter, estimate_prompt_tokens, text_tokens
from schemas.events import RequestEvent
from store.snapshot import ConfigEntry, KeyEntry, RepoEntry


def _cfg(cid: str, ai_type: str, name: str | None = None) -> ConfigEntry:
    return ConfigEntry(
        ai_llm_id=cid,
        org_id="o",
        workspace_id="w",
        name=name or cid,
        ai_type=ai_type,
        endpoint="http://x",
        region=None,
        updated_at=None,
        key=None,
        secret="s3cr3t-value-123",
    )


def _serves(ai_type: str, model: str) -> bool:
    return (ai_type == "OPENAI" and model.startswith("gpt-")) or (
        ai_type == "ANTHROPIC" and model.startswith("claude-")
    )


REPO = RepoEntry(
    "r",
    "o",
    "w",
    "repo",
    False,
    (
        _cfg("oa1", "OPENAI", "Primary"),
        _cfg("an", "ANTHROPIC"),
        _cfg("oa2", "OPENAI"),
        _cfg("oth", "OTHER", "local"),
    ),
)


def test_bare_model_goes_to_serving_configs_in_order() -> None:
    got = resolve(REPO, "gpt-4o", lambda c: None, _serves)
    assert [(c.ai_llm_id, m) for c, m in got] == [("oa1", "gpt-4o"), ("oa2", "gpt-4o")]


def test_model_list_makes_a_config_serve_unknown_names() -> None:
    lists = {"oth": frozenset({"llama3"})}
    got = resolve(REPO, "llama3", lambda c: lists.get(c.ai_llm_id), _serves)
    assert [c.ai_llm_id for c, _ in got] == ["oth"]
    assert resolve(REPO, "mistral-7b", lambda c: lists.get(c.ai_llm_id), _serves) == []


def test_provider_prefix_and_config_name_prefix() -> None:
    got = resolve(REPO, "anthropic/claude-x", lambda c: None, _serves)
    assert [(c.ai_llm_id, m) for c, m in got] == [("an", "claude-x")]
    got = resolve(REPO, "primary/gpt-4o", lambda c: None, _serves)
    assert [(c.ai_llm_id, m) for c, m in got] == [("oa1", "gpt-4o")]
    # unknown prefix: the whole string is a bare model name (e.g. HF-style ids)
    lists = {"oth": frozenset({"meta-llama/Llama-3-8B"})}
    got = resolve(REPO, "meta-llama/Llama-3-8B", lambda c: lists.get(c.ai_llm_id), _serves)
    assert [(c.ai_llm_id, m) for c, m in got] == [("oth", "meta-llama/Llama-3-8B")]
    assert resolve(REPO, "google/gemini-2.0-flash", lambda c: None, _serves) == []


def test_breaker_opens_half_opens_and_closes() -> None:
    now = [0.0]
    b = CircuitBreakers(threshold=3, cooldown_s=10, clock=lambda: now[0])
    for _ in range(2):
        assert b.allow("c")
        b.failure("c")
    assert b.state("c") == CLOSED
    b.failure("c")
    assert b.state("c") == OPEN and not b.allow("c")
    now[0] = 10.5
    assert b.state("c") == HALF_OPEN
    assert b.allow("c")  # the one trial
    assert not b.allow("c")  # no second trial while it runs
    b.failure("c")  # trial failed -> open again
    assert b.state("c") == OPEN and not b.allow("c")
    now[0] = 21.0
    assert b.allow("c")
    b.success("c")
    assert b.state("c") == CLOSED and b.allow("c") and b.allow("c")


def test_success_resets_consecutive_count() -> None:
    b = CircuitBreakers(threshold=2, cooldown_s=1)
    b.failure("c")
    b.success("c")
    b.failure("c")
    assert b.state("c") == CLOSED


def test_usage_estimates() -> None:
    assert text_tokens("") == 0 and text_tokens("abcd") == 1 and text_tokens("abcde") == 2
    body = {
        "messages": [
            {"role": "system", "content": "12345678"},
            {"role": "user", "content": [{"type": "text", "text": "abcd"}]},
        ]
    }
    assert estimate_prompt_tokens(body) == 3 + (3 + 2) + (3 + 1)
    assert estimate_prompt_tokens({"input": ["abcd", "abcdefgh"]}) == 3
    c = CompletionCounter()
    c.add_chunk({"choices": [{"delta": {"content": "hello wor"}}]})
    c.add_chunk({"choices": [{"delta": {"tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}}]})
    assert c.tokens == 3  # 12 chars


def _sse(obj) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def test_stream_filter_drops_usage_only_chunk_unless_asked() -> None:
    lines = [
        _sse({"choices": [{"index": 0, "delta": {"content": "hi"}}]}),
        _sse({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}),
        b"data: [DONE]\n\n",
    ]
    c = CompletionCounter()
    out = filter_chunks(lines, c, client_wants_usage=False)
    assert b'"usage"' not in out and out.endswith(b"data: [DONE]\n\n") and b'"hi"' in out
    out = filter_chunks(lines, CompletionCounter(), client_wants_usage=True)
    assert out == b"".join(lines)


def test_error_shape() -> None:
    body = orjson.loads(error_body(404, "nope", "model_not_found", "model"))
    assert body == {
        "error": {"message": "nope", "type": "invalid_request_error", "param": "model", "code": "model_not_found"}
    }


def test_event_has_no_text_and_round_trips() -> None:
    key = KeyEntry("k1", "key", REPO)
    o = RequestRecord(
        request_id="rq",
        key=key,
        endpoint="chat.completions",
        started_wall=1_700_000_000.0,
        model="gpt-4o",
        tokens_in=5,
        tokens_out=7,
        user_id="u",
        conversation_id="c",
    )
    ev = build_event(o, "gw")
    wire = ev.to_wire()
    back = RequestEvent.from_wire(wire)
    assert back.repo_ai_api_key_id == "k1" and back.repo_id == "r" and back.org_id == "o"
    assert back.tokens_in == 5 and back.tokens_out == 7 and back.user_id == "u"
    assert back.occurred_at.year == 2023
    assert b"s3cr3t" not in wire


@pytest.mark.parametrize("started", [1_700_000_000.0, 1_700_000_000.123456])
def test_event_wire_is_pydantics_byte_for_byte(started: float) -> None:
    """The gateway's own encoder writes exactly what `WireModel.to_wire` writes."""
    from schemas.events import WireModel

    key = KeyEntry("k1", "key", REPO)
    o = RequestRecord(
        request_id="rq",
        key=key,
        endpoint="chat",
        started_wall=started,
        model="gpt-4o",
        tokens_in=5,
        tokens_out=7,
        user_id='u\u00e9"x',
        policy_ids=["p1", "p2"],
    )
    o.attempted("c1", "OPENAI", "gpt-4o", "error", 503, "server_error", 1.23456)
    o.attempted("c2", "OPENAI", "gpt-4o", "ok", 200, None, 2.0)
    o.ttft_ms = 3.5
    o.finish()
    ev = build_event(o, "gw")
    assert ev.to_wire() == WireModel.to_wire(ev)
    o2 = RequestRecord(request_id="r2", key=key, endpoint="models", started_wall=started)
    o2.fail(500, "internal_error")
    ev2 = build_event(o2, "gw")
    assert ev2.to_wire() == WireModel.to_wire(ev2)


@pytest.mark.parametrize("raw", [b"{", b"[]", b"nul", b'"x"'])
def test_parse_json_rejects_non_objects(raw: bytes) -> None:
    from producers.gateway.errors import GatewayError

    with pytest.raises(GatewayError) as ei:
        parse_json(raw)
    assert ei.value.status == 400


class _FakeTransport:
    def __init__(self) -> None:
        self.calls = 0

    async def request(self, req, timeout):
        from producers.gateway.transport import UpstreamResponse

        self.calls += 1
        return UpstreamResponse(200, {}, orjson.dumps({"object": "list", "data": [{"id": f"m{self.calls}"}]}))


async def test_model_cache_fetches_once_and_refreshes_when_stale() -> None:
    import asyncio

    from producers.gateway.models_cache import ModelCache

    t = _FakeTransport()
    cache = ModelCache(t, ttl_s=0.05)
    cfg = _cfg("oa1", "OPENAI")
    assert cache.known(cfg) is None
    assert await asyncio.gather(cache.get(cfg), cache.get(cfg)) == [["m1"], ["m1"]]
    assert t.calls == 1 and cache.known(cfg) == frozenset({"m1"})
    await asyncio.sleep(0.06)
    assert cache.known(cfg) == frozenset({"m1"})  # stale answer now, refresh in the background
    await asyncio.sleep(0.02)
    assert t.calls == 2 and cache.known(cfg) == frozenset({"m2"})


async def test_snapshot_skips_configs_whose_secret_cannot_be_opened(tmp_path) -> None:
    from store import apikeys
    from store.db import make_engine, make_sessionmaker
    from store.epoch import bump_epoch
    from store.models import AiLlm, Base, Org, Repo, RepoAiLlm, RepoApiKey, Workspace
    from store.sealing import seal
    from store.snapshot import load_snapshot

    key = b"k" * 32
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 's.db'}")
    sm = make_sessionmaker(engine)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    async with sm() as s, s.begin():
        s.add(Org(id="o", name="o"))
        await s.flush()
        s.add(Workspace(id="w", org_id="o", name="w"))
        await s.flush()
        s.add(
            AiLlm(
                id="good",
                org_id="o",
                workspace_id="w",
                name="g",
                ai_type="OPENAI",
                endpoint="http://x/v1/",
                secret_sealed=seal(key, "sk-good-secret-value", "good"),
            )
        )
        s.add(
            AiLlm(
                id="bad",
                org_id="o",
                workspace_id="w",
                name="b",
                ai_type="OPENAI",
                endpoint="http://x/v1",
                secret_sealed=seal(key, "sk-moved-secret-value", "other-row"),
            )
        )
        s.add(Repo(id="r", org_id="o", workspace_id="w", name="r"))
        await s.flush()
        s.add(RepoAiLlm(repo_id="r", ai_llm_id="bad", position=0))
        s.add(RepoAiLlm(repo_id="r", ai_llm_id="good", position=1))
        s.add(RepoApiKey(id="k", repo_id="r", name="k", key_prefix="tg_", secret_hash=apikeys.hash_secret("tg_s")))
        await bump_epoch(s)
    async with sm() as s:
        snap = await load_snapshot(s, key)
    await engine.dispose()
    assert snap.epoch == 1 and set(snap.configs) == {"good"}
    assert snap.configs["good"].endpoint == "http://x/v1" and snap.configs["good"].secret == "sk-good-secret-value"
    entry = snap.keys_by_hash[apikeys.hash_secret("tg_s")]
    assert [c.ai_llm_id for c in entry.repo.configs] == ["good"]
    assert "sk-good" not in repr(snap.configs["good"])


def test_trial_without_verdict_releases_the_half_open_slot() -> None:
    now = [0.0]
    b = CircuitBreakers(threshold=1, cooldown_s=1, clock=lambda: now[0])
    b.failure("c")
    now[0] = 2.0
    with pytest.raises(RuntimeError):
        with b.trial("c") as t:  # the one half-open trial...
            assert b.trial("c") is None  # ...admits no second one while it runs
            raise RuntimeError("refused before the provider was called")
    assert t.verdict == "released" and b.state("c") == HALF_OPEN
    with b.trial("c") as t2:
        t2.failed()
    assert b.state("c") == OPEN and b.trial("c") is None


def test_breaker_counts_ambiguous_5xx_only_from_two_keys() -> None:
    b = CircuitBreakers(threshold=2, cooldown_s=10)
    for _ in range(10):
        assert b.trial("c") is not None
        assert b.ambiguous("c", "key-a") is False
    assert b.state("c") == CLOSED
    assert b.ambiguous("c", "key-b") is True and b.ambiguous("c", "key-a") is True
    assert b.state("c") == OPEN
