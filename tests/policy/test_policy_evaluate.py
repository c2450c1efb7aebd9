"""Pure evaluation: scope resolution, actions, rule kinds, limit verdicts."""

import time
from datetime import UTC, datetime, timedelta

from policy.evaluate import (
    RequestContext,
    StaticLimits,
    blocking,
    compile_policies,
    compile_policy,
    evaluate,
)
from policy.rules import subject_key

NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
ORG, WS, WS2, REPO, REPO2, KEY = "org", "ws", "ws2", "repo", "repo2", "key"


def ctx(**kw):
    base = dict(org_id=ORG, workspace_id=WS, repo_id=REPO, key_id=KEY, model="openai/gpt-4o")
    base.update(kw)
    return RequestContext(**base)


def pol(pid, rule, action=2, **scope):
    return compile_policy(
        id=pid,
        org_id=scope.pop("org_id", ORG),
        name=f"P-{pid}",
        action_type=action,
        risk_type="HIGH",
        rule=rule,
        **scope,
    )


def test_scope_levels_add_never_override():
    deny = {"type": "MODEL_DENYLIST", "models": ["gpt-4o"]}
    policies = [
        pol("org", deny),
        pol("ws", deny, workspace_id=WS),
        pol("repo", deny, workspace_id=WS, repo_id=REPO),
        pol("other-ws", deny, workspace_id=WS2),
        pol("other-repo", deny, workspace_id=WS, repo_id=REPO2),
        pol("other-org", deny, org_id="org2"),
    ]
    assert [v.policy_id for v in evaluate(policies, ctx(), now=NOW)] == ["org", "ws", "repo"]
    # a permissive repo policy cannot lift an org-level denial
    allow_repo = pol("allow", {"type": "MODEL_ALLOWLIST", "models": ["*"]}, workspace_id=WS, repo_id=REPO)
    assert [v.policy_id for v in evaluate([policies[0], allow_repo], ctx(), now=NOW)] == ["org"]


def test_actions_log_alert_block():
    deny = {"type": "MODEL_DENYLIST", "models": ["gpt-4o"]}
    vs = evaluate([pol("a", deny, 0), pol("b", deny, 1), pol("c", deny, 2)], ctx(), now=NOW)
    assert [(v.action_type, v.block) for v in vs] == [(0, False), (1, False), (2, True)]
    b = blocking(vs)
    assert b.policy_id == "c" and b.status == 403 and "P-c" in b.explanation and b.severity == "HIGH"
    assert blocking(vs[:2]) is None


def test_model_lists_with_globs_and_provider_prefix():
    allow = pol("a", {"type": "MODEL_ALLOWLIST", "models": ["gpt-4o*", "anthropic/claude-*"]})
    assert evaluate([allow], ctx(model="gpt-4o-mini"), now=NOW) == []
    assert evaluate([allow], ctx(model="openai/GPT-4O"), now=NOW) == []
    assert evaluate([allow], ctx(model="anthropic/claude-sonnet-4"), now=NOW) == []
    assert len(evaluate([allow], ctx(model="claude-sonnet-4"), now=NOW)) == 1  # bare name lacks the prefix
    assert len(evaluate([allow], ctx(model="o1"), now=NOW)) == 1
    deny = pol("d", {"type": "MODEL_DENYLIST", "models": ["o1*"]})
    assert len(evaluate([deny], ctx(model="openai/o1-preview"), now=NOW)) == 1
    assert len(evaluate([deny], ctx(model="alias", provider_model="o1-mini"), now=NOW)) == 1
    assert evaluate([deny], ctx(model="gpt-4o"), now=NOW) == []


def test_max_tokens():
    p = pol("m", {"type": "MAX_TOKENS", "limit": 100})
    assert evaluate([p], ctx(max_tokens=100), now=NOW) == []
    assert evaluate([p], ctx(max_tokens=None), now=NOW) == []
    [v] = evaluate([p], ctx(max_tokens=101), now=NOW)
    assert v.block and v.status == 403 and "101" in v.explanation


def test_content_patterns_and_detectors_never_leak_text():
    p = pol("c", {"type": "CONTENT_PATTERN", "patterns": [r"(?i)project\s+falcon"], "detectors": ["CREDIT_CARD"]})
    assert evaluate([p], ctx(texts=["hello", "world"]), now=NOW) == []
    [v] = evaluate([p], ctx(texts=["my card 4111 1111 1111 1111"]), now=NOW)
    assert "CREDIT_CARD" in v.explanation and "4111" not in v.explanation
    [v] = evaluate([p], ctx(texts=["about Project  Falcon"]), now=NOW)
    assert "pattern #1" in v.explanation and "Falcon" not in v.explanation


def test_catastrophic_patterns_run_in_linear_time():
    """Patterns that backtrack exponentially elsewhere: RE2 answers in linear time, right."""
    p = pol("c", {"type": "CONTENT_PATTERN", "patterns": [r"(a|aa)+$", r"(\w+\s?)+$"]})
    t = time.perf_counter()
    for _ in range(20):
        v = evaluate([p], ctx(texts=["a" * 50_000 + "!"]), now=NOW)
    took = (time.perf_counter() - t) / 20
    assert v == [] and took < 0.05, took
    [v] = evaluate([p], ctx(texts=["b " * 25_000]), now=NOW)
    assert "pattern #2" in v.explanation


def test_text_beyond_the_scan_bound_fails_closed():
    p = pol("c", {"type": "CONTENT_PATTERN", "patterns": ["never-there"]})
    assert evaluate([p], ctx(texts=["short"]), now=NOW) == []
    [v] = evaluate([p], ctx(texts=["x" * 10], texts_truncated=True), now=NOW)
    assert v.block and "scan limit" in v.explanation


def test_nl_policies_and_log_limits_are_not_in_path():
    nl = compile_policy(id="nl", org_id=ORG, name="be nice", action_type=2, content="no rude words")
    budget_log = pol("b", {"type": "TOKEN_BUDGET", "limit": 10, "period": "DAY"}, action=1)
    limits = StaticLimits({subject_key("KEY", KEY, "b"): NOW + timedelta(hours=1)})
    assert evaluate([nl, budget_log], ctx(), now=NOW, limits=limits) == []


def test_limit_verdict_is_429_with_retry_after():
    rate = pol("r", {"type": "RATE_LIMIT", "requests": 5, "window": "MINUTE", "per": "REPO"})
    deny = pol("d", {"type": "MODEL_DENYLIST", "models": ["gpt-4o"]})
    limits = StaticLimits({subject_key("REPO", REPO, "r"): NOW + timedelta(seconds=29.2)})
    [v] = evaluate([rate], ctx(), now=NOW, limits=limits)
    assert v.status == 429 and v.retry_after_s == 30 and v.block and v.subject == "REPO:repo:r"
    assert evaluate([rate], ctx(), now=NOW + timedelta(seconds=30), limits=limits) == []
    # a policy refusal wins over a limit
    assert blocking(evaluate([rate, deny], ctx(), now=NOW, limits=limits)).status == 403


def test_compile_policies_from_rows_skips_broken_rules():
    rows = [
        dict(
            id="1",
            org_id=ORG,
            name="ok",
            action_type=2,
            risk_type="LOW",
            workspace_id=None,
            repo_id=None,
            content="",
            rule={"type": "MAX_TOKENS", "limit": 5},
        ),
        dict(
            id="2",
            org_id=ORG,
            name="broken",
            action_type=2,
            risk_type="LOW",
            workspace_id=None,
            repo_id=None,
            content="",
            rule={"type": "MAX_TOKENS", "limit": -1},
        ),
    ]
    assert [p.id for p in compile_policies(rows)] == ["1"]


def test_merged_patterns_keep_order_flags_and_explanations():
    # All patterns are searched as one RE2 alternation; scoped flags must not leak between them
    # and the explanation names the first matching pattern in rule order.
    p = pol("c", {"type": "CONTENT_PATTERN", "patterns": [r"(?i)secret", r"BEGIN KEY", r"a{2}"]})
    assert p.patterns_any is not None and p.patterns_alone == ()
    assert evaluate([p], ctx(texts=["begin key", "a b"]), now=NOW) == []
    [v] = evaluate([p], ctx(texts=["BEGIN KEY then SeCrEt"]), now=NOW)
    assert "pattern #1" in v.explanation
    [v] = evaluate([p], ctx(texts=["BEGIN KEY"]), now=NOW)
    assert "pattern #2" in v.explanation
    [v] = evaluate([p], ctx(texts=["baab"]), now=NOW)
    assert "pattern #3" in v.explanation


def test_engine_scopes_and_model_cache_follow_policy_changes():
    from policy.engine import PolicyEngine
    from policy.evaluate import MODEL_CACHE_MAX, ModelList

    eng = PolicyEngine(gateway_id="g")
    eng.set_policies([pol("d", {"type": "MODEL_DENYLIST", "models": ["gpt-4o"]})])
    assert eng.precheck(ctx(), NOW).block.policy_id == "d"
    assert eng.precheck(ctx(repo_id=REPO2), NOW).block.policy_id == "d"
    eng.set_policies([pol("a", {"type": "MODEL_ALLOWLIST", "models": ["claude-*"]}, workspace_id=WS2)])
    assert eng.precheck(ctx(), NOW).block is None  # other workspace only
    assert eng.precheck(ctx(workspace_id=WS2), NOW).block.policy_id == "a"
    ml = ModelList(["GPT-4o*"])
    assert ml.matches("openai/gpt-4o-mini", None) and not ml.matches("o1", None)
    for i in range(MODEL_CACHE_MAX + 10):
        assert not ml.matches(f"m{i}", None)
    assert len(ml._cache) <= MODEL_CACHE_MAX and ml.matches("gpt-4o", None)
