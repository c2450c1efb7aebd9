"""The streaming relay: provider stream -> surface pipe -> client, as bytes arrive.

Waits on the provider and the client (non-blocking for the loop). If the client goes away the
relay stops, marks the record 499 and still returns normally so the request is accounted.
Returns the upstream error type when the provider's stream failed, else None.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from producers.gateway.asgi import Receive, Send, start_sse
from producers.gateway.events import RequestRecord
from producers.gateway.surfaces.base import Pipe
from producers.gateway.transport import TransportError, UpstreamStream

_perf = time.perf_counter


async def relay(
    stream: UpstreamStream,
    pipe: Pipe,
    receive: Receive,
    send: Send,
    rid: bytes,
    rec: RequestRecord,
    before_end: Callable[[str | None], None] | None = None,
) -> str | None:
    me = asyncio.current_task()
    assert me is not None
    state = {"done": False, "gone": False}

    async def watch() -> None:
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                if not state["done"]:
                    state["gone"] = True
                    me.cancel()
                return

    watcher = asyncio.create_task(watch())
    upstream_err: str | None = None
    agen = None
    try:
        await start_sse(send, rid, rec.mark_overhead())
        agen = stream.chunks()
        try:
            while True:
                tw = _perf()
                try:
                    raw = await agen.__anext__()
                except StopAsyncIteration:
                    rec.waited(tw)
                    break
                rec.waited(tw)
                out = pipe.feed(raw)
                if out:
                    rec.mark_first_byte()
                    await send({"type": "http.response.body", "body": out, "more_body": True})
            tail = pipe.finish()
            upstream_err = pipe.error_type
        except TransportError as exc:
            upstream_err = exc.error_type
            tail = pipe.broken()
        state["done"] = True
        watcher.cancel()
        if before_end is not None:  # the record is complete before the final event leaves
            before_end(upstream_err)
        await send({"type": "http.response.body", "body": tail, "more_body": False})
    except asyncio.CancelledError:
        if not state["gone"]:
            raise
        me.uncancel()
        rec.fail(499, "client_disconnected")
    finally:
        state["done"] = True
        watcher.cancel()
        try:
            if agen is not None:
                await agen.aclose()
            await stream.close()
        except Exception:  # noqa: BLE001 - closing a dead stream must not hide the outcome
            pass
    return upstream_err
