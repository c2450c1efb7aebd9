"""Gateway hooks: snapshot policies -> in-path verdicts, Block, violation events, settlement."""

from datetime import UTC, datetime

from producers.gateway.hooks import RequestContext
from producers.policy.hooks import GatewayPolicyHooks
from schemas import topics
from schemas.events import RequestEvent
from store.snapshot import KeyEntry, PolicyEntry, RepoEntry, Snapshot

T0 = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
REPO = RepoEntry(repo_id="r", org_id="o", workspace_id="w", name="repo", disabled=False, configs=())
KEY = KeyEntry(key_id="k", name="key", repo=REPO)


class ListPublisher:
    def __init__(self):
        self.sent = []

    def emit(self, topic, key, event):
        self.sent.append((topic, key, event))


def entry(pid, rule, action=2, **scope):
    return PolicyEntry(
        policy_id=pid,
        org_id="o",
        workspace_id=scope.get("workspace_id"),
        repo_id=scope.get("repo_id"),
        name=f"P-{pid}",
        content="",
        risk_type="HIGH",
        action_type=action,
        rule=rule,
    )


def snap(*policies):
    return Snapshot(epoch=1, keys_by_hash={}, repos={}, configs={}, policies=tuple(policies))


def ctx(snapshot, model="gpt-4o"):
    return RequestContext(
        request_id="req-1",
        key=KEY,
        snapshot=snapshot,
        endpoint="chat.completions",
        model=model,
        user_id="u1",
        conversation_id="c1",
    )


def hooks(clock=lambda: T0):
    pub = ListPublisher()
    return GatewayPolicyHooks(lambda: pub, "gw-1", clock=clock), pub


def test_no_policies_passes_without_events():
    h, pub = hooks()
    assert h.precheck(ctx(snap()), {"messages": [{"role": "user", "content": "hi"}]}) is None
    assert pub.sent == []


def test_block_names_policy_and_publishes_violations_without_text():
    s = snap(
        entry("deny", {"type": "MODEL_DENYLIST", "models": ["gpt-4o*"]}),
        entry("pii", {"type": "CONTENT_PATTERN", "detectors": ["EMAIL"]}, action=1),
    )
    h, pub = hooks()
    c = ctx(s)
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "mail bob@example.com"}]}]}
    b = h.precheck(c, body)
    assert b.status == 403 and "P-deny" in b.message and b.policy_id == "deny"
    assert c.policy_ids == ["deny", "pii"]
    assert [(t, k) for t, k, _ in pub.sent] == [(topics.VIOLATIONS, "deny"), (topics.VIOLATIONS, "pii")]
    ev = pub.sent[1][2]
    assert ev.action_type == 1 and not ev.block and ev.request_id == "req-1" and ev.gateway_id == "gw-1"
    assert ev.conversation_id == "c1" and ev.repo_ai_api_key_id == "k" and ev.severity == "HIGH"
    assert "bob@example.com" not in ev.to_wire().decode()
    assert h.precheck(ctx(s, model="claude-3"), {"messages": [{"role": "user", "content": "hello"}]}) is None


def test_max_tokens_from_either_field():
    s = snap(entry("m", {"type": "MAX_TOKENS", "limit": 100}))
    h, _ = hooks()
    assert h.precheck(ctx(s), {"messages": [], "max_completion_tokens": 101}).status == 403
    assert h.precheck(ctx(s), {"messages": [], "max_tokens": 100}) is None


def test_budget_reserve_settle_then_429_with_retry_after():
    s = snap(entry("b", {"type": "TOKEN_BUDGET", "limit": 1000, "period": "HOUR", "per": "REPO"}))
    h, pub = hooks()
    body = {"messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 400}
    c1 = ctx(s)
    assert h.precheck(c1, body) is None
    h.post_usage(
        c1,
        RequestEvent(
            gateway_id="g",
            request_id="r",
            org_id="o",
            workspace_id="w",
            repo_id="r",
            repo_ai_api_key_id="k",
            tokens_in=100,
            tokens_out=900,
        ),
    )
    c2 = ctx(s)
    b = h.precheck(c2, body)
    assert b is not None and b.status == 429 and b.retry_after_s == 30 * 60 and b.code == "rate_limit_exceeded"
    assert pub.sent == []  # limit refusals are reported once by the consumer, not per request


def test_snapshot_change_recompiles():
    h, _ = hooks()
    s1 = snap(entry("d", {"type": "MODEL_DENYLIST", "models": ["a"]}))
    s2 = snap(entry("d", {"type": "MODEL_DENYLIST", "models": ["gpt-4o"]}))
    assert h.precheck(ctx(s1), {}) is None
    assert h.precheck(ctx(s2), {}).status == 403


def test_invalid_stored_rule_is_ignored():
    h, _ = hooks()
    s = snap(entry("bad", {"type": "MAX_TOKENS", "limit": -3}), entry("ok", {"type": "MAX_TOKENS", "limit": 1}))
    assert h.precheck(ctx(s), {"max_tokens": 2}).policy_id == "ok"


async def test_budget_held_by_in_flight_requests_waits_for_room_instead_of_refusing():
    import asyncio
    import inspect

    s = snap(entry("b", {"type": "TOKEN_BUDGET", "limit": 1000, "period": "HOUR", "per": "REPO"}))
    pub = ListPublisher()
    h = GatewayPolicyHooks(lambda: pub, "gw-1", clock=lambda: T0, contention_wait_s=2.0)
    body = {"messages": [{"role": "user", "content": "x" * 396}], "max_tokens": 400}  # worst 500
    c1, c2 = ctx(s), ctx(s)
    assert h.precheck(c1, body) is None and h.precheck(c2, body) is None  # 1000 reserved
    c3 = ctx(s)
    pending = h.precheck(c3, body)
    assert inspect.isawaitable(pending)  # settled 0 < 1000: wait, do not refuse yet
    task = asyncio.ensure_future(pending)
    await asyncio.sleep(0.01)
    assert not task.done()

    def done(c, tokens):
        h.post_usage(
            c,
            RequestEvent(
                gateway_id="gw-1",
                request_id="r",
                org_id="o",
                workspace_id="w",
                repo_id="r",
                repo_ai_api_key_id="k",
                tokens_in=tokens,
                tokens_out=0,
            ),
        )

    done(c1, 300)  # room: 300 + 500 in flight < 1000
    assert await asyncio.wait_for(task, 1) is None
    done(c2, 300)
    done(c3, 450)  # settled 1050 >= 1000: truly exhausted
    b = h.precheck(ctx(s), body)
    assert b is not None and not inspect.isawaitable(b) and b.status == 429 and b.retry_after_s == 30 * 60
    # held at the deadline -> transient 429 with Retry-After 1
    h2 = GatewayPolicyHooks(lambda: pub, "gw-1", clock=lambda: T0, contention_wait_s=0.05)
    h2.precheck(ctx(s), body), h2.precheck(ctx(s), body)
    late = await h2.precheck(ctx(s), body)
    assert late.status == 429 and late.retry_after_s == 1
