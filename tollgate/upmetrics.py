"""`/metrics` of `tollgate up --workers N`: one scrape shows every process.

Each worker also listens on an owner-only Unix socket next to the main one (``w<k>.sock``);
there ``/metrics`` with ``x-tollgate-scrape: process`` answers that process's own registry. The
main process answers ``/metrics`` with its own series plus every worker's, each series labelled
``worker="main"`` or ``worker="<k>"`` (one family per metric name, as Prometheus requires). A
worker that does not answer within ``timeout_s`` is left out and counted in
``tollgate_metrics_scrape_failures_total``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from prometheus_client import Counter
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from core import metrics

SCRAPE_HEADER = b"x-tollgate-scrape"
SCRAPE_FAILURES = Counter(
    "tollgate_metrics_scrape_failures_total", "Worker /metrics scrapes that failed, by worker.", ["worker"]
)


def worker_socket(main_socket: str | Path, index: int) -> Path:
    return Path(main_socket).with_name(f"w{index}.sock")


class _Families:
    def __init__(self) -> None:
        self.by_name: dict[str, Metric] = {}

    def add(self, text: str, worker: str) -> None:
        for fam in text_string_to_metric_families(text):
            into = self.by_name.get(fam.name)
            if into is None:
                into = self.by_name[fam.name] = Metric(fam.name, fam.documentation, fam.type, fam.unit)
            into.samples.extend(
                Sample(s.name, {**s.labels, "worker": worker}, s.value, s.timestamp, s.exemplar) for s in fam.samples
            )

    def collect(self) -> list[Metric]:
        return list(self.by_name.values())


def merge(parts: list[tuple[str, str]]) -> bytes:
    """Expositions (text, worker label) -> one exposition."""
    fams = _Families()
    for text, worker in parts:
        fams.add(text, worker)
    return generate_latest(fams)  # type: ignore[arg-type]


async def scrape(sock: Path, timeout_s: float) -> str:
    """One worker's own /metrics over its Unix socket (raises on failure)."""
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(sock)), timeout_s)
    try:
        writer.write(b"GET /metrics HTTP/1.1\r\nhost: w\r\nconnection: close\r\nx-tollgate-scrape: process\r\n\r\n")
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout_s)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError("worker metrics not available")
    if b"transfer-encoding: chunked" in head.lower():
        body = _unchunk(body)
    return body.decode()


def _unchunk(body: bytes) -> bytes:
    out, rest = [], body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(rest[:size])
        rest = rest[size + 2 :]
    return b"".join(out)


async def all_metrics(main_socket: str | Path, workers: list[int], timeout_s: float = 2.0) -> bytes:
    """The main process's registry plus each worker's, labelled by worker."""
    body, _ = metrics.render()
    parts = [(body.decode(), "main")]

    async def one(k: int) -> tuple[str, str] | None:
        try:
            return await scrape(worker_socket(main_socket, k), timeout_s), str(k)
        except (TimeoutError, OSError, ValueError):
            SCRAPE_FAILURES.labels(str(k)).inc()
            return None

    parts += [p for p in await asyncio.gather(*(one(k) for k in workers)) if p is not None]
    return merge(parts)


async def send_metrics(send: Any, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", CONTENT_TYPE_LATEST.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ProcessMetrics:
    """ASGI (worker): ``/metrics`` asked for with the scrape header is this process's own."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") == "/metrics":
            if any(k == SCRAPE_HEADER for k, _ in scope.get("headers", ())):
                body, _ = metrics.render()
                await send_metrics(send, body)
                return
        await self.app(scope, receive, send)
