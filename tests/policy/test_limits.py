"""The strict token-limit parser (pure)."""

from __future__ import annotations

import pytest

from policy.budget import worst_case_tokens
from policy.limits import TokenLimitError, token_limit


@pytest.mark.parametrize(
    "body, want",
    [
        ({}, None),
        ({"max_tokens": None}, None),
        ({"max_tokens": 7}, 7),
        ({"max_tokens": 5000, "max_completion_tokens": 10}, 5000),
        ({"max_completion_tokens": 5000, "max_tokens": 10}, 5000),
        (["not", "a", "dict"], None),
    ],
)
def test_accepted(body, want):
    assert token_limit(body) == want


@pytest.mark.parametrize("value", ["5000", 5000.0, 1e9, True, False, -1, 0, [1], {"n": 1}])
@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_refused(field, value):
    with pytest.raises(TokenLimitError) as ei:
        token_limit({field: value})
    assert ei.value.param == field


def test_budget_reservation_uses_the_larger_limit():
    limit = token_limit({"max_completion_tokens": 10, "max_tokens": 5000})
    assert worst_case_tokens(100, limit) == 100 + 5000
