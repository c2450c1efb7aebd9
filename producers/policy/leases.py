"""Budgets that hold across gateways: slices of each budget window leased from the config store.

Per budget window (ledger id = subject + metric + window start) a gateway holds `held` units it
leased and has not reserved yet. Admitting a request reserves its worst case from `held`; only
when `held` cannot cover it does the gateway go to the store (`store.budget_leases.lease`) for a
slice (1/`SLICES` of the limit, at least what is missing). Settling puts back what the request
did not use; once the window has had no request in flight and none taken or settled for
`idle_return_s`, the rest goes back to the store (so another gateway can use it). Steady traffic
thus keeps its slice instead of returning and re-leasing it (two store transactions, the second
awaited in the request path) at every brief gap between requests. A refused lease first gives back
what is held. Hence, for every gateway together:

    spent <= granted (store) < limit + one worst case, plus what a request used beyond its
    reserved worst case.

Not thread-safe: the gateway's event loop only. Awaits the store only on a slice miss/return.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from store import budget_leases

log = logging.getLogger("tollgate.policy.leases")

SLICES = 20  # a slice is limit / SLICES (at least what the request is missing)
MAX_WINDOWS = 4096  # idle windows are forgotten beyond this many (bounded memory)
RECENT_S = 2.0  # a ledger changed this recently: reservations are still settling


@dataclass
class _Window:
    held: int = 0
    inflight: int = 0
    last: float = 0.0  # time.monotonic() of the last take or settle
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    returning: asyncio.Task | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    """One admitted request's share of one budget window."""

    ledger_id: str
    amount: int


class LeaseBank:
    def __init__(self, sessionmaker: Any, idle_return_s: float = 0.2, slices: int = SLICES):
        self.sm = sessionmaker
        self.idle_return_s = idle_return_s
        self.slices = max(1, slices)
        self._w: dict[str, _Window] = {}
        self.store_calls = 0

    @staticmethod
    def ledger_id(subject: str, metric: str, window_start: datetime) -> str:
        return f"{subject}:{metric}:{int(window_start.timestamp())}"

    def _win(self, lid: str) -> _Window:
        w = self._w.get(lid)
        if w is None:
            if len(self._w) >= MAX_WINDOWS:
                self._prune()
            w = self._w[lid] = _Window()
        return w

    def _prune(self) -> None:
        """Forget windows that hold nothing and have nothing in flight (nothing to give back)."""
        for lid in [
            k
            for k, w in self._w.items()
            if w.held == 0 and w.inflight == 0 and not w.lock.locked() and (w.returning is None or w.returning.done())
        ]:
            del self._w[lid]

    def take_local(self, lid: str, amount: int) -> Lease | None:
        """The whole amount from what this gateway holds, without I/O (None: not enough)."""
        w = self._win(lid)
        if w.held >= amount:
            w.held -= amount
            w.inflight += 1
            w.last = time.monotonic()
            return Lease(lid, amount)
        return None

    async def take(self, lid: str, amount: int, limit: int, window_end: datetime) -> tuple[Lease | None, float]:
        """(lease, 0) or (None, seconds until the budget may free: 1 while the window's ledger is
        still changing, else until the window ends)."""
        w = self._win(lid)
        async with w.lock:
            got = self.take_local(lid, amount)
            if got is not None:
                return got, 0.0
            need = amount - w.held
            want = max(need, limit // self.slices)
            self.store_calls += 1
            taken, changed = await budget_leases.lease(self.sm, lid, want, need, limit, window_end)
            if taken:
                w.held += taken
                return self.take_local(lid, amount), 0.0
            if w.held > 0:  # let the others use what this gateway cannot
                back, w.held = w.held, 0
                self.store_calls += 1
                await budget_leases.give_back(self.sm, lid, back)
            now = datetime.now(UTC)
            if w.inflight or (changed is not None and (now - changed).total_seconds() < RECENT_S):
                return None, 1.0
            return None, max(1.0, (window_end - now).total_seconds())

    def settle(self, lease: Lease, actual: int) -> None:
        """The request is over: what it did not use goes back to `held` (beyond its worst case,
        `held` goes below zero and the next slice makes up for it)."""
        w = self._win(lease.ledger_id)
        w.held += lease.amount - max(0, int(actual))
        w.inflight = max(0, w.inflight - 1)
        w.last = time.monotonic()
        if w.inflight == 0 and w.held != 0 and (w.returning is None or w.returning.done()):
            try:
                w.returning = asyncio.get_running_loop().create_task(self._return_when_idle(lease.ledger_id))
            except RuntimeError:  # no loop (unit tests of the pure parts)
                pass

    async def _return_when_idle(self, lid: str) -> None:
        delay = self.idle_return_s
        while True:
            await asyncio.sleep(delay)
            w = self._w.get(lid)
            if w is None:
                return
            quiet = time.monotonic() - w.last
            if w.inflight or quiet >= self.idle_return_s:
                break
            delay = self.idle_return_s - quiet  # used meanwhile: wait for a quiet spell
        async with w.lock:
            if w.inflight or w.held == 0:
                return
            back, w.held = w.held, 0
            self.store_calls += 1
            try:
                if back > 0:
                    await budget_leases.give_back(self.sm, lid, back)
                else:  # spent beyond the worst case: take it from the window (may pass the limit)
                    await budget_leases.lease(self.sm, lid, -back, -back, 1 << 62, datetime.now(UTC))
            except Exception:  # noqa: BLE001 - kept locally; the next slice or return retries
                log.warning("budget slice of %s could not be returned", lid)
                w.held += back

    async def drain(self) -> None:
        """Give everything held back (gateway shutdown)."""
        for lid, w in list(self._w.items()):
            if w.held > 0:
                back, w.held = w.held, 0
                try:
                    await budget_leases.give_back(self.sm, lid, back)
                except Exception:  # noqa: BLE001
                    log.warning("budget slice of %s could not be returned at shutdown", lid)
