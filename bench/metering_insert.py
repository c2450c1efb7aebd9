"""Micro-benchmark: decode and insert formats for the `requests` table on the embedded engine.

    .venv/bin/python -m bench.metering_insert [--events 200000] [--batch 20000] [--formats ...]

One process, its own temp data dir. The same request events (bench.metering's generator) are
decoded by the reference path (pydantic rows) and the msgspec column path, then inserted per
batch, each format into its own database (same tables, MVs, dedup token per batch):
`json` (JSONCompactColumns via orjson), `native` (clickhouse-connect Native, Python codec,
column-oriented), `native-rust` (same, compiled codec, when installed), `arrow` (record batch
typed from DESCRIBE TABLE, Arrow format). Wall time and CPU time (all threads of this process,
so the engine's insert and MV work counts) are printed per stage: on a shared machine the CPU
rate is the steadier number. Rollup totals are checked after each format.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


class Timer:
    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __enter__(self) -> Timer:
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.metering_insert", description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=20_000)
    p.add_argument("--formats", default="json,native,native-rust,arrow")
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args(argv)

    import orjson

    from bench.metering import Ids, event_dicts, vm_hwm_mb
    from consumers.metering import decode_batch, reference_rows
    from core.settings import Settings
    from schemas.records import Record
    from warehouse.client import DEDUP_SETTINGS, make_client
    from warehouse.columnar import arrow_schema, to_arrow
    from warehouse.migrate import migrate
    from warehouse.tables import REQUEST_COLUMNS, REQUESTS_TABLE, ColumnBlock

    tmp = Path(tempfile.mkdtemp(prefix="tollgate-bench-insert-"))
    out: dict[str, Any] = {"events": a.events, "batch": a.batch}
    try:
        ids = Ids.random(random.Random(a.seed))
        batches = []
        for start in range(0, a.events, a.batch):
            m = min(a.batch, a.events - start)
            batches.append(
                [
                    Record("bench.requests", 0, start + j, None, orjson.dumps(d), 0)
                    for j, d in enumerate(event_dicts(ids, m, a.seed, start))
                ]
            )
        kinds = {"bench.requests": "requests"}
        t_ref, t_fast = Timer(), Timer()
        blocks: list[ColumnBlock] = []
        for recs in batches:
            with t_ref:
                rows, _v, dead = reference_rows(recs, kinds)
            with t_fast:
                d = decode_batch(recs, kinds)
            block, dead2 = d.requests, d.dead
            assert not dead and not dead2 and len(block) == len(rows)
            assert block.rows() == [tuple(r) for r in rows], "fast path differs from the reference"

            blocks.append(block)
        out["decode_pydantic_rows"] = {"eps_wall": a.events / t_ref.wall, "eps_cpu": a.events / t_ref.cpu}
        out["decode_msgspec_columns"] = {"eps_wall": a.events / t_fast.wall, "eps_cpu": a.events / t_fast.cpu}
        print(json.dumps({k: out[k] for k in ("decode_pydantic_rows", "decode_msgspec_columns")}), flush=True)

        settings = Settings(data_dir=tmp, clickhouse_url=None, kafka_bootstrap=None)
        for fmt in a.formats.split(","):
            if fmt == "native-rust":
                try:
                    import _ch_core  # noqa: F401
                except ImportError:
                    print(json.dumps({fmt: "not installed"}), flush=True)
                    continue
            client = make_client(settings, f"bench_{fmt.replace('-', '_')}")
            migrate(client, settings.raw_ttl_days)
            if fmt == "native-rust":
                from clickhouse_connect.driver.rustcodec import _make_native_transform

                client._transform = _make_native_transform("rust")
            schema = arrow_schema((r[0], r[1]) for r in client.query(f"DESCRIBE TABLE {REQUESTS_TABLE}").result_rows)
            t_enc, t_ins = Timer(), Timer()
            for i, block in enumerate(blocks):
                st = dict(DEDUP_SETTINGS, insert_deduplication_token=f"bench:{i}")
                if fmt == "json":
                    with t_ins:
                        body = orjson.dumps(block.data)
                        client.raw_insert(
                            REQUESTS_TABLE,
                            list(REQUEST_COLUMNS),
                            body,
                            fmt="JSONCompactColumns",
                            settings=dict(st, date_time_input_format="best_effort"),
                        )
                elif fmt.startswith("native"):
                    with t_ins:
                        client.insert(
                            REQUESTS_TABLE,
                            block.data,
                            column_names=list(REQUEST_COLUMNS),
                            column_oriented=True,
                            settings=st,
                        )
                elif fmt == "arrow":
                    with t_ins:
                        with t_enc:
                            rb = to_arrow(block, schema)
                        client.insert_arrow(REQUESTS_TABLE, rb, settings=st)
            got = int(client.query("SELECT sum(api_calls) FROM usage_minute").result_rows[0][0])
            raw = int(client.query("SELECT count() FROM requests").result_rows[0][0])
            assert got == raw == a.events, f"{fmt}: rollup {got}, raw {raw}"
            out[fmt] = {"eps_wall": a.events / t_ins.wall, "eps_cpu": a.events / t_ins.cpu}
            if t_enc.wall:
                out[fmt]["encode_eps_wall"] = a.events / t_enc.wall
            print(json.dumps({fmt: out[fmt]}), flush=True)
            client.close()
        out["rss_mb"] = vm_hwm_mb(os.getpid())
        out["load_avg"] = os.getloadavg()
        print(json.dumps(out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
