"""The leased budget's in-memory side: reservations from held slices without I/O, what a request
did not use goes back to the slice, idle windows are forgotten (bounded memory)."""

from __future__ import annotations

from producers.policy import leases
from producers.policy.leases import LeaseBank


def test_local_takes_and_settles_without_the_store() -> None:
    bank = LeaseBank(sessionmaker=None)
    w = bank._win("a")  # noqa: SLF001
    w.held = 100
    first = bank.take_local("a", 60)
    assert first is not None and w.held == 40 and w.inflight == 1
    assert bank.take_local("a", 60) is None  # not enough held: the store would be asked
    w.inflight += 1  # keep the idle return from being scheduled
    bank.settle(first, 25)
    assert w.held == 75 and bank.store_calls == 0


def test_idle_windows_are_forgotten(monkeypatch) -> None:
    monkeypatch.setattr(leases, "MAX_WINDOWS", 10)
    bank = LeaseBank(sessionmaker=None)
    for i in range(10):
        bank._win(f"w{i}")  # noqa: SLF001
    bank._win("busy").held = 5  # noqa: SLF001
    for i in range(20):
        bank._win(f"x{i}")  # noqa: SLF001
    assert "busy" in bank._w and len(bank._w) <= 11  # noqa: SLF001
