"""ClickHouse access: client factory (server over HTTP, or the embedded chdb engine) and the
async `Warehouse` facade the consumer and the stats API use.

clickhouse-connect's clients are synchronous (and chdb admits one engine per process and data
dir), so every call runs on a dedicated executor: a single thread for the embedded engine,
a small pool for a server. Facade methods never block the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import clickhouse_connect
import orjson
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from core.settings import Settings
from warehouse import queries
from warehouse.columnar import arrow_schema, to_arrow
from warehouse.migrate import migrate
from warehouse.tables import (
    INGEST_LOG_TABLE,
    REQUEST_COLUMNS,
    REQUESTS_TABLE,
    VIOLATION_COLUMNS,
    VIOLATIONS_TABLE,
    ColumnBlock,
)

log = logging.getLogger("tollgate.warehouse")
T = TypeVar("T")
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

# Insert settings: idempotent inserts whose dedup also covers every materialized-view target.
DEDUP_SETTINGS = {"deduplicate_blocks_in_dependent_materialized_views": 1}
_JSON_INPUT = {"date_time_input_format": "best_effort"}


# chdb admits one engine path per process: remember which data dir is open (and how often),
# so callers sharing a process (e.g. a test suite) can reuse it with their own database.
_EMBEDDED_OPEN: dict[Path, int] = {}


def open_embedded_data_dir() -> Path | None:
    """The data dir whose embedded engine is open in this process, if any."""
    return next(iter(_EMBEDDED_OPEN), None)


def embedded_dsn(data_dir: Path) -> str:
    return f"chdb://{Path(data_dir).resolve() / 'clickhouse'}"


# The embedded engine's server settings, given to it at start as a config file (chdb takes
# `config-file` as a startup option; the first connection of a process starts the engine).
# Its defaults size the caches from the machine's RAM (mark and index caches of 5 GB each),
# and merge small raw parts horizontally, reading every column of every part at once (~150 MB
# for six 20k-row parts of `requests`, measured through system.merges); vertical merges read
# one column at a time (~18 MB for the same merge). The pool sizes stay at their defaults:
# mutations and large merges need free pool slots.
EMBEDDED_ENGINE_CONFIG = """<clickhouse>
  <mark_cache_size>67108864</mark_cache_size>
  <index_mark_cache_size>16777216</index_mark_cache_size>
  <primary_index_cache_size>16777216</primary_index_cache_size>
  <uncompressed_cache_size>0</uncompressed_cache_size>
  <index_uncompressed_cache_size>0</index_uncompressed_cache_size>
  <query_condition_cache_size>16777216</query_condition_cache_size>
  <mmap_cache_size>256</mmap_cache_size>
  <merge_tree>
    <vertical_merge_algorithm_min_rows_to_activate>1</vertical_merge_algorithm_min_rows_to_activate>
    <vertical_merge_algorithm_min_columns_to_activate>11</vertical_merge_algorithm_min_columns_to_activate>
  </merge_tree>
</clickhouse>
"""


def embedded_options(data_dir: Path) -> dict[str, str]:
    """chdb startup options for `data_dir`: the engine config above, written beside the data."""
    cfg = Path(data_dir) / "clickhouse-engine.xml"
    if not cfg.exists() or cfg.read_text() != EMBEDDED_ENGINE_CONFIG:
        cfg.write_text(EMBEDDED_ENGINE_CONFIG)
    return {"config-file": str(cfg.resolve())}


def make_client(settings: Settings, database: str | None = None) -> Client:
    """A sync clickhouse-connect client. Blocks (connects). Server when TOLLGATE_CLICKHOUSE_URL
    is set, else the embedded engine in `<data_dir>/clickhouse`. `database` overrides the DSN's
    database and is created when missing."""
    if settings.clickhouse_url:
        client = clickhouse_connect.get_client(dsn=settings.clickhouse_url, autogenerate_session_id=False)
    else:
        path = Path(settings.data_dir) / "clickhouse"
        path.mkdir(parents=True, exist_ok=True)
        client = clickhouse_connect.get_client(
            dsn=embedded_dsn(settings.data_dir), chdb_options=embedded_options(settings.data_dir)
        )
        key = Path(settings.data_dir).resolve()
        _EMBEDDED_OPEN[key] = _EMBEDDED_OPEN.get(key, 0) + 1
    db = database or (client.database if client.database not in (None, "", "default") else None)
    if db:
        if not _DB_NAME.match(db):
            raise ValueError("invalid ClickHouse database name")
        client.command(f"CREATE DATABASE IF NOT EXISTS `{db}`")
        client.database = db
    return client


class Warehouse:
    """Async facade over one ClickHouse client; every call runs off the event loop.
    Also a runtime component (`name`, `start()`, `stop()`)."""

    name = "warehouse"

    def __init__(
        self, settings: Settings, *, database: str | None = None, client_factory: Callable[[], Client] | None = None
    ):
        self.settings = settings
        self.database = database
        self.embedded = not settings.clickhouse_url
        self._factory = client_factory or functools.partial(make_client, settings, database)
        self._pool: ThreadPoolExecutor | None = None
        self._client: Client | None = None
        self._schemas: dict[str, pa.Schema] = {}  # Arrow types per table, from DESCRIBE TABLE

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1 if self.embedded else 4, thread_name_prefix="warehouse")
        return self._pool

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect and apply pending migrations (idempotent)."""
        await self._run(self._connect_and_migrate)

    def _connect_and_migrate(self) -> None:
        if self._client is None:
            self._client = self._factory()
        migrate(self._client, self.settings.raw_ttl_days)
        self._schemas.clear()

    async def stop(self) -> None:
        """Close the client (releases the embedded engine's data dir) and the executor."""
        if self._client is not None:
            client, self._client = self._client, None
            try:
                await self._run_raw(client.close)
            except Exception:  # noqa: BLE001 - closing is best effort
                log.warning("warehouse close failed")
            if self.embedded:
                key = Path(self.settings.data_dir).resolve()  # noqa: ASYNC240 - one realpath at shutdown
                left = _EMBEDDED_OPEN.get(key, 1) - 1
                if left <= 0:
                    _EMBEDDED_OPEN.pop(key, None)
                else:
                    _EMBEDDED_OPEN[key] = left
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.shutdown(wait=True)

    close = stop

    async def _run_raw(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), functools.partial(fn, *args))

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._run_raw(fn, *args)

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("Warehouse not started")
        return self._client

    # -- inserts ----------------------------------------------------------------------------
    async def insert_requests(self, rows: ColumnBlock | Sequence[Sequence[Any]], dedup_token: str) -> None:
        """Insert raw request rows (and, through the MVs, the rollups) idempotently: a column
        block (the consumer's) or rows in `REQUEST_COLUMNS` order."""
        await self._insert(REQUESTS_TABLE, REQUEST_COLUMNS, rows, dedup_token)

    async def insert_violations(self, rows: ColumnBlock | Sequence[Sequence[Any]], dedup_token: str) -> None:
        await self._insert(VIOLATIONS_TABLE, VIOLATION_COLUMNS, rows, dedup_token)

    async def _insert(
        self, table: str, columns: tuple[str, ...], rows: ColumnBlock | Sequence[Sequence[Any]], token: str
    ) -> None:
        if not len(rows):
            return
        block = rows if isinstance(rows, ColumnBlock) else ColumnBlock.from_rows(columns, rows)
        settings = dict(DEDUP_SETTINGS, insert_deduplication_token=token)
        await self._run(self._insert_columns_sync, table, block, settings)

    def _insert_columns_sync(self, table: str, block: ColumnBlock, settings: dict) -> None:
        """Columns go over as one Arrow record batch typed from the table's own column types
        (bench.metering_insert: the fastest of JSONCompactColumns, Native and Arrow here, and
        no per-value Python encoder: pyarrow converts each column list in C)."""
        schema = self._schemas.get(table)
        if schema is None:
            described = self.client.query(f"DESCRIBE TABLE {table}").result_rows
            schema = self._schemas[table] = arrow_schema((r[0], r[1]) for r in described)
        self.client.insert_arrow(table, to_arrow(block, schema), settings=settings)

    def _insert_sync(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], settings: dict) -> None:
        """Small row inserts (the ingest log) as one JSONCompactColumns document."""
        body = orjson.dumps([list(col) for col in zip(*rows)])
        self.client.raw_insert(
            table, list(columns), body, fmt="JSONCompactColumns", settings=dict(settings, **_JSON_INPUT)
        )

    async def write_intent(self, topic: str, partition: int, first: int, last: int, token: str) -> None:
        """Record in the ingest log that slice [first, last] is about to be inserted."""
        await self._run(
            self._insert_sync,
            INGEST_LOG_TABLE,
            ("topic", "partition", "first_offset", "last_offset", "token"),
            [[topic, partition, first, last, token]],
            {},
        )

    async def load_intents(self, topic: str, partition: int) -> tuple[int, int, str] | None:
        """The latest logged slice (first, last, token) of a partition, or None."""
        rows = await self._run(self._query_rows, queries.LAST_INTENT_SQL, {"topic": topic, "partition": partition})
        if not rows or rows[0][2] == "":
            return None
        first, last, token = rows[0]
        return int(first), int(last), str(token)

    # -- queries -----------------------------------------------------------------------------
    def _query_rows(self, sql: str, params: dict) -> list[tuple]:
        return self.client.query(sql, parameters=params).result_rows

    async def query(self, sql: str, params: dict | None = None) -> list[tuple]:
        """Run a parameterized read query (SQL text is ours; values are bound, never formatted)."""
        return await self._run(self._query_rows, sql, params or {})

    async def llm_stats(
        self,
        workspace_ids: Sequence[str],
        ai_llm_ids: Sequence[str] | None,
        start: datetime | None,
        end: datetime | None,
    ) -> dict[str, dict[str, int]]:
        """Totals per ai_llm_id over [start, end], read from the day and minute rollups."""
        sql, params = queries.llm_stats_query(workspace_ids, ai_llm_ids, start, end)
        rows = await self.query(sql, params)
        return {
            r[0]: {
                k: (Decimal(v) if k in queries.DECIMAL_FIELDS else int(v))
                for k, v in zip(queries.LLM_STATS_FIELDS, r[1:])
            }
            for r in rows
        }

    async def usage_series_json(self, grain: str, f: queries.SeriesFilter) -> bytes:
        """The rollup rows per bucket and dimensions (at most `f.limit`), as JSONEachRow lines
        already in the API's row shape (ClickHouse formats them: no per-row Python work)."""
        return await self._run(read_series_json, self.client, grain, f)


def read_series_json(client: Client, grain: str, f: queries.SeriesFilter) -> bytes:
    """Blocking. Rows are ordered by time first, so the window can be read in consecutive
    pieces and the answers joined: the first piece (`queries.series_pieces`) is small, and
    when it alone fills the limit (a busy workspace: 10,000 rows are its first minutes) the
    rest of the window is never aggregated. Same lines as one query over the whole window."""
    out: list[bytes] = []
    left = f.limit
    for piece in queries.series_pieces(grain, f):
        sql, params = queries.series_json_query(grain, dataclasses.replace(piece, limit=left))
        raw = client.raw_query(sql, parameters=params)  # one line per row, each ending in \n
        out.append(raw)
        left -= raw.count(b"\n")
        if left <= 0:
            break
    return b"".join(out)
