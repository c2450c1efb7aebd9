"""Pure reservation accounting for limits, per subject and fixed window. No I/O, no clock.

Before forwarding, the gateway reserves the request's worst case (prompt estimate +
max_tokens, or a default cap); after the response it settles the reservation to the actual
usage. A subject is exhausted when

    last published consumed (from the policy consumer)
    + local in-flight reservations
    + local completions not yet reflected in the published state   >=  limit

Requests are admitted only while that sum is below the limit, so with one gateway process the
overshoot is at most one request's worst case. With N gateways the published state closes the
gap within the pipeline lag.

Published state does not say which of our completions it already includes, so a local
completion is kept until a published state at least `grace_s` newer than it arrives: within
that grace it may be counted twice (blocks slightly early), never zero times (as long as the
event pipeline lag stays under `grace_s`).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas.policy import window_bounds

DEFAULT_COMPLETION_CAP = 4096     # worst case when the request sets no max_tokens
DEFAULT_GRACE_S = 10.0


def worst_case_tokens(prompt_tokens_estimate: int, max_tokens: int | None,
                      default_cap: int = DEFAULT_COMPLETION_CAP) -> int:
    """Tokens a request may consume at most (what gets reserved)."""
    return max(0, int(prompt_tokens_estimate)) + (int(max_tokens) if max_tokens and max_tokens > 0 else default_cap)


@dataclass(frozen=True, slots=True)
class Reservation:
    id: int
    key: tuple[str, str]          # (subject, metric)
    window_start: datetime
    amount: int


@dataclass
class _Window:
    start: datetime
    end: datetime
    published: int = 0
    published_as_of: datetime | None = None
    inflight: dict[int, int] = field(default_factory=dict)
    completed: list[tuple[datetime, int]] = field(default_factory=list)

    def used(self) -> int:
        return self.published + sum(self.inflight.values()) + sum(a for _, a in self.completed)


class BudgetLedger:
    """Per (subject, metric): the current window's published/in-flight/completed amounts.

    Not thread-safe; the gateway calls it from its event loop only. Never blocks.
    """

    def __init__(self, grace_s: float = DEFAULT_GRACE_S):
        self._grace = timedelta(seconds=grace_s)
        self._w: dict[tuple[str, str], _Window] = {}
        self._ids = itertools.count(1)

    def _window(self, key: tuple[str, str], span: str, now: datetime) -> _Window:
        start, end = window_bounds(span, now)
        w = self._w.get(key)
        if w is None or w.start != start:
            if w is not None and w.start > start:
                return _Window(start, end)   # clock went back: a throwaway window
            w = _Window(start, end)
            self._w[key] = w
        return w

    def used(self, subject: str, metric: str, span: str, now: datetime) -> int:
        return self._window((subject, metric), span, now).used()

    def would_exceed(self, subject: str, metric: str, limit: int, span: str, now: datetime) -> datetime | None:
        """Window end if the subject has used its limit (the request must wait), else None."""
        w = self._window((subject, metric), span, now)
        return w.end if w.used() >= limit else None

    def reserve(self, subject: str, metric: str, span: str, now: datetime, amount: int) -> Reservation:
        w = self._window((subject, metric), span, now)
        rid = next(self._ids)
        w.inflight[rid] = max(0, int(amount))
        return Reservation(rid, (subject, metric), w.start, max(0, int(amount)))

    def settle(self, res: Reservation, actual: int, now: datetime) -> None:
        """Replace the reservation by the actual amount (0 when nothing reached the provider)."""
        w = self._w.get(res.key)
        if w is None or w.start != res.window_start:
            return   # the window rolled over while the request ran; its usage is the consumer's
        w.inflight.pop(res.id, None)
        if actual > 0:
            w.completed.append((now, int(actual)))

    def apply_published(self, subject: str, metric: str, span: str, window_end: datetime,
                        consumed: int, as_of: datetime) -> None:
        """Consumer-published usage for the window ending at `window_end` (older ones ignored)."""
        key = (subject, metric)
        start, end = window_bounds(span, window_end - timedelta(microseconds=1))
        w = self._w.get(key)
        if w is None or w.start < start:
            w = _Window(start, end)
            self._w[key] = w
        elif w.start > start:
            return
        if w.published_as_of is not None and as_of < w.published_as_of:
            return
        w.published = max(0, int(consumed))
        w.published_as_of = as_of
        cutoff = as_of - self._grace
        w.completed = [(t, a) for t, a in w.completed if t > cutoff]

    def prune(self, now: datetime) -> None:
        """Drop ended windows (bounded memory; a late settle for them is a no-op)."""
        for key in [k for k, w in self._w.items() if w.end <= now]:
            del self._w[key]
