"""The msgspec column path gives every record the reference path's outcome (pure, no I/O):
the same column values for valid events, the same dead letters (offset, reason, payload) for
malformed ones, whatever mix and order they come in."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone

from consumers.metering import decode_batch, reference_rows
from consumers.metering_decode import RequestWire, request_columns
from schemas import topics
from schemas.events import Attempt, RequestEvent, ViolationEvent
from schemas.records import Record
from warehouse.tables import REQUEST_COLUMNS


def _event(rng: random.Random, i: int) -> dict:
    ev = RequestEvent(
        gateway_id=f"gw-{i % 3}",
        request_id=f"r{i}",
        org_id="o",
        workspace_id="w",
        repo_id="repo",
        repo_ai_api_key_id=f"k{i % 5}",
        ai_llm_id=rng.choice([None, "llm1", "llm2"]),
        ai_type=rng.choice([None, "OPENAI"]),
        model="anthropic/claude-x" if i % 4 == 0 else "gpt-4o",
        provider_model=rng.choice(["", "gpt-4o-2024"]),
        stream=bool(i % 2),
        status=rng.choice(["ok", "error", "blocked"]),
        http_status=rng.choice([200, 429, 502]),
        error_type=rng.choice([None, "upstream_error"]),
        latency_ms=rng.uniform(0, 5000),
        ttft_ms=rng.choice([None, 12.5]),
        tokens_in=rng.randrange(0, 2**32),
        tokens_out=rng.randrange(0, 10_000),
        cached_tokens=rng.randrange(0, 50),
        cache_read_tokens=rng.choice([0, 7]),
        cache_write_tokens=rng.randrange(0, 9),
        reasoning_tokens=rng.randrange(0, 9),
        usage_source=rng.choice(["provider", "estimated"]),
        cost_usd=rng.choice([None, "0.000000000001", "12.5", "3"]),
        price_source=rng.choice(["unknown", "table:2026-11", "x" * 80]),
        attempts=[
            Attempt(
                ai_llm_id=f"a{j}",
                ai_type="OPENAI",
                provider_model="m",
                status=rng.choice(["ok", "error"]),
                http_status=rng.choice([None, 200, 503]),
                latency_ms=rng.uniform(0, 100),
            )
            for j in range(rng.randrange(0, 3))
        ],
        user_id=rng.choice([None, "u1"]),
        conversation_id=rng.choice([None, "c1"]),
        policy_ids=rng.choice([[], ["p1", "p2"]]),
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(10**12)),
    )
    return json.loads(ev.to_wire())


def _malformed(base: dict) -> list[bytes]:
    def variant(**kw):
        d = dict(base)
        for k, v in kw.items():
            if v is ...:
                d.pop(k, None)
            else:
                d[k] = v
        return json.dumps(d).encode()

    return [
        b"{not json",
        b"[]",
        b'"a string"',
        variant(gatewayId=...),
        variant(eventId="not-a-uuid"),
        variant(eventId=12),
        variant(tokensIn=2**32),
        variant(tokensIn=-1),
        variant(tokensOut=2**70),
        variant(httpStatus=70000),
        variant(schemaVersion=256),
        variant(occurredAt="1900-01-01T00:00:00+00:00"),
        variant(occurredAt="2200-01-01T00:00:00+00:00"),
        variant(occurredAt="2024-01-01T00:00:00"),
        variant(occurredAt="yesterday"),
        variant(status="maybe"),
        variant(usageSource="guessed"),
        variant(costUsd="-1"),
        variant(costUsd="1e5"),
        variant(costUsd="0.0000000000001"),
        variant(costUsd=1.5),
        variant(attempts=[{"aiLlmId": "a"}]),
        variant(attempts=[{"aiLlmId": "a", "aiType": "t", "providerModel": "m", "status": "ok", "httpStatus": 70000}]),
        variant(policyIds="p1"),
        variant(model=None),
        variant(stream="yes please"),
    ]


def _lax(base: dict) -> list[bytes]:
    """Valid for the reference path (pydantic's lax mode) but not for the strict mirror."""
    snake = {"gateway_id" if k == "gatewayId" else k: v for k, v in base.items()}
    return [
        json.dumps(dict(base, tokensIn=12.0)).encode(),
        json.dumps(dict(base, tokensIn="12")).encode(),
        json.dumps(dict(base, stream="true")).encode(),
        json.dumps(snake).encode(),
        json.dumps(dict(base, occurredAt="2024-01-01T10:00:00+02:00")).encode(),
        json.dumps(dict(base, occurredAt=1_700_000_000)).encode(),
        json.dumps(dict(base, extraFutureField={"x": 1})).encode(),
        json.dumps({k: v for k, v in base.items() if k not in ("eventId", "occurredAt", "attempts")}).encode(),
    ]


def _compare(recs: list[Record]) -> None:
    d = decode_batch(recs)
    reqs, viols, dead = reference_rows(recs)
    got = d.requests.rows()
    assert len(got) == len(reqs)
    fresh = 0
    for g, want in zip(got, reqs, strict=True):
        made = g[0] != want[0]  # eventId and occurredAt absent: both paths make fresh ones
        fresh += made
        for name, a, b in zip(REQUEST_COLUMNS, g, want, strict=True):
            if made and name in ("event_id", "occurred_at"):
                continue
            assert a == b and type(a) is type(b), f"{name}: {a!r} != {b!r}"
    assert fresh <= 1
    assert d.violations.rows() == [tuple(v) for v in viols]
    assert [(x.topic, x.offset, x.reason, x.payload) for x in d.dead] == [
        (x.topic, x.offset, x.reason, x.payload) for x in dead
    ]


def test_valid_events_give_the_reference_columns() -> None:
    rng = random.Random(3)
    recs = [Record(topics.REQUESTS, 1, i, None, json.dumps(_event(rng, i)).encode(), 0) for i in range(400)]
    _compare(recs)
    d = decode_batch(recs)
    assert len(d.requests) == 400 and d.dead == []
    cols = dict(zip(REQUEST_COLUMNS, d.requests.data, strict=True))
    assert cols["kafka_offset"] == list(range(400)) and set(cols["kafka_partition"]) == {1}
    assert all(t.tzinfo is UTC for t in cols["occurred_at"])
    assert max(len(p) for p in cols["price_source"]) == 64


def test_malformed_and_lax_events_get_the_reference_outcome() -> None:
    rng = random.Random(5)
    base = _event(rng, 0)
    values = _malformed(base) + _lax(base) + [json.dumps(base).encode()]
    rng.shuffle(values)
    recs = [Record(topics.REQUESTS, 0, i, None, v, 0) for i, v in enumerate(values)]
    recs.append(Record("not.metered", 0, 99, None, json.dumps(base).encode(), 0))
    v = ViolationEvent(policy_id="p", policy_name="P", org_id="o", workspace_id="w")
    recs.append(Record(topics.VIOLATIONS, 0, 100, None, v.to_wire(), 0))
    recs.append(Record(topics.VIOLATIONS, 0, 101, None, b'{"policyId": 1}', 0))
    _compare(recs)
    d = decode_batch(recs)
    assert len(d.dead) == len(_malformed(base)) + 2  # + the unmetered topic and the bad violation
    assert len(d.violations) == 1


def test_mirror_refuses_what_the_table_cannot_hold() -> None:
    """The constraints are the reference path's table checks (so refusals stay its verdict)."""
    base = _event(random.Random(1), 0)
    for bad in _malformed(base):
        block, dead = request_columns(
            [Record(topics.REQUESTS, 0, 0, None, bad, 0)], lambda r: ("dead", ("fallback", r.offset))
        )
        assert len(block) == 0 and dead == [("fallback", 0)], bad


def test_mirror_has_every_field_of_the_event_model() -> None:
    assert set(RequestWire.__struct_fields__) == set(RequestEvent.model_fields)
    got = {f.encode_name for f in __import__("msgspec").structs.fields(RequestWire)}
    assert got == {f.alias for f in RequestEvent.model_fields.values()}


def test_non_utc_offsets_are_normalised_to_utc() -> None:
    base = _event(random.Random(2), 0)
    base["occurredAt"] = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5))).isoformat()
    d = decode_batch([Record(topics.REQUESTS, 0, 0, None, json.dumps(base).encode(), 0)])
    (t,) = d.requests.data[REQUEST_COLUMNS.index("occurred_at")]
    assert t == datetime(2026, 3, 1, 17, 0, tzinfo=UTC) and t.tzinfo is UTC
