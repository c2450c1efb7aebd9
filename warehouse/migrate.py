"""Versioned ClickHouse DDL: applies `migrations/NNN_*.sql` once each, recorded in `schema_migrations`.

The same files run on a ClickHouse server and on the embedded engine (no chdb-only syntax).
Blocking (sync client): call it from a worker thread, never on the event loop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
TTL_TABLES = ("requests", "violations")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def _split(sql: str) -> tuple[str, ...]:
    """Split a file on `;` at line ends; comments are dropped."""
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    parts = re.split(r";\s*(?:\n|$)", "\n".join(lines))
    return tuple(p.strip() for p in parts if p.strip())


def load_migrations(raw_ttl_days: int, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Pure: read the files in version order and fill in the TTL (an int, never user text)."""
    ttl = int(raw_ttl_days)
    if ttl < 1:
        raise ValueError("raw_ttl_days must be >= 1")
    out = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise ValueError(f"bad migration file name: {path.name}")
        sql = path.read_text().replace("__RAW_TTL_DAYS__", str(ttl))
        out.append(Migration(int(m.group(1)), m.group(2), _split(sql)))
    versions = [m.version for m in out]
    if len(set(versions)) != len(versions):
        raise ValueError("duplicate migration version")
    return out


def applied_versions(client: Client) -> set[int]:
    client.command(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version"
    )
    return {int(r[0]) for r in client.query("SELECT version FROM schema_migrations").result_rows}


def migrate(client: Client, raw_ttl_days: int) -> list[int]:
    """Apply pending migrations (each statement is idempotent), then sync the raw TTL. Blocks."""
    done = applied_versions(client)
    newly = []
    for mig in load_migrations(raw_ttl_days):
        if mig.version in done:
            continue
        for stmt in mig.statements:
            client.command(stmt)
        client.insert("schema_migrations", [[mig.version, mig.name]], column_names=["version", "name"])
        newly.append(mig.version)
    _sync_ttl(client, int(raw_ttl_days))
    return newly


def _sync_ttl(client: Client, days: int) -> None:
    """A changed `raw_ttl_days` is applied with ALTER ... MODIFY TTL (cheap when unchanged)."""
    want = f"toIntervalDay({days})"
    for table in TTL_TABLES:
        rows = client.query(
            "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {t:String}",
            parameters={"t": table},
        ).result_rows
        if rows and want not in rows[0][0]:
            client.command(f"ALTER TABLE {table} MODIFY TTL toDateTime(occurred_at) + toIntervalDay({days})")
