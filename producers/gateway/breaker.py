"""Circuit breaker per provider configuration (in-memory, per gateway process).

Closed -> open after `threshold` consecutive failures that are the provider's (429, 502/503/504,
timeouts, connection errors); a plain 500 (or other 5xx) may be caused by the client's input, so
it counts only once at least two different keys met one in the same streak: one client's bad
input cannot open the breaker for every key;
open skips the config for `cooldown_s`; then half-open lets one trial through: success closes,
failure re-opens. Pure state + an injectable clock; never blocks.

Attempts take a `Trial` (`breakers.trial(id)`, None when the breaker refuses) and use it as a
context manager: `ok()` / `failed()` give the verdict; leaving the block without one (a request
the gateway refused before sending it, a client that went away) releases a half-open trial,
so the next request gets it instead of the breaker staying half-open forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(slots=True)
class _State:
    failures: int = 0
    opened_at: float = 0.0
    state: str = CLOSED
    trial_in_flight: bool = False
    suspects: set = field(default_factory=set)  # keys that met an ambiguous 5xx in this streak


class CircuitBreakers:
    def __init__(
        self,
        threshold: int = 5,
        cooldown_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._states: dict[str, _State] = {}

    def state(self, config_id: str) -> str:
        st = self._states.get(config_id)
        if st is None:
            return CLOSED
        if st.state == OPEN and self._clock() - st.opened_at >= self.cooldown_s:
            return HALF_OPEN
        return st.state

    def allow(self, config_id: str) -> bool:
        """May a request go to this config now? A half-open breaker admits one trial."""
        st = self._states.get(config_id)
        if st is None or st.state == CLOSED:
            return True
        if st.state == OPEN:
            if self._clock() - st.opened_at < self.cooldown_s:
                return False
            st.state = HALF_OPEN
            st.trial_in_flight = False
        if st.trial_in_flight:
            return False
        st.trial_in_flight = True
        return True

    def success(self, config_id: str) -> None:
        st = self._states.get(config_id)
        if st is not None:
            st.failures = 0
            st.state = CLOSED
            st.trial_in_flight = False
            st.suspects.clear()

    def failure(self, config_id: str) -> None:
        st = self._states.get(config_id)
        if st is None:
            st = self._states[config_id] = _State()
        st.failures += 1
        st.trial_in_flight = False
        if st.state == HALF_OPEN or st.failures >= self.threshold:
            st.state = OPEN
            st.opened_at = self._clock()

    def ambiguous(self, config_id: str, key_id: str) -> bool:
        """A 5xx that may be the client's doing: a failure once two keys met one (returns
        whether it counted); otherwise the trial is only released."""
        st = self._states.get(config_id)
        if st is None:
            st = self._states[config_id] = _State()
        st.suspects.add(key_id)
        if len(st.suspects) >= 2:
            self.failure(config_id)
            return True
        self.release(config_id)
        return False

    def release(self, config_id: str) -> None:
        """A trial ended with neither success nor an upstream fault (e.g. client 4xx)."""
        st = self._states.get(config_id)
        if st is not None and st.state == HALF_OPEN:
            st.trial_in_flight = False

    def trial(self, config_id: str) -> Trial | None:
        """Admit one attempt at `config_id` (None: the breaker refuses it now)."""
        return Trial(self, config_id) if self.allow(config_id) else None


class Trial:
    """One admitted attempt; the verdict is given once, and always given on leaving the block."""

    __slots__ = ("_breakers", "config_id", "verdict")

    def __init__(self, breakers: CircuitBreakers, config_id: str) -> None:
        self._breakers = breakers
        self.config_id = config_id
        self.verdict: str | None = None

    def ok(self) -> None:
        if self.verdict is None:
            self.verdict = "ok"
            self._breakers.success(self.config_id)

    def failed(self) -> None:
        if self.verdict is None:
            self.verdict = "failed"
            self._breakers.failure(self.config_id)

    def ambiguous(self, key_id: str) -> None:
        if self.verdict is None:
            self.verdict = "failed" if self._breakers.ambiguous(self.config_id, key_id) else "released"

    def __enter__(self) -> Trial:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.verdict is None:
            self.verdict = "released"
            self._breakers.release(self.config_id)
