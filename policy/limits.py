"""Strict reading of a request's output-token limit. Pure.

`max_tokens` and `max_completion_tokens` (OpenAI's two spellings; the Responses and Messages
surfaces are translated to them) must be JSON integers >= 1 when present: strings, floats
(`5000.0`, `1e9`), booleans and negatives are refused, because a provider may read them as a
number the policy never saw. When both are given the larger governs: that is what a provider
might honour. The same value feeds MAX_TOKENS policies and budget reservations.
"""

from __future__ import annotations

from typing import Any

LIMIT_FIELDS = ("max_tokens", "max_completion_tokens")


class TokenLimitError(ValueError):
    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def token_limit(body: Any) -> int | None:
    """The request's output-token limit (the larger of both spellings), None when unset.
    Raises TokenLimitError naming the field when a value is not an integer >= 1."""
    if not isinstance(body, dict):
        return None
    found: list[int] = []
    for name in LIMIT_FIELDS:
        if name not in body or body[name] is None:
            continue
        v = body[name]
        if type(v) is not int or v < 1:
            raise TokenLimitError(f"{name} must be an integer >= 1", name)
        found.append(v)
    return max(found) if found else None
