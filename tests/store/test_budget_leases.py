"""Budget slices in the store, on SQLite and PostgreSQL: concurrent leases never take a window
past its limit by more than one request's need; what is given back can be taken again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from store import budget_leases
from store.db import make_engine, make_sessionmaker
from store.migrate import upgrade_engine

END = datetime.now(UTC) + timedelta(days=1)


@pytest.fixture
async def sm(db_url):
    eng = make_engine(db_url)
    await upgrade_engine(eng)
    yield make_sessionmaker(eng)
    await eng.dispose()


async def test_concurrent_leases_stay_below_limit_plus_one_need(sm) -> None:
    limit, need = 1000, 7

    async def one() -> int:
        taken, _ = await budget_leases.lease(sm, "w1", 50, need, limit, END)
        return taken

    got = await asyncio.gather(*(one() for _ in range(60)))
    total = sum(got)
    assert limit <= total < limit + need
    assert await budget_leases.granted(sm, "w1") == total
    taken, changed = await budget_leases.lease(sm, "w1", 50, need, limit, END)
    assert taken == 0 and changed is not None  # the window reached its limit
    await budget_leases.give_back(sm, "w1", 100)
    assert (await budget_leases.lease(sm, "w1", 50, need, limit, END))[0] == 50
    assert (await budget_leases.lease(sm, "w1", 500, need, limit, END))[0] == limit - (total - 100 + 50)
