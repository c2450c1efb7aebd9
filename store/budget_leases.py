"""Budget slices in the config store (`budget_ledgers`): the one counter all gateways share.

A gateway takes a slice of a budget window with a conditional UPDATE (`granted + take <= limit`,
or a compare-and-set on the value it read), spends it locally and gives back what it did not
use. A window below its limit admits one more request (as the in-process budget does: usage
may end between the limit and the limit plus one request's worst case), so `granted` stays
below `limit + need`, whatever the number of gateways and whether or not the policy consumer
runs. The store is touched once per slice, never per request.
Blocks on the database (async); call from the gateway's loop only on a slice miss.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from store.models import BudgetLedger

CAS_TRIES = 20


def _now() -> datetime:
    return datetime.now(UTC)


async def lease(
    sessionmaker, ledger_id: str, want: int, need: int, limit: int, window_end: datetime
) -> tuple[int, datetime | None]:
    """Take up to `want` (at least `need`) units of the window while it is below `limit`:
    (taken, None), or (0, the row's last change) when the window has reached its limit."""
    for _ in range(CAS_TRIES):
        async with sessionmaker() as s, s.begin():
            res = await s.execute(
                update(BudgetLedger)
                .where(BudgetLedger.id == ledger_id, BudgetLedger.granted + want <= limit)
                .values(granted=BudgetLedger.granted + want, updated_at=_now())
            )
            if res.rowcount == 1:
                return want, None
            row = (
                await s.execute(
                    select(BudgetLedger.granted, BudgetLedger.updated_at).where(BudgetLedger.id == ledger_id)
                )
            ).first()
            if row is None:
                take = max(need, min(want, limit))
                try:
                    async with s.begin_nested():
                        s.add(BudgetLedger(id=ledger_id, granted=take, window_end=window_end, updated_at=_now()))
                    return take, None
                except IntegrityError:
                    continue  # another gateway made the row first: read it again
            granted, changed = row
            if granted >= limit:
                return 0, changed
            take = max(need, min(want, limit - granted))
            res = await s.execute(
                update(BudgetLedger)
                .where(BudgetLedger.id == ledger_id, BudgetLedger.granted == granted)
                .values(granted=granted + take, updated_at=_now())
            )
            if res.rowcount == 1:
                return take, None
    return 0, _now()


async def give_back(sessionmaker, ledger_id: str, amount: int) -> None:
    """Return unused units of a slice."""
    if amount <= 0:
        return
    async with sessionmaker() as s, s.begin():
        await s.execute(
            update(BudgetLedger)
            .where(BudgetLedger.id == ledger_id, BudgetLedger.granted >= amount)
            .values(granted=BudgetLedger.granted - amount, updated_at=_now())
        )


async def granted(sessionmaker, ledger_id: str) -> int:
    async with sessionmaker() as s:
        v = await s.scalar(select(BudgetLedger.granted).where(BudgetLedger.id == ledger_id))
    return int(v or 0)
