"""Rule validation: valid rules parse; invalid ones name the field in the message."""

from datetime import UTC, datetime

import pytest

from policy.rules import (
    Per,
    RateLimitRule,
    RuleError,
    TokenBudgetRule,
    parse_rule,
    rule_to_wire,
    subject_key,
    window_bounds,
)


def test_contract_examples_parse():
    r = parse_rule({"type": "TOKEN_BUDGET", "limit": 100000, "period": "DAY", "per": "KEY"})
    assert isinstance(r, TokenBudgetRule) and r.limit == 100000 and r.per is Per.KEY
    r = parse_rule({"type": "RATE_LIMIT", "requests": 60, "tokens": None, "window": "MINUTE", "per": "KEY"})
    assert isinstance(r, RateLimitRule) and r.requests == 60 and r.tokens is None
    assert parse_rule({"type": "MODEL_ALLOWLIST", "models": ["gpt-4o*"]}).models == ["gpt-4o*"]
    assert parse_rule({"type": "MODEL_DENYLIST", "models": ["o1"]}).type == "MODEL_DENYLIST"
    r = parse_rule(
        {"type": "CONTENT_PATTERN", "patterns": [r"\bsecret\b"], "detectors": ["CREDIT_CARD", "EMAIL", "EMAIL"]}
    )
    assert [d.value for d in r.detectors] == ["CREDIT_CARD", "EMAIL"]
    assert parse_rule({"type": "MAX_TOKENS", "limit": 4096}).limit == 4096


def test_wire_round_trip():
    data = {"type": "RATE_LIMIT", "requests": 60, "tokens": None, "window": "MINUTE", "per": "REPO"}
    assert rule_to_wire(parse_rule(data)) == data


@pytest.mark.parametrize(
    "rule,message",
    [
        ({"type": "TOKEN_BUDGET", "limit": 0, "period": "DAY"}, "rule.limit: must be a positive integer"),
        ({"type": "TOKEN_BUDGET", "limit": -5, "period": "DAY"}, "rule.limit: must be a positive integer"),
        ({"type": "TOKEN_BUDGET", "limit": True, "period": "DAY"}, "rule.limit: must be an integer"),
        ({"type": "TOKEN_BUDGET", "limit": "100", "period": "DAY"}, "rule.limit: must be an integer"),
        ({"type": "TOKEN_BUDGET", "limit": 1.5, "period": "DAY"}, "rule.limit: must be an integer"),
        (
            {"type": "TOKEN_BUDGET", "limit": 10, "period": "WEEK"},
            "rule.period: must be one of MINUTE, HOUR, DAY, MONTH",
        ),
        (
            {"type": "TOKEN_BUDGET", "limit": 10, "period": "DAY", "per": "USER"},
            "rule.per: must be one of KEY, REPO, WORKSPACE",
        ),
        ({"type": "TOKEN_BUDGET", "period": "DAY"}, "rule.limit: is required"),
        ({"type": "RATE_LIMIT", "window": "MINUTE"}, "rule.requests: at least one of requests or tokens must be set"),
        (
            {"type": "RATE_LIMIT", "requests": 5, "window": "WEEK"},
            "rule.window: must be one of SECOND, MINUTE, HOUR, DAY",
        ),
        ({"type": "MODEL_ALLOWLIST", "models": []}, "rule.models: must list at least one model"),
        ({"type": "MODEL_DENYLIST", "models": "gpt-4o"}, "rule.models: must be a list"),
        (
            {"type": "CONTENT_PATTERN", "patterns": ["ok", "(unclosed"]},
            "rule.patterns[1]: is not a valid regular expression",
        ),
        ({"type": "CONTENT_PATTERN", "patterns": ["x" * 1001]}, "rule.patterns[0]: is longer than 1000 characters"),
        ({"type": "CONTENT_PATTERN"}, "rule.patterns: give at least one pattern or detector"),
        ({"type": "CONTENT_PATTERN", "detectors": ["SSN"]}, "rule.detectors[0]: must be one of CREDIT_CARD"),
        ({"type": "MAX_TOKENS", "limit": 10, "extra": 1}, "rule.extra: is not a known field"),
        ({"type": "NOPE"}, "rule.type: must be one of TOKEN_BUDGET"),
        ({}, "rule.type: is required"),
    ],
)
def test_invalid_rules_name_the_field(rule, message):
    with pytest.raises(RuleError) as ei:
        parse_rule(rule)
    assert ei.value.message.startswith(message), ei.value.message


def test_non_object_rule():
    with pytest.raises(RuleError, match="rule: must be an object"):
        parse_rule(["TOKEN_BUDGET"])


def test_subject_key_and_windows():
    assert subject_key(Per.REPO, "r1", "p1") == "REPO:r1:p1"
    t = datetime(2024, 12, 31, 23, 59, 59, 900000, tzinfo=UTC)
    assert window_bounds("MINUTE", t) == (datetime(2024, 12, 31, 23, 59, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
    assert window_bounds("MONTH", t) == (datetime(2024, 12, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
    s, e = window_bounds("SECOND", t)
    assert (e - s).total_seconds() == 1 and s <= t < e
