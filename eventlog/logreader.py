"""Subscriptions, and reading the logs of other processes (`tollgate up --workers N`).

``Subscription`` and ``deliver`` are the embedded bus's (``bus.EventLogBus``) registered
handlers and their retry loop; the classes below reuse them across processes.

With ``tollgate up --workers N`` each gateway worker k (1..N) appends to its own log
(``<eventlog dir>/workers/<k>/eventlog.db``) and the main process owns the consumers. Every
file has ONE writer (an append never waits for another process's lock); each side only reads
the other's file:

- ``WorkerLogs`` (main process): for every durable subscription of the main bus and every
  worker log, a reader that hands the worker's records to the same handler as partition k
  (the main log is partition 0, so consumers that deduplicate by (topic, partition, offset)
  never confuse two logs), and commits its position into the MAIN log's cursors table under
  topic ``<topic>@w<k>``. Topics of a worker log that nobody subscribed to are marked read.
- ``MainLogTail`` (worker): per-process (non-durable) subscriptions on the main log (the
  decisions feed), and ``trim_bound(topic)``: the worker trims its own log below the slowest
  of the main's ``<topic>@w<k>`` cursors (nothing before the main has a cursor there).

Readers poll (there is no cross-process wake-up): ``poll_s`` bounds the added latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import metrics
from eventlog.store import TopicState, table_name
from schemas.records import Record

log = logging.getLogger("tollgate.eventlog")

Handler = Callable[[list[Record]], Awaitable[None]]
LOG_FILE = "eventlog.db"
WORKERS_DIR = "workers"
UNROUTED = "unrouted"


@dataclass(eq=False)
class Subscription:
    """A registered handler (returned by ``subscribe``; read-only for callers)."""

    topic: str
    name: str
    handler: Handler
    max_batch: int
    max_wait_ms: int
    durable: bool = True
    start: str = "earliest"
    position: int = -1
    closing: bool = False
    deadline: float = 0.0
    task: asyncio.Task | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)


async def deliver(
    sub: Subscription,
    records: list[Record],
    m_err: Any,
    limit: Callable[[], float | None],
    backoff_s: tuple[float, float] = (0.05, 5.0),
    last_log: dict[str, float] | None = None,
) -> bool:
    """``await sub.handler(records)`` until it returns (True); a failure is retried with capped
    backoff, never skipped. False when ``limit()`` (a monotonic deadline, None: none) passed."""
    backoff, last_log = backoff_s[0], last_log if last_log is not None else {}
    while True:
        try:
            await sub.handler(records)
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried, never dropped
            m_err.inc()
            now = time.monotonic()
            if now - last_log.get(sub.name, 0.0) >= 5.0:
                last_log[sub.name] = now
                # Only the type: exception text may carry a backend URL or credentials.
                log.error(
                    "event log handler %s on %s failed for offsets %d..%d (%s); retrying",
                    sub.name,
                    sub.topic,
                    records[0].offset,
                    records[-1].offset,
                    type(exc).__name__,
                )
            until = limit()
            if until is not None and time.monotonic() >= until:
                return False
            wait = backoff if until is None else min(backoff, max(0.0, until - time.monotonic()))
            await asyncio.sleep(wait)
            backoff = min(backoff_s[1], backoff * 2)


class LogView:
    """Read-only access to a log another process writes (opened lazily; a missing file reads
    as empty). Calls are short indexed reads; use one view per thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._c: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection | None:
        if self._c is None and self.path.exists():
            c = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            c.execute("PRAGMA busy_timeout=2000")
            self._c = c
        return self._c

    def _query(self, sql: str, args: tuple = ()) -> list[Any]:
        c = self._conn()
        if c is None:
            return []
        try:
            return c.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # not created yet by its writer
                return []
            raise

    def read(self, topic: str, start: int, limit: int, partition: int = 0) -> list[Record]:
        rows = self._query(
            f'SELECT o, k, v, ts FROM "{table_name(topic)}" WHERE o >= ? ORDER BY o LIMIT ?', (start, limit)
        )
        return [Record(topic, partition, o, k, v, ts) for o, k, v, ts in rows]

    def state(self, topic: str) -> TopicState:
        table = table_name(topic)
        seq = self._query("SELECT seq FROM sqlite_sequence WHERE name=?", (table,))
        nxt = (seq[0][0] if seq else 0) + 1
        first = self._query(f'SELECT min(o) FROM "{table}"')
        return TopicState(first[0][0] if first and first[0][0] is not None else nxt, nxt)

    def topics(self) -> list[str]:
        return sorted(v for (v,) in self._query("SELECT v FROM meta WHERE k LIKE 'topic:%'"))

    def cursors(self, suffix: str) -> dict[str, int]:
        """The slowest reader per cursor topic ending in ``suffix`` (suffix removed)."""
        rows = self._query("SELECT topic, min(next) FROM cursors WHERE topic LIKE ? GROUP BY topic", (f"%{suffix}",))
        return {t[: -len(suffix)]: n for t, n in rows if t.endswith(suffix)}

    def close(self) -> None:
        c, self._c = self._c, None
        if c is not None:
            c.close()


def worker_log_paths(base: Path | str, n: int) -> dict[int, Path]:
    """Worker k's log for k in 1..n, plus any other worker log already under ``base``."""
    root = Path(base) / WORKERS_DIR
    paths = {k: root / str(k) / LOG_FILE for k in range(1, n + 1)} if n > 1 else {}
    if root.is_dir():
        for d in root.iterdir():
            if d.name.isdigit() and int(d.name) > 0 and (d / LOG_FILE).exists():
                paths.setdefault(int(d.name), d / LOG_FILE)
    return dict(sorted(paths.items()))


class WorkerLogs:
    """Component of the main process: feeds the workers' logs into the main bus's durable
    subscriptions (see the module docstring). Add it after the consumers that subscribe."""

    name = "worker-logs"

    def __init__(self, bus: Any, paths: dict[int, Path], *, poll_s: float = 0.02, drain_timeout_s: float = 10.0):
        self.bus, self.paths, self.poll_s, self.drain_timeout_s = bus, paths, poll_s, drain_timeout_s
        self.views = {k: LogView(p) for k, p in paths.items()}
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        self._deadline = 0.0
        self._err_log: dict[str, float] = {}

    def _subs(self) -> list[Subscription]:
        return [s for subs in self.bus._subs.values() for s in subs if s.durable]

    async def start(self) -> None:
        self._stopping = False
        for k, view in self.views.items():
            for sub in self._subs():
                self._tasks.append(asyncio.create_task(self._follow(k, view, sub), name=f"worker-log-{k}-{sub.name}"))
            self._tasks.append(asyncio.create_task(self._mark_unrouted(k, view), name=f"worker-log-{k}-unrouted"))

    async def stop(self) -> None:
        """Catch up with what the (stopped) workers stored, bounded by ``drain_timeout_s``."""
        self._stopping = True
        self._deadline = time.monotonic() + self.drain_timeout_s
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self.drain_timeout_s + 2)
            for t in pending:
                t.cancel()
            for t in pending:
                with contextlib.suppress(BaseException):
                    await t
        self._tasks = []
        for v in self.views.values():
            v.close()

    def lag(self) -> int:
        """Records stored in worker logs and not yet handled by every subscription."""
        lg, total = self.bus.log, 0
        for k, view in self.views.items():
            for sub in self._subs():
                pos = lg.cursor(f"{sub.topic}@w{k}", sub.name) if lg is not None else None
                total += max(0, view.state(sub.topic).next - (pos or 0)) if pos is not None else 0
        return total

    async def _follow(self, k: int, view: LogView, sub: Subscription) -> None:
        lg = self.bus.log
        cursor_topic = f"{sub.topic}@w{k}"
        pos = lg.cursor(cursor_topic, sub.name)
        if pos is None:
            pos = view.state(sub.topic).first
            lg.commit(cursor_topic, sub.name, pos)
        m_lag = metrics.BUS_LAG.labels(sub.topic, f"{sub.name}@w{k}")
        m_ok = metrics.BUS_DELIVERED.labels(sub.topic, f"{sub.name}@w{k}")
        m_err = metrics.BUS_HANDLER_ERRORS.labels(sub.topic, f"{sub.name}@w{k}")
        waited = False
        while True:
            records = view.read(sub.topic, pos, sub.max_batch, partition=k)
            if not records:
                if self._stopping:
                    return
                await asyncio.sleep(self.poll_s)
                continue
            if len(records) < sub.max_batch and sub.max_wait_ms > 0 and not waited and not self._stopping:
                waited = True  # a partial batch: let it fill once
                await asyncio.sleep(sub.max_wait_ms / 1000)
                continue
            waited = False
            ok = await deliver(
                sub, records, m_err, lambda: self._deadline if self._stopping else None, last_log=self._err_log
            )
            if not ok:
                return  # stopping: redelivered from the cursor after a restart
            pos = records[-1].offset + 1
            lg.commit(cursor_topic, sub.name, pos)
            m_ok.inc(len(records))
            m_lag.set(max(0, view.state(sub.topic).next - pos) if len(records) == sub.max_batch else 0)
            if self._stopping and time.monotonic() >= self._deadline:
                return

    async def _mark_unrouted(self, k: int, view: LogView) -> None:
        """Topics nobody here subscribed to: mark them read, so the worker trims them."""
        lg = self.bus.log
        while not self._stopping:
            routed = {s.topic for s in self._subs()}
            for topic in view.topics():
                if topic in routed:
                    if lg.cursor(f"{topic}@w{k}", UNROUTED) is not None:
                        lg.drop_cursor(f"{topic}@w{k}", UNROUTED)  # it would hold back trimming
                else:
                    st = view.state(topic)
                    before = lg.cursor(f"{topic}@w{k}", UNROUTED)
                    if before != st.next:
                        lg.commit(f"{topic}@w{k}", UNROUTED, st.next)
                        if before is not None and st.next > before:
                            metrics.BUS_UNROUTED.labels(topic).inc(st.next - before)
            await asyncio.sleep(1.0)


class MainLogTail:
    """Component of a worker process: per-process subscriptions on the main process's log, and
    the trim bound of the worker's own log (see the module docstring)."""

    name = "main-log-tail"
    durable_offsets = True

    def __init__(self, main_log: Path | str, index: int, *, poll_s: float = 0.05) -> None:
        self.view = LogView(main_log)
        self._bounds_view = LogView(main_log)  # read from the trimming thread
        self.index = index
        self.poll_s = poll_s
        self._subs: list[Subscription] = []
        self._tasks: list[asyncio.Task] = []
        self._started = False

    def subscribe(
        self,
        topic: str,
        handler: Handler,
        *,
        max_batch: int = 500,
        max_wait_ms: int = 0,
        name: str | None = None,
        durable: bool = False,
        start: str = "earliest",
    ) -> Subscription:
        """Like ``EventLogBus.subscribe`` with ``durable=False`` (the position lives in memory)."""
        if durable:
            raise ValueError("subscriptions on another process's log are per-process (durable=False)")
        sub = Subscription(topic, name or "tail", handler, max_batch, max_wait_ms, False, start)
        self._subs.append(sub)
        if self._started:
            self._tasks.append(asyncio.create_task(self._tail(sub), name=f"main-log-{topic}"))
        return sub

    async def start(self) -> None:
        self._started = True
        self._tasks = [asyncio.create_task(self._tail(s), name=f"main-log-{s.topic}") for s in self._subs]

    async def stop(self) -> None:
        self._started = False
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(BaseException):
                await t
        self._tasks = []
        self.view.close()
        self._bounds_view.close()

    def trim_bound(self, topic: str) -> int | None:
        """Below which offset the worker may trim ``topic`` of its own log (None: not at all).
        Blocking (one indexed read of the main log); called from the trimming thread."""
        return self._bounds_view.cursors(f"@w{self.index}").get(topic)

    async def _tail(self, sub: Subscription) -> None:
        st = self.view.state(sub.topic)
        sub.position = st.first if sub.start == "earliest" else st.next
        sub.ready.set()
        m_err = metrics.BUS_HANDLER_ERRORS.labels(sub.topic, sub.name)
        while True:
            records = self.view.read(sub.topic, sub.position, sub.max_batch)
            if not records:
                await asyncio.sleep(self.poll_s)
                continue
            await deliver(sub, records, m_err, lambda: None)
            sub.position = records[-1].offset + 1
