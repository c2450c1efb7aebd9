"""COST_BUDGET in the policy consumer's windows: a crossing is reported for every action (log and
alert record a violation, block also publishes the decision), counted from the events' costUsd."""

from datetime import UTC, datetime, timedelta

import pytest

from consumers.policy import PolicyHandler
from consumers.policy_runner import replay_start
from policy.compiled import compile_policy
from policy.windows import PolicyWindows, cost_pico, usd
from schemas import topics
from schemas.events import RequestEvent
from schemas.records import Record

T0 = datetime(2026, 12, 2, 10, 30, 5, tzinfo=UTC)


def ev(cost: str | None, at: datetime = T0, **kw) -> RequestEvent:
    return RequestEvent(
        gateway_id="g",
        request_id="req",
        org_id="o",
        workspace_id="w",
        repo_id="r",
        repo_ai_api_key_id="k",
        model="gpt-4o-mini",
        occurred_at=at,
        tokens_in=100,
        tokens_out=50,
        cost_usd=cost,
        price_source="unknown" if cost is None else "override",
        **kw,
    )


def cost_policy(action: int, limit: str = "0.0003", period: str = "DAY"):
    return compile_policy(
        id=f"cost{action}",
        org_id="o",
        name=f"Dollars {action}",
        action_type=action,
        risk_type="MEDIUM",
        rule={"type": "COST_BUDGET", "limitUsd": limit, "period": period, "per": "KEY"},
    )


@pytest.mark.parametrize("action", [0, 1])
def test_log_and_alert_cost_budgets_record_one_violation_at_the_crossing(action: int) -> None:
    w = PolicyWindows([cost_policy(action)])
    outs = [w.apply(ev("0.0001")) for _ in range(5)]
    assert [len(o.violations) for o in outs] == [0, 0, 1, 0, 0]
    assert all(o.decisions == [] for o in outs)  # log/alert never block
    v = outs[2].violations[0]
    assert v.policy_id == f"cost{action}" and v.action_type == action and v.block is False
    assert v.severity == "MEDIUM" and v.repo_ai_api_key_id == "k"
    assert v.explanation == "Cost budget of $0.0003 per DAY reached for KEY k: $0.0003 used"


def test_blocking_cost_budget_also_publishes_the_block_until_the_window_end() -> None:
    w = PolicyWindows([cost_policy(2)])
    outs = [w.apply(ev("0.00015")) for _ in range(2)]
    [d] = outs[1].decisions
    assert d.blocked and d.subject == "KEY:k:cost2" and d.until == datetime(2026, 12, 3, tzinfo=UTC)
    assert d.limit == 300_000_000 and d.used == 300_000_000 and d.used_by is None
    assert outs[1].violations[0].block is True
    assert [x.blocked for x in w.rollover(T0 + timedelta(days=1))] == [False]


def test_unpriced_and_blocked_requests_add_nothing_to_a_cost_budget() -> None:
    w = PolicyWindows([cost_policy(0, limit="0.0001")])
    assert all(w.apply(ev(None)).violations == [] for _ in range(50))
    assert w.apply(ev("0.5", status="blocked")).violations == []
    assert len(w.apply(ev("0.0001")).violations) == 1


def test_cost_helpers() -> None:
    assert cost_pico("0.000000000001") == 1 and cost_pico(None) == 0 and cost_pico("junk") == 0
    assert usd(25 * 10**12) == "25" and usd(250_000_000_000) == "0.25" and usd(0) == "0"


def test_consumer_handler_publishes_the_cost_crossing_and_replays_cost_windows() -> None:
    h = PolicyHandler([cost_policy(1)])
    records = [Record(topics.REQUESTS, 0, i, b"k", ev("0.0002").to_wire(), 0) for i in range(2)]
    out = h.handle(records, now=T0)
    assert [(t, k) for t, k, _ in out.messages] == [(topics.VIOLATIONS, "cost1")]
    # a restarted consumer rebuilds a MONTH cost window from its start
    month = cost_policy(1, period="MONTH")
    assert replay_start([month], T0, 0) == datetime(2026, 12, 1, tzinfo=UTC)
