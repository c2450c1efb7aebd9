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


async def test_slice_goes_back_only_after_a_quiet_spell(monkeypatch) -> None:
    """Steady traffic with gaps shorter than idle_return_s keeps the slice (no store round trips
    in the request path); once the window is quiet that long, what is held goes back."""
    import asyncio

    returned: list[tuple[str, int]] = []

    async def give_back(sm, lid, amount):  # noqa: ANN001, ANN202
        returned.append((lid, amount))

    monkeypatch.setattr(leases.budget_leases, "give_back", give_back)
    bank = LeaseBank(sessionmaker=None, idle_return_s=0.2)
    bank._win("a").held = 1000  # noqa: SLF001
    loop = asyncio.get_running_loop()
    end = loop.time() + 0.6
    while loop.time() < end:  # a request every 50 ms, none in flight in between
        lease = bank.take_local("a", 10)
        assert lease is not None
        bank.settle(lease, 4)
        await asyncio.sleep(0.05)
    assert returned == [] and bank.store_calls == 0
    deadline = loop.time() + 2.0
    while not returned and loop.time() < deadline:
        await asyncio.sleep(0.02)
    assert len(returned) == 1 and returned[0][0] == "a" and returned[0][1] > 0
    assert bank._win("a").held == 0  # noqa: SLF001
