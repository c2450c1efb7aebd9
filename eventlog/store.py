"""The durable local event log: one SQLite database in WAL mode in the data dir.

Layout: a table per topic (``rowid`` is the offset: AUTOINCREMENT, so offsets only grow and
are never reused, also after trimming), a ``cursors`` table with one row per reader (the next
offset it wants), and a ``meta`` table. Integrity is SQLite's (no CRCs of our own).

Durability: ``synchronous=NORMAL`` in WAL mode, so an append returned survives a kill of the
process (SIGKILL, OOM); only a power loss may take the last transactions. Automatic WAL
checkpoints are off on the appending connection (they would land inside an ``append``); the
owner calls ``checkpoint()`` from a background thread instead.

Threading: ``append`` is called on the event-loop thread and holds a short lock; everything
slower (``read``, ``commit``, ``trim``, ``checkpoint``) is meant for worker threads
(``asyncio.to_thread``). Reads use their own connection, so they never wait for appends.
Bounded: past ``max_bytes`` (an estimate of stored key+value bytes) ``append`` raises
``LogFull`` until readers catch up and trimming frees room.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from schemas.records import Record

_SAFE = re.compile(r"[^A-Za-z0-9]")
_ROW_OVERHEAD = 48  # rough bytes per row beyond key + value (rowid, ts, b-tree cell)


class LogFull(Exception):
    """The log reached its size bound; nothing was stored."""


class LogClosed(Exception):
    """The log is not open (before start or after stop); nothing was stored."""


@dataclass(frozen=True, slots=True)
class TopicState:
    """Offsets of one topic: ``first`` stored (or ``next`` when empty) and ``next`` to assign."""

    first: int
    next: int


def table_name(topic: str) -> str:
    """A topic's table (topic names are ours, but never trust them into SQL unescaped)."""
    return "t_" + _SAFE.sub("_", topic)


class EventLog:
    """See the module docstring. Open with ``EventLog(path)``; ``close()`` when done."""

    def __init__(self, path: Path | str, max_bytes: int = 512 * 1024 * 1024, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._w = self._connect(busy_timeout_ms)
        self._w.execute("PRAGMA wal_autocheckpoint=0")
        self._r = self._connect(busy_timeout_ms)
        self._tables: dict[str, str] = {}
        self._insert_sql: dict[str, str] = {}
        with self._lock:
            self._w.execute(
                "CREATE TABLE IF NOT EXISTS cursors (topic TEXT NOT NULL, reader TEXT NOT NULL, "
                "next INTEGER NOT NULL, PRIMARY KEY (topic, reader)) WITHOUT ROWID"
            )
            self._w.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
            for (name,) in self._w.execute("SELECT v FROM meta WHERE k LIKE 'topic:%'").fetchall():
                self._tables[name] = table_name(name)
        self.bytes = self._measure()

    def _connect(self, busy_timeout_ms: int) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        return conn

    # ---- topics ----------------------------------------------------------------------------

    def topics(self) -> list[str]:
        """Topics that have a table (created on first append or subscription)."""
        return sorted(self._tables)

    def ensure_topic(self, topic: str) -> str:
        """Create the topic's table if missing. Offsets of a new table start at the current
        time in microseconds, so they stay above any offset an earlier log in this data dir
        handed out (consumers deduplicate by offset). Blocks briefly (DDL)."""
        table = self._tables.get(topic)
        if table is not None:
            return table
        table = table_name(topic)
        with self._lock:
            self._w.execute("BEGIN IMMEDIATE")
            try:
                self._w.execute(
                    f'CREATE TABLE IF NOT EXISTS "{table}" (o INTEGER PRIMARY KEY AUTOINCREMENT, '
                    "k BLOB, v BLOB NOT NULL, ts INTEGER NOT NULL)"
                )
                seeded = self._w.execute("SELECT 1 FROM sqlite_sequence WHERE name=?", (table,)).fetchone()
                if seeded is None:
                    self._w.execute(
                        "INSERT INTO sqlite_sequence(name, seq) VALUES (?, ?)", (table, time.time_ns() // 1000)
                    )
                self._w.execute("INSERT OR IGNORE INTO meta(k, v) VALUES (?, ?)", (f"topic:{topic}", topic))
                self._w.execute("COMMIT")
            except BaseException:
                self._w.execute("ROLLBACK")
                raise
        self._tables[topic] = table
        return table

    # ---- writing ---------------------------------------------------------------------------

    def append(self, topic: str, key: bytes | None, value: bytes, ts_ms: int | None = None) -> int:
        """Store one record durably (against process death); returns its offset.
        Raises ``LogFull`` or ``LogClosed``, or ``sqlite3.Error`` on a disk failure. ~tens of µs."""
        size = len(value) + (len(key) if key else 0) + _ROW_OVERHEAD
        if self.bytes + size > self.max_bytes:
            raise LogFull(f"event log {self.path} is full ({self.bytes} of {self.max_bytes} bytes)")
        sql = self._insert_sql.get(topic)
        if sql is None:
            sql = self._insert_sql[topic] = f'INSERT INTO "{self.ensure_topic(topic)}" (k, v, ts) VALUES (?, ?, ?)'
        ts = ts_ms if ts_ms is not None else int(time.time() * 1000)
        with self._lock:
            w = self._w
            if w is None:
                raise LogClosed("event log is closed")
            offset = w.execute(sql, (key, value, ts)).lastrowid
        self.bytes += size
        return offset

    def append_many(self, topic: str, items: list[tuple[bytes | None, bytes, int]]) -> list[int]:
        """Store several records in one transaction (same guarantees as ``append``)."""
        size = sum(len(v) + (len(k) if k else 0) + _ROW_OVERHEAD for k, v, _ in items)
        if self.bytes + size > self.max_bytes:
            raise LogFull(f"event log {self.path} is full ({self.bytes} of {self.max_bytes} bytes)")
        table = self.ensure_topic(topic)
        out: list[int] = []
        with self._lock:
            if self._w is None:
                raise LogClosed("event log is closed")
            self._w.execute("BEGIN IMMEDIATE")
            try:
                for k, v, ts in items:
                    out.append(
                        self._w.execute(f'INSERT INTO "{table}" (k, v, ts) VALUES (?, ?, ?)', (k, v, ts)).lastrowid
                    )
                self._w.execute("COMMIT")
            except BaseException:
                self._w.execute("ROLLBACK")
                raise
        self.bytes += size
        return out

    # ---- reading and cursors ---------------------------------------------------------------

    def read(self, topic: str, start: int, limit: int) -> list[Record]:
        """Up to ``limit`` records with offset >= ``start``, in offset order (partition 0)."""
        table = self._tables.get(topic)
        if table is None:
            return []
        rows = self._r.execute(
            f'SELECT o, k, v, ts FROM "{table}" WHERE o >= ? ORDER BY o LIMIT ?', (start, limit)
        ).fetchall()
        return [Record(topic, 0, o, k, v, ts) for o, k, v, ts in rows]

    def state(self, topic: str) -> TopicState:
        """First stored and next offset of ``topic`` (cheap: two index lookups)."""
        table = self._tables.get(topic)
        if table is None:
            return TopicState(0, 0)
        seq = self._r.execute("SELECT seq FROM sqlite_sequence WHERE name=?", (table,)).fetchone()
        nxt = (seq[0] if seq else 0) + 1
        first = self._r.execute(f'SELECT min(o) FROM "{table}"').fetchone()[0]
        return TopicState(first if first is not None else nxt, nxt)

    def cursor(self, topic: str, reader: str) -> int | None:
        """The next offset ``reader`` wants, or None when it never committed."""
        row = self._r.execute("SELECT next FROM cursors WHERE topic=? AND reader=?", (topic, reader)).fetchone()
        return row[0] if row else None

    def commit(self, topic: str, reader: str, next_offset: int) -> None:
        """Persist ``reader``'s position (the next offset it wants)."""
        with self._lock:
            self._w.execute(
                "INSERT INTO cursors(topic, reader, next) VALUES (?, ?, ?) "
                "ON CONFLICT(topic, reader) DO UPDATE SET next=excluded.next",
                (topic, reader, next_offset),
            )

    def drop_cursor(self, topic: str, reader: str) -> None:
        """Forget a reader (it no longer holds back trimming)."""
        with self._lock:
            self._w.execute("DELETE FROM cursors WHERE topic=? AND reader=?", (topic, reader))

    def meta(self, key: str) -> str | None:
        """A value from the ``meta`` table."""
        row = self._r.execute("SELECT v FROM meta WHERE k=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Store a value in the ``meta`` table (durable when it returns)."""
        with self._lock:
            self._w.execute(
                "INSERT INTO meta(k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v=excluded.v", (key, value)
            )

    def identity(self) -> str:
        """This log's id (made once, kept for the life of the file)."""
        ident = self.meta("id")
        if ident is None:
            import uuid

            with self._lock:
                self._w.execute("INSERT OR IGNORE INTO meta(k, v) VALUES ('id', ?)", (uuid.uuid4().hex,))
            ident = self.meta("id")
        assert ident is not None
        return ident

    def min_cursor(self, topic: str) -> int | None:
        """The slowest stored reader's position on ``topic`` (None: no reader)."""
        return self._r.execute("SELECT min(next) FROM cursors WHERE topic=?", (topic,)).fetchone()[0]

    # ---- retention -------------------------------------------------------------------------

    def trim(self, topic: str, before: int, *, compact: bool = False, chunk: int = 5000) -> int:
        """Delete records with offset < ``before`` (at most ``chunk`` per call, so an append
        never waits long). ``compact``: keep the newest record of each key. Returns rows deleted."""
        table = self._tables.get(topic)
        if table is None:
            return 0
        first = self.state(topic).first
        upto = before if compact else min(before, first + chunk)
        if upto <= first:
            return 0
        where = "o < ?"
        if compact:
            where += f' AND o NOT IN (SELECT max(o) FROM "{table}" GROUP BY k)'
        freed = self._r.execute(
            f'SELECT count(*), coalesce(sum(length(v) + coalesce(length(k), 0)), 0) FROM "{table}" WHERE {where}',
            (upto,),
        ).fetchone()
        with self._lock:
            n = self._w.execute(f'DELETE FROM "{table}" WHERE {where}', (upto,)).rowcount
        self.bytes = max(0, self.bytes - freed[1] - freed[0] * _ROW_OVERHEAD)
        return n

    def checkpoint(self) -> None:
        """Move WAL pages into the database without blocking appends (PASSIVE)."""
        self._r.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _measure(self) -> int:
        total = 0
        for table in self._tables.values():
            n, b = self._r.execute(
                f'SELECT count(*), coalesce(sum(length(v) + coalesce(length(k), 0)), 0) FROM "{table}"'
            ).fetchone()
            total += b + n * _ROW_OVERHEAD
        return total

    def close(self) -> None:
        """Checkpoint and close both connections (idempotent)."""
        with self._lock:
            w, self._w = self._w, None
        if w is None:
            return
        try:
            w.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass
        w.close()
        self._r.close()
