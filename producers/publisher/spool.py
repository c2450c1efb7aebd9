"""Durable local spool: an append-only log of (topic, key, value) records on disk.

Why: the Kafka publisher must survive a broker outage and a process crash without losing
events, and the in-process bus needs a crash-safe log with stable offsets. Both use this.

Layout in ``directory``:
- ``<base_seq:020d>.seg`` segment files. A record is ``<u32 payload_len><u32 crc32(payload)>``
  then the payload ``<i64 timestamp_ms><u16 topic_len><i32 key_len (-1 = None)>`` + topic +
  key + value. Each record has a sequence number (its offset): segment base + index in it.
  Sequence numbers only grow, also across restarts (an empty segment named after the next
  sequence is kept when everything is consumed), so they are safe to use as offsets.
- ``cursor-<name>``: a reader's committed position (next sequence to read), replaced
  atomically. Whole segments below every cursor (and every in-memory "volatile" reader, see
  ``register_volatile``) are deleted.
- ``LOCK``: an flock held while the spool is open (one process per spool directory).

Writes go to the OS at once (one ``write()`` per ``append_many``: a record whose append
returned survives a kill of the process) and are fsync'd in batches (every ``fsync_every``
records or ``fsync_interval_s``, or when ``sync()`` is called). The fsync runs outside the append
lock (on a dup of the active file's fd; segments rotated out since the last sync and the
directory are fsync'd by the next ``sync()``), so an append never waits for a disk flush.
Readers only see fsync'd ("durable")
records, so an offset a reader saw can never be lost and reused after a crash. At open, a torn
or corrupt tail of the last segment (a crash mid-write) is detected by length/CRC and cut off;
a corrupt record inside an older segment makes the reader skip to the next segment (logged,
counted), never crash. Total size is bounded by ``max_bytes``: when full, appends are refused,
counted in ``tollgate_spool_dropped_total`` and reported by a rate-limited ERROR log.

All methods block (file I/O, fsync): call them from a worker thread (``asyncio.to_thread``)
when on an event loop. They are thread-safe (one lock).
"""
from __future__ import annotations

import bisect
import fcntl
import logging
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from core import metrics

log = logging.getLogger("tollgate.spool")

_HDR = struct.Struct("<II")          # payload_len, crc32
_META = struct.Struct("<qHi")        # timestamp_ms, topic_len, key_len
_SEG_SUFFIX = ".seg"
_MAX_RECORD = 64 * 1024 * 1024       # a length above this is corruption, not a record
_DROP_LOG_EVERY_S = 10.0


class SpoolLockedError(RuntimeError):
    """Another live process holds this spool directory."""


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    seq: int
    topic: str
    key: bytes | None
    value: bytes
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class ReadResult:
    entries: list[SpoolEntry]
    next_seq: int   # where the next read starts (past gaps left by corruption)


@dataclass(slots=True)
class _Segment:
    base: int
    path: Path
    size: int
    count: int | None = None  # known for the active segment; None = not scanned


def encode_record(topic: str, key: bytes | None, value: bytes, timestamp_ms: int) -> bytes:
    """One framed record (header + payload). Pure."""
    t = topic.encode()
    payload = b"".join((_META.pack(timestamp_ms, len(t), -1 if key is None else len(key)),
                        t, key or b"", value))
    return _HDR.pack(len(payload), zlib.crc32(payload)) + payload


def _decode_payload(seq: int, payload: bytes) -> SpoolEntry:
    ts, tlen, klen = _META.unpack_from(payload, 0)
    p = _META.size
    topic = payload[p:p + tlen].decode()
    p += tlen
    if klen < 0:
        key = None
    else:
        key = payload[p:p + klen]
        p += klen
    return SpoolEntry(seq, topic, key, payload[p:], ts)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """See the module docstring. Open with ``Spool(dir, max_bytes)``; ``close()`` when done."""

    def __init__(
        self,
        directory: Path | str,
        max_bytes: int,
        *,
        name: str = "spool",
        segment_bytes: int = 16 * 1024 * 1024,
        fsync_every: int = 500,
        fsync_interval_s: float = 0.05,
    ) -> None:
        self.dir = Path(directory)
        self.name = name
        self.max_bytes = int(max_bytes)
        self.segment_bytes = max(4096, min(segment_bytes, max(4096, self.max_bytes // 8)))
        self.fsync_every = fsync_every
        self.fsync_interval_s = fsync_interval_s
        self._lock = threading.RLock()
        self._sync_lock = threading.Lock()   # one sync at a time; taken before ``_lock``
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.dir / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise SpoolLockedError(f"spool {self.dir} is in use by another process") from None
        self._segments: list[_Segment] = []
        self._cursors: dict[str, int] = {}
        self._volatile: dict[str, int] = {}   # in-memory readers: hold retention until restart
        self._hints: dict[int, tuple[int, int]] = {}   # seq -> (segment base, byte offset)
        self._file = None
        self._rotated: list = []          # rotated-out segment files not yet fsync'd
        self._dir_dirty = False           # segment created/deleted since the last dir fsync
        self._unsynced = 0
        self._last_sync = time.monotonic()
        self._drops_since_log = 0
        self._last_drop_log = 0.0
        self._closed = False
        self._m_bytes = metrics.SPOOL_BYTES.labels(name)
        self._m_pending = metrics.SPOOL_PENDING.labels(name)
        self._m_appended = metrics.SPOOL_APPENDED.labels(name)
        self._m_dropped = metrics.SPOOL_DROPPED.labels(name)
        self._m_corrupt = metrics.SPOOL_CORRUPT_BYTES.labels(name)
        self._open()

    # ---- open / recovery ------------------------------------------------------------------

    def _open(self) -> None:
        for p in sorted(self.dir.glob("cursor-*")):
            if p.name.endswith(".tmp"):
                p.unlink(missing_ok=True)
                continue
            try:
                self._cursors[p.name[len("cursor-"):]] = int(p.read_text().strip())
            except (ValueError, OSError):
                log.error("spool %s: unreadable cursor file %s ignored", self.name, p.name)
        bases = sorted(int(p.name[: -len(_SEG_SUFFIX)]) for p in self.dir.glob("*" + _SEG_SUFFIX)
                       if p.name[: -len(_SEG_SUFFIX)].isdigit())
        for b in bases:
            path = self._seg_path(b)
            self._segments.append(_Segment(b, path, path.stat().st_size))
        floor = max(self._cursors.values(), default=0)
        if not self._segments:
            self._new_segment(floor)
        else:
            last = self._segments[-1]
            last.count, good = self._scan(last.path)
            if good < last.size:
                cut = last.size - good
                log.error("spool %s: torn/corrupt tail of %d bytes in %s cut off (crash mid-write)",
                          self.name, cut, last.path.name)
                self._m_corrupt.inc(cut)
                with open(last.path, "r+b") as f:
                    f.truncate(good)
                    os.fsync(f.fileno())
                last.size = good
            if last.base + last.count < floor:
                # Everything was consumed past this segment's end: continue numbering above.
                self._new_segment(floor)
            else:
                self._file = open(last.path, "ab")
        if self._dir_dirty:
            for f in self._rotated:
                os.fsync(f.fileno())
                f.close()
            self._rotated = []
            _fsync_dir(self.dir)
            self._dir_dirty = False
        self._durable_next = self.next_seq
        self._gc()
        self._update_gauges()

    def _scan(self, path: Path) -> tuple[int, int]:
        """(valid record count, byte length of the valid prefix) of one segment file."""
        count = good = 0
        with open(path, "rb") as f:
            data = f.read()
        n = len(data)
        while good + _HDR.size <= n:
            plen, crc = _HDR.unpack_from(data, good)
            end = good + _HDR.size + plen
            if plen < _META.size or plen > _MAX_RECORD or end > n:
                break
            if zlib.crc32(data[good + _HDR.size:end]) != crc:
                break
            count += 1
            good = end
        return count, good

    def _seg_path(self, base: int) -> Path:
        return self.dir / f"{base:020d}{_SEG_SUFFIX}"

    def _new_segment(self, base: int, *, old_synced: bool = False) -> None:
        """Start a segment. The old file (unless ``old_synced``) and the directory are fsync'd
        by the next ``sync()``, which is what makes the records in it visible."""
        if self._file is not None:
            self._file.flush()
            if old_synced:
                self._file.close()
            else:
                self._rotated.append(self._file)
        path = self._seg_path(base)
        self._file = open(path, "ab")
        self._segments.append(_Segment(base, path, 0, 0))
        self._dir_dirty = True

    # ---- properties ------------------------------------------------------------------------

    @property
    def next_seq(self) -> int:
        """Sequence number the next appended record gets."""
        last = self._segments[-1]
        return last.base + (last.count or 0)

    @property
    def durable_next(self) -> int:
        """Records below this sequence are fsync'd and visible to readers."""
        return self._durable_next

    @property
    def unsynced(self) -> int:
        """Records appended since the last fsync."""
        return self._unsynced

    @property
    def first_seq(self) -> int:
        """Oldest sequence still stored."""
        return self._segments[0].base

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    def cursor(self, name: str) -> int | None:
        """Committed position of a reader (None if it never registered)."""
        with self._lock:
            return self._cursors.get(name)

    def pending(self, name: str) -> int:
        """Records appended but not yet committed by reader ``name``."""
        with self._lock:
            return max(0, self.next_seq - self._cursors.get(name, self.first_seq))

    # ---- writing ---------------------------------------------------------------------------

    def append_many(
        self, records: list[tuple[str, bytes | None, bytes, int]], *, sync: bool | None = None
    ) -> list[int | None]:
        """Append (topic, key, value, timestamp_ms) records; returns each one's sequence number,
        or None where it was refused because the spool is full. ``sync``: True forces an fsync,
        False skips it, None applies the batch policy. Blocks."""
        out: list[int | None] = []
        want_sync = False
        with self._lock:
            if self._closed:
                raise RuntimeError("spool is closed")
            total = self.size_bytes
            active = self._segments[-1]
            chunks: list[bytes] = []
            pending_bytes = 0
            for topic, key, value, ts in records:
                rec = encode_record(topic, key, value, ts)
                if total + len(rec) > self.max_bytes:
                    out.append(None)
                    self._dropped(1)
                    continue
                if active.size + pending_bytes + len(rec) > self.segment_bytes and active.size + pending_bytes > 0:
                    self._write(chunks, pending_bytes)
                    chunks, pending_bytes = [], 0
                    self._new_segment(self.next_seq)
                    active = self._segments[-1]
                out.append(active.base + (active.count or 0) + len(chunks))
                chunks.append(rec)
                pending_bytes += len(rec)
                total += len(rec)
            self._write(chunks, pending_bytes)
            appended = sum(1 for s in out if s is not None)
            self._m_appended.inc(appended)
            self._unsynced += appended
            want_sync = bool(sync or (sync is None and (
                self._unsynced >= self.fsync_every
                or time.monotonic() - self._last_sync >= self.fsync_interval_s)))
            self._update_gauges()
        if want_sync:
            self.sync()
        return out

    def _write(self, chunks: list[bytes], nbytes: int) -> None:
        if not chunks:
            return
        self._file.write(b"".join(chunks))
        self._file.flush()
        seg = self._segments[-1]
        seg.size += nbytes
        seg.count = (seg.count or 0) + len(chunks)

    def sync(self) -> None:
        """fsync what was appended; afterwards readers see it. Blocks (fsync), but the fsync
        runs outside the append lock, so concurrent appends go on meanwhile."""
        with self._sync_lock:
            with self._lock:
                if self._closed:
                    return
                target = self.next_seq
                if target == self._durable_next and not self._rotated and not self._dir_dirty:
                    self._unsynced = 0
                    self._last_sync = time.monotonic()
                    return
                rotated, self._rotated = self._rotated, []
                dir_dirty, self._dir_dirty = self._dir_dirty, False
                fd = os.dup(self._file.fileno())
            try:
                for f in rotated:
                    os.fsync(f.fileno())
                os.fsync(fd)
                if dir_dirty:
                    _fsync_dir(self.dir)
            except BaseException:
                with self._lock:      # retried by the next sync; nothing became visible
                    self._rotated[:0] = rotated
                    self._dir_dirty = self._dir_dirty or dir_dirty
                raise
            finally:
                os.close(fd)
            for f in rotated:
                f.close()
            with self._lock:
                self._durable_next = max(self._durable_next, target)
                self._unsynced = max(0, self.next_seq - target)
                self._last_sync = time.monotonic()

    def _dropped(self, n: int) -> None:
        self._m_dropped.inc(n)
        self._drops_since_log += n
        now = time.monotonic()
        if now - self._last_drop_log >= _DROP_LOG_EVERY_S:
            log.error("SPOOL FULL: spool %s at %s reached its limit of %d bytes; %d event(s) "
                      "DROPPED since the last report (tollgate_spool_dropped_total)",
                      self.name, self.dir, self.max_bytes, self._drops_since_log)
            self._drops_since_log = 0
            self._last_drop_log = now

    # ---- reading ---------------------------------------------------------------------------

    def read(self, from_seq: int, max_records: int = 500, max_bytes: int = 8 * 1024 * 1024) -> ReadResult:
        """Up to ``max_records`` durable records from ``from_seq`` on. Blocks (file read)."""
        with self._lock:
            start = max(from_seq, self.first_seq)
            limit = self._durable_next
            entries: list[SpoolEntry] = []
            seq = start
            nbytes = 0
            while seq < limit and len(entries) < max_records and nbytes < max_bytes:
                i = bisect.bisect_right([s.base for s in self._segments], seq) - 1
                seg = self._segments[i]
                seg_end = self._segments[i + 1].base if i + 1 < len(self._segments) else limit
                hint = self._hints.pop(seq, None)
                pos = hint[1] if hint and hint[0] == seg.base else None
                got, seq, pos, corrupt = self._read_segment(seg, seq, pos, min(seg_end, limit),
                                                            max_records - len(entries), max_bytes - nbytes)
                entries.extend(got)
                nbytes += sum(len(e.value) for e in got)
                if corrupt:
                    log.error("spool %s: corrupt record in %s at seq %d; skipping to the next segment",
                              self.name, seg.path.name, seq)
                    self._m_corrupt.inc(1)
                    seq = seg_end
                elif pos is not None:
                    self._remember(seq, seg.base, pos)
                if seq >= seg_end and i + 1 >= len(self._segments):
                    break
            return ReadResult(entries, max(seq, start))

    def _read_segment(self, seg: _Segment, seq: int, pos: int | None, end_seq: int,
                      max_records: int, max_bytes: int) -> tuple[list[SpoolEntry], int, int | None, bool]:
        out: list[SpoolEntry] = []
        nbytes = 0
        with open(seg.path, "rb") as f:
            if pos is None:      # walk headers from the segment start to ``seq``
                pos, cur = 0, seg.base
                while cur < seq:
                    f.seek(pos)
                    hdr = f.read(_HDR.size)
                    if len(hdr) < _HDR.size:
                        return out, seq, None, True
                    plen, _ = _HDR.unpack(hdr)
                    if plen > _MAX_RECORD:
                        return out, seq, None, True
                    pos += _HDR.size + plen
                    cur += 1
            f.seek(pos)
            while seq < end_seq and len(out) < max_records and nbytes < max_bytes:
                hdr = f.read(_HDR.size)
                if len(hdr) < _HDR.size:
                    return out, seq, None, True
                plen, crc = _HDR.unpack(hdr)
                if plen < _META.size or plen > _MAX_RECORD:
                    return out, seq, None, True
                payload = f.read(plen)
                if len(payload) < plen or zlib.crc32(payload) != crc:
                    return out, seq, None, True
                out.append(_decode_payload(seq, payload))
                nbytes += plen
                pos += _HDR.size + plen
                seq += 1
        return out, seq, pos, False

    def _remember(self, seq: int, base: int, pos: int) -> None:
        if len(self._hints) > 256:
            self._hints.clear()
        self._hints[seq] = (base, pos)

    # ---- cursors / retention ---------------------------------------------------------------

    def register_cursor(self, name: str, start: int | None = None) -> int:
        """Make ``name`` a reader (persisted at ``start``, default: oldest stored record) unless
        it exists; returns its committed position. Blocks."""
        with self._lock:
            if name not in self._cursors:
                self._persist_cursor(name, self.first_seq if start is None else start)
            return self._cursors[name]

    def register_volatile(self, name: str, start: int) -> int:
        """An in-memory reader: holds back retention like a cursor, but is not persisted (it is
        gone after a restart). Returns its position. Blocks only briefly."""
        with self._lock:
            self._volatile[name] = max(self.first_seq, min(start, self._durable_next))
            return self._volatile[name]

    def drop_cursor(self, name: str) -> None:
        """Forget a reader so it no longer holds back retention. Blocks."""
        with self._lock:
            self._cursors.pop(name, None)
            self._volatile.pop(name, None)
            (self.dir / f"cursor-{name}").unlink(missing_ok=True)
            self._gc()

    def commit(self, name: str, next_seq: int) -> None:
        """Persist reader ``name``'s position (records below ``next_seq`` are done) and delete
        segments every reader is past. Blocks (write + fsync + rename)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("spool is closed")
            if next_seq > self._durable_next:
                raise ValueError("cannot commit past the durable end of the spool")
            if name in self._volatile:
                self._volatile[name] = max(self._volatile[name], next_seq)
                self._gc()
                self._update_gauges()
                return
            if next_seq <= self._cursors.get(name, -1):
                return
        # The file write + fsyncs run outside the lock (appends go on); one reader commits its
        # own name from one task at a time. Retention moves only after the cursor is on disk.
        self._write_cursor(name, next_seq)
        with self._lock:
            if self._closed:
                return
            if next_seq > self._cursors.get(name, -1):
                self._cursors[name] = next_seq
            self._gc()
            self._update_gauges()

    def _write_cursor(self, name: str, value: int) -> None:
        path = self.dir / f"cursor-{name}"
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w") as f:
            f.write(f"{value}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.dir)

    def _persist_cursor(self, name: str, value: int) -> None:
        self._write_cursor(name, value)
        self._cursors[name] = value

    def _gc(self) -> None:
        low = min([*self._cursors.values(), *self._volatile.values()], default=None)
        if low is None:
            return
        removed = False
        while len(self._segments) > 1 and self._segments[1].base <= low:
            seg = self._segments.pop(0)
            seg.path.unlink(missing_ok=True)
            removed = True
        active = self._segments[-1]
        if (low >= self.next_seq and active.size > 0 and self._durable_next == self.next_seq
                and not self._rotated):
            # All consumed: start an empty segment (keeps the numbering) and drop the old one.
            self._new_segment(self.next_seq, old_synced=True)
            old = self._segments.pop(0)
            old.path.unlink(missing_ok=True)
            removed = True
        if removed:
            self._hints.clear()
            self._dir_dirty = True      # fsync'd by the next sync() (or close)

    def _update_gauges(self) -> None:
        self._m_bytes.set(self.size_bytes)
        low = min([*self._cursors.values(), *self._volatile.values()], default=self.first_seq)
        self._m_pending.set(max(0, self.next_seq - low))

    # ---- close -------------------------------------------------------------------------------

    def close(self) -> None:
        """fsync and release the directory lock. Blocks."""
        with self._sync_lock, self._lock:
            if self._closed:
                return
            try:
                for f in self._rotated:
                    os.fsync(f.fileno())
                    f.close()
                self._rotated = []
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
                if self._dir_dirty:
                    _fsync_dir(self.dir)
                self._durable_next = self.next_seq
            finally:
                self._closed = True
                os.close(self._lock_fd)


def open_exclusive(base_dir: Path, max_bytes: int, *, name: str = "spool", attempts: int = 64,
                   **kwargs) -> Spool:
    """Open ``base_dir``, or ``base_dir-1``, ``-2``... if another live process holds it, so
    several processes sharing a data dir each get a spool, and a restarted one replays a dead
    one's leftovers. Blocks."""
    for i in range(attempts):
        d = base_dir if i == 0 else base_dir.with_name(f"{base_dir.name}-{i}")
        try:
            return Spool(d, max_bytes, name=name, **kwargs)
        except SpoolLockedError:
            continue
    raise SpoolLockedError(f"no free spool directory next to {base_dir}")
