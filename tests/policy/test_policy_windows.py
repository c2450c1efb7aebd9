"""Consumer-side fixed windows: crossings, dedupe, rollover, event time."""

from datetime import UTC, datetime, timedelta

from policy.compiled import compile_policy
from policy.windows import PolicyWindows
from schemas.events import RequestEvent

T0 = datetime(2024, 1, 15, 10, 30, 5, tzinfo=UTC)


def ev(at=T0, tokens=(10, 5), status="ok", key="k", gateway_id="g", **kw):
    return RequestEvent(
        gateway_id=gateway_id,
        request_id="req",
        org_id="o",
        workspace_id="w",
        repo_id="r",
        repo_ai_api_key_id=key,
        model="gpt-4o",
        occurred_at=at,
        tokens_in=tokens[0],
        tokens_out=tokens[1],
        status=status,
        **kw,
    )


def rate(action=2, requests=3):
    return compile_policy(
        id="rate",
        org_id="o",
        name="Rate",
        action_type=action,
        risk_type="HIGH",
        rule={"type": "RATE_LIMIT", "requests": requests, "window": "MINUTE", "per": "KEY"},
    )


def test_crossing_emits_one_violation_and_one_block_decision():
    w = PolicyWindows([rate()])
    outs = [w.apply(ev()) for _ in range(5)]
    assert [len(o.violations) for o in outs] == [0, 0, 1, 0, 0]
    [d] = outs[2].decisions
    assert d.blocked and d.subject == "KEY:k:rate" and d.until == datetime(2024, 1, 15, 10, 31, tzinfo=UTC)
    assert d.used == 3 and d.limit == 3
    v = outs[2].violations[0]
    assert v.policy_id == "rate" and v.block and v.severity == "HIGH" and v.action_type == 2
    assert v.occurred_at == T0 and v.repo_ai_api_key_id == "k" and "3 used" in v.explanation


def test_log_policy_records_violation_without_decision():
    w = PolicyWindows([rate(action=0, requests=1)])
    o = w.apply(ev())
    assert len(o.violations) == 1 and o.decisions == [] and not o.violations[0].block


def test_dedupe_by_event_id_and_blocked_not_counted():
    w = PolicyWindows([rate(requests=2)])
    e = ev()
    assert w.apply(e).violations == [] and w.apply(e).violations == []  # redelivery ignored
    assert w.apply(ev(status="blocked")).violations == []
    assert len(w.apply(ev()).violations) == 1


def test_subjects_and_windows_are_separate_and_event_time_counts():
    w = PolicyWindows([rate(requests=2)])
    assert not w.apply(ev(key="a")).violations
    assert not w.apply(ev(key="b")).violations  # other subject, own counter
    assert not w.apply(ev(key="a", at=T0 + timedelta(minutes=1))).violations  # next window
    assert len(w.apply(ev(key="a")).violations) == 1  # late event lands in the first window


def test_rollover_unblocks_and_forgets():
    w = PolicyWindows([rate(requests=1)])
    assert w.apply(ev()).decisions[0].blocked
    assert w.rollover(T0) == []
    [d] = w.rollover(T0 + timedelta(minutes=1))
    assert not d.blocked and d.subject == "KEY:k:rate" and w.active_counts() == 0


def test_token_budget_progress_and_replay_ids_stable():
    budget = compile_policy(
        id="b",
        org_id="o",
        name="Budget",
        action_type=2,
        rule={"type": "TOKEN_BUDGET", "limit": 100, "period": "DAY", "per": "WORKSPACE"},
    )
    w = PolicyWindows([budget], progress_step=0.25)
    o1 = w.apply(ev(tokens=(20, 10)))  # 30 -> progress
    assert [(d.blocked, d.used, d.subject) for d in o1.decisions] == [(False, 30, "WORKSPACE:w:b")]
    assert o1.decisions[0].used_by == {"g": 30}
    o2 = w.apply(ev(tokens=(70, 0), gateway_id="h"))  # 100 -> crossing (another gateway)
    assert o2.decisions[0].blocked and o2.decisions[0].used == 100
    assert o2.decisions[0].used_by == {"g": 30, "h": 70}  # per gatewayId: gateways tell own from others'
    w2 = PolicyWindows([budget], progress_step=0.25)
    w2.apply(ev(tokens=(20, 10)))
    assert w2.apply(ev(tokens=(70, 0))).violations[0].event_id == o2.violations[0].event_id


def test_scope_filters_and_policy_removal():
    other = compile_policy(
        id="x",
        org_id="o",
        name="X",
        action_type=2,
        workspace_id="other",
        rule={"type": "RATE_LIMIT", "requests": 1, "window": "SECOND", "per": "KEY"},
    )
    w = PolicyWindows([other, rate(requests=1)])
    o = w.apply(ev())
    assert [v.policy_id for v in o.violations] == ["rate"]
    w.set_policies([])
    assert w.active_counts() == 0 and w.apply(ev()).violations == []
