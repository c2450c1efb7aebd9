"""Durable spool: order, cursors, restart replay, bounded size, torn tails, retention."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from producers.publisher.spool import Spool, SpoolLockedError, encode_record, open_exclusive
from core import metrics


def _recs(n: int, start: int = 0, topic: str = "t") -> list[tuple[str, bytes | None, bytes, int]]:
    return [(topic, f"k{i % 3}".encode() if i % 5 else None, f"value-{i}".encode(), 1_700_000_000_000 + i)
            for i in range(start, start + n)]


def _drops(name: str) -> float:
    return metrics.SPOOL_DROPPED.labels(name)._value.get()


def test_append_read_in_order_with_keys_and_timestamps(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 10_000_000, name="t-order")
    seqs = sp.append_many(_recs(50), sync=True)
    assert seqs == list(range(50))
    res = sp.read(0, 1000)
    assert [e.seq for e in res.entries] == list(range(50))
    assert res.next_seq == 50
    assert [e.value for e in res.entries] == [f"value-{i}".encode() for i in range(50)]
    assert res.entries[0].key is None and res.entries[1].key == b"k1"
    assert res.entries[7].timestamp_ms == 1_700_000_000_007
    # partial reads continue where they stopped
    a = sp.read(10, 5)
    assert [e.seq for e in a.entries] == [10, 11, 12, 13, 14] and a.next_seq == 15
    assert [e.seq for e in sp.read(a.next_seq, 3).entries] == [15, 16, 17]
    sp.close()


def test_readers_see_only_fsynced_records(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 10_000_000, fsync_every=10_000, fsync_interval_s=3600)
    sp.append_many(_recs(5), sync=False)
    assert sp.read(0).entries == []
    sp.sync()
    assert len(sp.read(0).entries) == 5
    sp.close()


def test_restart_replays_exactly_the_uncommitted_records(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 10_000_000)
    sp.register_cursor("kafka")
    sp.append_many(_recs(30), sync=True)
    sp.commit("kafka", 12)
    sp.close()

    sp2 = Spool(tmp_path, 10_000_000)
    assert sp2.cursor("kafka") == 12
    assert sp2.pending("kafka") == 18
    res = sp2.read(sp2.cursor("kafka"), 1000)
    assert [e.value for e in res.entries] == [f"value-{i}".encode() for i in range(12, 30)]
    # new records continue the numbering
    assert sp2.append_many(_recs(1, 30), sync=True) == [30]
    sp2.close()


def test_sequence_numbers_never_reused_after_full_consumption(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 10_000_000)
    sp.register_cursor("r")
    sp.append_many(_recs(10), sync=True)
    sp.commit("r", 10)
    assert sp.size_bytes == 0   # consumed segment deleted, empty one kept
    sp.close()
    sp2 = Spool(tmp_path, 10_000_000)
    assert sp2.append_many(_recs(1), sync=True) == [10]
    sp2.close()


def test_torn_tail_is_cut_and_reader_does_not_crash(tmp_path: Path, caplog) -> None:
    sp = Spool(tmp_path, 10_000_000)
    sp.append_many(_recs(20), sync=True)
    sp.close()
    seg = sorted(tmp_path.glob("*.seg"))[-1]
    good_size = seg.stat().st_size
    # a crash mid-write: half a record at the end
    torn = encode_record("t", b"k", b"x" * 100, 1)[:40]
    with open(seg, "ab") as f:
        f.write(torn)
    before = metrics.SPOOL_CORRUPT_BYTES.labels("spool")._value.get()
    with caplog.at_level(logging.ERROR, logger="tollgate.spool"):
        sp2 = Spool(tmp_path, 10_000_000)
    assert "torn/corrupt tail" in caplog.text
    assert metrics.SPOOL_CORRUPT_BYTES.labels("spool")._value.get() - before == 40
    assert seg.stat().st_size == good_size
    assert [e.seq for e in sp2.read(0, 100).entries] == list(range(20))
    assert sp2.append_many(_recs(1, 20), sync=True) == [20]
    assert sp2.read(20).entries[0].value == b"value-20"
    sp2.close()


def test_bit_flip_in_tail_is_detected_by_crc(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 10_000_000)
    sp.append_many(_recs(10), sync=True)
    sp.close()
    seg = sorted(tmp_path.glob("*.seg"))[-1]
    data = bytearray(seg.read_bytes())
    data[-3] ^= 0xFF     # corrupt the value of the last record
    seg.write_bytes(bytes(data))
    sp2 = Spool(tmp_path, 10_000_000)
    assert [e.seq for e in sp2.read(0, 100).entries] == list(range(9))
    sp2.close()


def test_corrupt_record_in_sealed_segment_skips_to_next_segment(tmp_path: Path, caplog) -> None:
    sp = Spool(tmp_path, 100_000_000, segment_bytes=4096)
    sp.append_many(_recs(300), sync=True)
    segs = sorted(tmp_path.glob("*.seg"))
    assert len(segs) >= 3
    sp.close()
    first = segs[0]
    data = bytearray(first.read_bytes())
    data[200] ^= 0xFF
    first.write_bytes(bytes(data))
    sp2 = Spool(tmp_path, 100_000_000, segment_bytes=4096)
    with caplog.at_level(logging.ERROR, logger="tollgate.spool"):
        got = []
        pos = 0
        for _ in range(100):
            res = sp2.read(pos, 50)
            got.extend(e.seq for e in res.entries)
            if res.next_seq >= sp2.next_seq:
                break
            pos = res.next_seq
    second_base = int(segs[1].name.split(".")[0])
    assert "corrupt record" in caplog.text
    assert got[-1] == 299
    assert second_base in got and got == sorted(got)
    assert len(got) < 300   # the damaged segment's remainder was skipped
    sp2.close()


def test_full_spool_drops_counts_and_logs(tmp_path: Path, caplog) -> None:
    name = "t-full"
    sp = Spool(tmp_path, 4096, name=name)
    before = _drops(name)
    with caplog.at_level(logging.ERROR, logger="tollgate.spool"):
        seqs = sp.append_many(_recs(200), sync=True)
    kept = [s for s in seqs if s is not None]
    dropped = len(seqs) - len(kept)
    assert kept == list(range(len(kept))) and 0 < len(kept) < 200
    assert _drops(name) - before == dropped
    assert "SPOOL FULL" in caplog.text
    # only one ERROR line for the burst (rate limited)
    assert sum("SPOOL FULL" in r.message for r in caplog.records) == 1
    assert sp.size_bytes <= 4096
    # space comes back once a reader commits
    sp.register_cursor("r", 0)
    sp.commit("r", len(kept))
    assert sp.append_many(_recs(1), sync=True) == [len(kept)]
    sp.close()


def test_retention_deletes_segments_below_every_cursor(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 100_000_000, segment_bytes=4096)
    sp.register_cursor("a", 0)
    sp.register_cursor("b", 0)
    sp.append_many(_recs(400), sync=True)
    n_before = len(list(tmp_path.glob("*.seg")))
    sp.commit("a", 400)
    assert len(list(tmp_path.glob("*.seg"))) == n_before   # b still needs them
    sp.commit("b", 200)
    after = len(list(tmp_path.glob("*.seg")))
    assert after < n_before
    assert sp.read(200, 1).entries[0].seq == 200
    assert sp.first_seq <= 200
    sp.close()


def test_one_process_per_directory(tmp_path: Path) -> None:
    sp = Spool(tmp_path / "spool", 1_000_000)
    with pytest.raises(SpoolLockedError):
        Spool(tmp_path / "spool", 1_000_000)
    other = open_exclusive(tmp_path / "spool", 1_000_000)
    assert other.dir.name == "spool-1"
    other.close()
    sp.close()
    again = open_exclusive(tmp_path / "spool", 1_000_000)
    assert again.dir.name == "spool"
    again.close()


def test_commit_past_durable_end_is_refused(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 1_000_000, fsync_every=10_000, fsync_interval_s=3600)
    sp.append_many(_recs(3), sync=False)
    with pytest.raises(ValueError):
        sp.commit("r", 3)
    sp.close()
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
    assert os.path.exists(tmp_path / "LOCK")
