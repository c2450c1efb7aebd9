"""Reservation accounting and the engine that combines it with consumer decisions."""

from datetime import UTC, datetime, timedelta

from policy.budget import BudgetLedger, worst_case_tokens
from policy.engine import PolicyEngine
from policy.evaluate import RequestContext, compile_policy
from schemas.events import Decision

T0 = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)


def test_worst_case():
    assert worst_case_tokens(100, 50) == 150
    assert worst_case_tokens(100, None, default_cap=1000) == 1100
    assert worst_case_tokens(-3, 0, default_cap=7) == 7


def test_reserve_settle_and_exhaustion():
    led = BudgetLedger()
    assert led.would_exceed("s", "tokens", 1000, "DAY", T0) is None
    r1 = led.reserve("s", "tokens", "DAY", T0, 600)
    r2 = led.reserve("s", "tokens", "DAY", T0, 300)
    assert led.used("s", "tokens", "DAY", T0) == 900
    assert led.would_exceed("s", "tokens", 1000, "DAY", T0) is None
    led.settle(r1, 50, T0)
    led.settle(r2, 0, T0)  # never forwarded
    assert led.used("s", "tokens", "DAY", T0) == 50
    led.reserve("s", "tokens", "DAY", T0, 950)
    until = led.would_exceed("s", "tokens", 1000, "DAY", T0)
    assert until == datetime(2024, 1, 16, tzinfo=UTC)
    # next window starts empty
    assert led.would_exceed("s", "tokens", 1000, "DAY", T0 + timedelta(days=1)) is None


def test_published_state_never_counts_own_completions_twice():
    led = BudgetLedger("gw-a")
    end = datetime(2024, 1, 15, 11, tzinfo=UTC)
    r = led.reserve("s", "tokens", "HOUR", T0, 100)
    led.settle(r, 80, T0)
    assert led.used("s", "tokens", "HOUR", T0) == 80
    # the consumer has not seen our 80 yet: 500 from another gateway -> 580
    led.apply_published("s", "tokens", "HOUR", end, 500, {"gw-b": 500})
    assert led.used("s", "tokens", "HOUR", T0) == 580
    # now it has: 580 total of which 80 ours -> still 580 (the old ledger said 660)
    led.apply_published("s", "tokens", "HOUR", end, 580, {"gw-b": 500, "gw-a": 80})
    assert led.used("s", "tokens", "HOUR", T0) == 580
    # a later local completion is counted at once, before the consumer reports it
    led.settle(led.reserve("s", "tokens", "HOUR", T0, 50), 20, T0)
    assert led.used("s", "tokens", "HOUR", T0) == 600
    assert led.settled_used("s", "tokens", "HOUR", T0) == 600
    r3 = led.reserve("s", "tokens", "HOUR", T0, 30)
    assert led.used("s", "tokens", "HOUR", T0) == 630 and led.settled_used("s", "tokens", "HOUR", T0) == 600
    led.settle(r3, 0, T0)
    # out-of-order (smaller) states and older windows are ignored: totals only grow in a window
    led.apply_published("s", "tokens", "HOUR", end, 1, {"gw-a": 1})
    led.apply_published("s", "tokens", "HOUR", end - timedelta(hours=1), 99999, {"gw-b": 99999})
    assert led.used("s", "tokens", "HOUR", T0) == 600


def test_published_state_after_a_gateway_restart_and_without_breakdown():
    end = datetime(2024, 1, 15, 11, tzinfo=UTC)
    fresh = BudgetLedger("gw-a")  # restarted: knows nothing local, the consumer does
    fresh.apply_published("s", "tokens", "HOUR", end, 300, {"gw-a": 200, "gw-b": 100})
    assert fresh.used("s", "tokens", "HOUR", T0) == 300
    fresh.settle(fresh.reserve("s", "tokens", "HOUR", T0, 10), 10, T0)
    assert fresh.used("s", "tokens", "HOUR", T0) == 300  # max(own 10, published own 200) + 100
    # no per-gateway breakdown: all of it is taken as others' (blocks early, never late)
    led = BudgetLedger("gw-a")
    led.settle(led.reserve("s", "tokens", "HOUR", T0, 10), 10, T0)
    led.apply_published("s", "tokens", "HOUR", end, 10)
    assert led.used("s", "tokens", "HOUR", T0) == 20


def _ctx(**kw):
    base = dict(
        org_id="o",
        workspace_id="w",
        repo_id="r",
        key_id="k",
        model="gpt-4o",
        prompt_tokens_estimate=100,
        max_tokens=200,
    )
    base.update(kw)
    return RequestContext(**base)


def test_engine_overshoot_bounded_by_one_worst_case():
    budget = compile_policy(
        id="b",
        org_id="o",
        name="budget",
        action_type=2,
        rule={"type": "TOKEN_BUDGET", "limit": 1000, "period": "DAY", "per": "KEY"},
    )
    eng = PolicyEngine()
    eng.set_policies([budget])
    admitted, consumed, inflight = 0, 0, []
    for i in range(20):  # 20 concurrent requests, worst case 300 each, actual 250
        res = eng.precheck(_ctx(), T0)
        if res.block is None:
            admitted += 1
            inflight.append(res)
        else:
            assert res.block.status == 429 and res.block.retry_after_s > 0
    assert admitted == 4  # 0, 300, 600, 900 < 1000 -> admitted; 1200 -> blocked
    for res in inflight:
        eng.settle(res, 250, T0)
        consumed += 250
    assert consumed <= 1000 + 300
    assert eng.ledger.used("KEY:k:b", "tokens", "DAY", T0) == 1000
    assert eng.precheck(_ctx(), T0).block is not None


def test_engine_rate_limit_requests_counted_locally_and_decisions_applied():
    rate = compile_policy(
        id="r",
        org_id="o",
        name="rate",
        action_type=2,
        rule={"type": "RATE_LIMIT", "requests": 3, "window": "MINUTE", "per": "REPO"},
    )
    eng = PolicyEngine()
    eng.set_policies([rate])
    for _ in range(3):
        res = eng.precheck(_ctx(), T0)
        assert res.block is None
        eng.settle(res, 10, T0)
    blocked = eng.precheck(_ctx(), T0)
    assert blocked.block.status == 429 and blocked.block.retry_after_s == 60
    assert eng.precheck(_ctx(), T0 + timedelta(minutes=1)).block is None
    # a decision from the consumer (another gateway's traffic) blocks too, and unblocks later
    eng2 = PolicyEngine()
    eng2.set_policies([rate])
    until = T0 + timedelta(seconds=30)
    eng2.apply_decision(Decision(subject="REPO:r:r", policy_id="r", blocked=True, until=until, occurred_at=T0))
    assert eng2.precheck(_ctx(), T0).block.retry_after_s == 30
    eng2.apply_decision(Decision(subject="REPO:r:r", policy_id="r", blocked=False, occurred_at=until))
    assert eng2.precheck(_ctx(), T0 + timedelta(seconds=1)).block is None


def test_engine_published_usage_blocks_other_gateways_budget():
    budget = compile_policy(
        id="b",
        org_id="o",
        name="budget",
        action_type=2,
        rule={"type": "TOKEN_BUDGET", "limit": 1000, "period": "DAY", "per": "KEY"},
    )
    eng = PolicyEngine()
    eng.set_policies([budget])
    eng.apply_decision(
        Decision(
            subject="KEY:k:b",
            policy_id="b",
            blocked=False,
            used=990,
            until=datetime(2024, 1, 16, tzinfo=UTC),
            occurred_at=T0,
        )
    )
    assert eng.precheck(_ctx(), T0).block is None  # 990 < 1000: admitted, reserves 300
    assert eng.precheck(_ctx(), T0).block is not None


def test_engine_contended_only_while_in_flight_reservations_hold_the_limit():
    budget = compile_policy(
        id="b",
        org_id="o",
        name="budget",
        action_type=2,
        rule={"type": "TOKEN_BUDGET", "limit": 1000, "period": "DAY", "per": "KEY"},
    )
    eng = PolicyEngine(gateway_id="gw")
    eng.set_policies([budget])
    held = [eng.precheck(_ctx(), T0) for _ in range(4)]  # 4 x 300 in flight
    refused = eng.precheck(_ctx(), T0)
    assert refused.block is not None and eng.contended(refused, T0)  # settled 0 < 1000
    for res in held:
        eng.settle(res, 100, T0)  # actual 400 in all
    assert eng.precheck(_ctx(), T0).block is None  # room again: admitted
    eng.ledger.settle(eng.ledger.reserve("KEY:k:b", "tokens", "DAY", T0, 0), 700, T0)
    exhausted = eng.precheck(_ctx(), T0)
    assert exhausted.block is not None and not eng.contended(exhausted, T0)  # settled 1100
    # a consumer decision in force is never "contended"
    eng2 = PolicyEngine(gateway_id="gw")
    eng2.set_policies([budget])
    eng2.apply_decision(
        Decision(
            subject="KEY:k:b",
            policy_id="b",
            blocked=True,
            used=1000,
            until=datetime(2024, 1, 16, tzinfo=UTC),
            occurred_at=T0,
        )
    )
    res = eng2.precheck(_ctx(), T0)
    assert res.block is not None and not eng2.contended(res, T0)


def test_engine_does_not_double_count_own_usage_reported_by_the_consumer():
    budget = compile_policy(
        id="b",
        org_id="o",
        name="budget",
        action_type=2,
        rule={"type": "TOKEN_BUDGET", "limit": 1000, "period": "DAY", "per": "KEY"},
    )
    eng = PolicyEngine(gateway_id="gw")
    eng.set_policies([budget])
    for _ in range(3):
        res = eng.precheck(_ctx(), T0)
        assert res.block is None
        eng.settle(res, 250, T0)
    eng.apply_decision(
        Decision(
            subject="KEY:k:b",
            policy_id="b",
            blocked=False,
            used=750,
            used_by={"gw": 750},
            until=datetime(2024, 1, 16, tzinfo=UTC),
            occurred_at=T0,
        )
    )
    assert eng.precheck(_ctx(), T0).block is None  # 750 < 1000 (the grace-based ledger said 1500)
