"""Policy consumer handler: records in, violations/decisions/dead letters out."""

from datetime import UTC, datetime, timedelta

from consumers.policy import PolicyHandler
from policy.compiled import compile_policy
from schemas import topics
from schemas.events import RequestEvent
from schemas.records import Record

T0 = datetime(2024, 1, 15, 10, 30, 5, tzinfo=UTC)


def rec(value: bytes, off: int) -> Record:
    return Record(topics.REQUESTS, 0, off, b"k", value, 0)


def test_handle_crossing_rollover_and_dead_letters():
    pol = compile_policy(
        id="p",
        org_id="o",
        name="Rate",
        action_type=2,
        rule={"type": "RATE_LIMIT", "requests": 2, "window": "MINUTE", "per": "KEY"},
    )
    h = PolicyHandler([pol])
    evs = [
        RequestEvent(
            gateway_id="g",
            request_id=f"r{i}",
            org_id="o",
            workspace_id="w",
            repo_id="r",
            repo_ai_api_key_id="k",
            occurred_at=T0,
        )
        for i in range(3)
    ]
    records = [rec(e.to_wire(), i) for i, e in enumerate(evs)] + [rec(b"{broken", 9)]
    out = h.handle(records, now=T0)
    assert [(t, k) for t, k, _ in out.messages] == [(topics.VIOLATIONS, "p"), (topics.DECISIONS, "KEY:k:p")]
    assert out.messages[1][2].blocked
    assert len(out.dead) == 1 and out.dead[0].offset == 9 and "invalid request event" in out.dead[0].reason
    later = h.handle([], now=T0 + timedelta(minutes=1))
    assert [(t, k, m.blocked) for t, k, m in later.messages] == [(topics.DECISIONS, "KEY:k:p", False)]
