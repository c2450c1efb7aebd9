"""The metering rows and the raw tables agree by column name: every column the processor writes
exists, and every column it leaves out is computed by the table itself."""

from __future__ import annotations

import pytest

from tests.warehouse.support import warehouse  # noqa: F401
from warehouse.tables import REQUEST_COLUMNS, REQUESTS_TABLE, VIOLATION_COLUMNS, VIOLATIONS_TABLE

pytestmark = pytest.mark.clickhouse


@pytest.mark.parametrize("table,written", [(REQUESTS_TABLE, REQUEST_COLUMNS), (VIOLATIONS_TABLE, VIOLATION_COLUMNS)])
async def test_written_columns_match_the_table(warehouse, table: str, written: tuple[str, ...]) -> None:  # noqa: F811
    rows = await warehouse.query(
        "SELECT name, default_kind FROM system.columns WHERE database = currentDatabase() AND table = {t:String}",
        {"t": table},
    )
    kinds = dict(rows)
    assert len(set(written)) == len(written), "a column written twice"
    assert set(written) <= set(kinds), f"written but not in {table}: {sorted(set(written) - set(kinds))}"
    left_out = {c for c in kinds if c not in written}
    assert all(kinds[c] in ("MATERIALIZED", "ALIAS", "DEFAULT") for c in left_out), (
        f"{table} columns nobody writes and nothing computes: "
        f"{sorted(c for c in left_out if kinds[c] not in ('MATERIALIZED', 'ALIAS', 'DEFAULT'))}"
    )
