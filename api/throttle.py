"""Failed-login throttling (in memory, per API process). Pure apart from the injectable clock.

Failures are counted per subject in a sliding window; past a subject's allowance every further
attempt must wait, doubling from 1 s up to the subject's cap, and the wait ends by itself (no
permanent lockout: an attacker cannot keep a real user out longer than the cap). Subjects:
- the account from one client address (tight: 5 failures, cap 15 min) — the guessing itself;
- the client address over every account (20 failures, cap 15 min) — spraying many accounts;
- the account from every address (50 failures, cap 60 s) — a distributed guess slows down, yet
  the owner, from anywhere, waits at most a minute.
A success clears the account's counters (not the address's).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rule:
    allowance: int
    cap_s: float
    window_s: float = 15 * 60


RULES = {"account_addr": Rule(5, 15 * 60), "addr": Rule(20, 15 * 60), "account": Rule(50, 60)}
_MAX_SUBJECTS = 100_000


@dataclass
class _Subject:
    failures: deque = field(default_factory=deque)
    blocked_until: float = 0.0


class LoginThrottle:
    def __init__(self, rules: dict[str, Rule] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = rules or RULES
        self.clock = clock
        self._subjects: dict[tuple[str, str], _Subject] = {}

    @staticmethod
    def subjects(email: str, addr: str) -> dict[str, str]:
        return {"account_addr": f"{email}|{addr}", "addr": addr, "account": email}

    def wait_s(self, email: str, addr: str) -> int:
        """Seconds the caller must wait before this attempt may be checked (0: go ahead)."""
        now = self.clock()
        wait = 0.0
        for kind, key in self.subjects(email, addr).items():
            s = self._subjects.get((kind, key))
            if s is not None and s.blocked_until > now:
                wait = max(wait, s.blocked_until - now)
        return math.ceil(wait)

    def failed(self, email: str, addr: str) -> None:
        now = self.clock()
        if len(self._subjects) > _MAX_SUBJECTS:
            self._prune(now)
        for kind, key in self.subjects(email, addr).items():
            rule = self.rules[kind]
            s = self._subjects.setdefault((kind, key), _Subject())
            while s.failures and s.failures[0] <= now - rule.window_s:
                s.failures.popleft()
            s.failures.append(now)
            over = len(s.failures) - rule.allowance
            if over >= 0:
                s.blocked_until = max(s.blocked_until, now + min(rule.cap_s, 2.0**over))

    def succeeded(self, email: str, addr: str) -> None:
        for kind, key in self.subjects(email, addr).items():
            if kind != "addr":
                self._subjects.pop((kind, key), None)

    def _prune(self, now: float) -> None:
        for k in [
            k
            for k, s in self._subjects.items()
            if s.blocked_until <= now and (not s.failures or s.failures[-1] <= now - self.rules[k[0]].window_s)
        ]:
            del self._subjects[k]
