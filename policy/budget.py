"""Pure reservation accounting for limits, per subject and fixed window. No I/O, no clock.

Before forwarding, the gateway reserves the request's worst case (prompt estimate + its
max_tokens, or else the model's output cap: `producers.policy.budget_gate.output_cap`); after the response it settles the reservation to the actual
usage. A request is admitted only while

    used = others' usage (published by the policy consumer)
         + own settled usage
         + own in-flight reservations                              <  limit

so with one gateway process the overshoot is at most one request's worst case. With N gateways
the published state closes the gap within the pipeline lag.

Own vs. others (why nothing is counted twice): the consumer's published state for a token
budget (`Decision.used` plus `Decision.used_by`, the window's tokens per `gatewayId` of the
request events it counted) says how much of the total came from *this* gateway. The ledger
keeps its own settled total for the window (exact, known before the consumer sees the event),
so

    others   = published_total - published_by[me]
    own      = max(local_settled, published_by[me])

A local completion is therefore counted exactly once whether or not the published state
already includes it; `max` covers a gateway restart (local total starts at 0, the consumer still
knows what this gateway id used) and requests settled into a different window than the one the
consumer counted them in. Published totals only grow within a window, so states are merged by
`max` (robust to decisions arriving out of order). A state without `used_by` (not produced by
this consumer) is taken as "none of it is ours": conservative, it blocks early but never late.

Contention: `settled_used` excludes in-flight reservations. When a limit is only reached because
of in-flight worst cases (settled < limit) the request is not yet over budget; the gateway's hook
waits (bounded) for settlements and re-checks instead of refusing with a Retry-After of the
whole window (see `producers.policy.hooks`). So a burst of callers ends with usage between
limit and limit + one worst case, not far below it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from policy.rules import window_bounds

DEFAULT_COMPLETION_CAP = 4096  # output cap of a model whose cap is unknown (settings override it)


def prompt_tokens_estimate(texts: Iterable[str]) -> int:
    """Prompt tokens, estimated without a tokenizer: a quarter of the UTF-8 bytes, plus one.

    No tokenizer is used: the ones that work offline cost milliseconds per prompt in the request
    path, and each provider family tokenizes differently anyway. For ASCII text this is the
    usual four characters per token; counting bytes instead of characters keeps scripts that
    tokenizers split finely (CJK, Cyrillic, emoji) from being underestimated by a factor of three
    or more. A reservation is settled with the provider's count, so the estimate only bounds how
    far a burst of requests can go past a limit."""
    n = 0
    for t in texts:
        n += len(t) if t.isascii() else len(t.encode("utf-8", "replace"))
    return n // 4 + 1


def worst_case_tokens(
    prompt_tokens_estimate: int, max_tokens: int | None, default_cap: int = DEFAULT_COMPLETION_CAP
) -> int:
    """Tokens a request may consume at most (what gets reserved)."""
    return max(0, int(prompt_tokens_estimate)) + (int(max_tokens) if max_tokens and max_tokens > 0 else default_cap)


@dataclass(frozen=True, slots=True)
class Reservation:
    id: int
    key: tuple[str, str]  # (subject, metric)
    window_start: datetime
    amount: int


@dataclass
class _Window:
    start: datetime
    end: datetime
    published: int = 0  # consumer: all gateways
    published_by: dict[str, int] = field(default_factory=dict)  # consumer: per gateway id
    inflight: dict[int, int] = field(default_factory=dict)
    inflight_total: int = 0  # sum(inflight.values()), kept current
    settled: int = 0  # own completions in this window
    span: str = ""  # the span start/end were cut by

    def settled_used(self, me: str) -> int:
        mine = self.published_by.get(me, 0)
        return (self.published - mine) + max(self.settled, mine)

    def used(self, me: str) -> int:
        # O(1): at high concurrency a window holds one reservation per request in flight.
        return self.settled_used(me) + self.inflight_total


class BudgetLedger:
    """Per (subject, metric): the current window's published/in-flight/settled amounts.

    `gateway_id` is this process's id as written on its request events. Not thread-safe; the
    gateway calls it from its event loop only. Never blocks.
    """

    def __init__(self, gateway_id: str = ""):
        self.gateway_id = gateway_id
        self._w: dict[tuple[str, str], _Window] = {}
        self._ids = itertools.count(1)

    def _window(self, key: tuple[str, str], span: str, now: datetime) -> _Window:
        w = self._w.get(key)
        if w is not None and w.span == span and w.start <= now < w.end:
            return w  # still inside it: same bounds, no calendar math
        start, end = window_bounds(span, now)
        if w is None or w.start != start:
            if w is not None and w.start > start:
                return _Window(start, end, span=span)  # clock went back: a throwaway window
            w = _Window(start, end, span=span)
            self._w[key] = w
        return w

    def used(self, subject: str, metric: str, span: str, now: datetime) -> int:
        return self._window((subject, metric), span, now).used(self.gateway_id)

    def settled_used(self, subject: str, metric: str, span: str, now: datetime) -> int:
        """Usage without the in-flight reservations (what is known to be consumed)."""
        return self._window((subject, metric), span, now).settled_used(self.gateway_id)

    def would_exceed(self, subject: str, metric: str, limit: int, span: str, now: datetime) -> datetime | None:
        """Window end if the subject has used its limit (the request must wait), else None."""
        w = self._window((subject, metric), span, now)
        return w.end if w.used(self.gateway_id) >= limit else None

    def reserve(self, subject: str, metric: str, span: str, now: datetime, amount: int) -> Reservation:
        w = self._window((subject, metric), span, now)
        rid = next(self._ids)
        amount = max(0, int(amount))
        w.inflight[rid] = amount
        w.inflight_total += amount
        return Reservation(rid, (subject, metric), w.start, amount)

    def settle(self, res: Reservation, actual: int, now: datetime) -> None:
        """Replace the reservation by the actual amount (0 when nothing reached the provider)."""
        w = self._w.get(res.key)
        if w is None or w.start != res.window_start:
            return  # the window rolled over while the request ran; its usage is the consumer's
        w.inflight_total -= w.inflight.pop(res.id, 0)
        w.settled += max(0, int(actual))

    def apply_published(
        self,
        subject: str,
        metric: str,
        span: str,
        window_end: datetime,
        consumed: int,
        used_by: Mapping[str, int] | None = None,
    ) -> None:
        """Consumer-published usage for the window ending at `window_end` (older windows ignored;
        within a window totals only grow, so the larger value wins)."""
        key = (subject, metric)
        start, end = window_bounds(span, window_end - timedelta(microseconds=1))
        w = self._w.get(key)
        if w is None or w.start < start:
            w = _Window(start, end, span=span)
            self._w[key] = w
        elif w.start > start:
            return
        w.published = max(w.published, max(0, int(consumed)))
        for gw, n in (used_by or {}).items():
            w.published_by[gw] = max(w.published_by.get(gw, 0), max(0, int(n)))

    def prune(self, now: datetime) -> None:
        """Drop ended windows (bounded memory; a late settle for them is a no-op)."""
        for key in [k for k, w in self._w.items() if w.end <= now]:
            del self._w[key]
