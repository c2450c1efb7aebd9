"""The request's event is logged before the response's last byte; a gateway that cannot log
answers 503 instead of serving unmetered."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from producers.gateway.handlers import _EmitBeforeEnd


@pytest.fixture(autouse=True)
def _restore(gw):
    yield
    gw.gw.publisher.accepting, gw.gw.publisher.refuse = True, False


def _chat(gw, key: str = "single", stream: bool = False) -> httpx.Response:
    return httpx.post(
        f"{gw.gw.url}/chat/completions",
        timeout=10,
        headers={"authorization": f"Bearer {gw.keys[key]}"},
        json={"model": "gpt-4o-mini", "stream": stream, "messages": [{"role": "user", "content": "hello"}]},
    )


def test_full_log_answers_503_before_calling_the_provider(gw) -> None:
    gw.fake.control.reset()
    gw.gw.publisher.accepting = False
    r = _chat(gw)
    assert r.status_code == 503 and r.json()["error"]["code"] == "event_log_unavailable"
    assert sum(gw.fake.control._counts.values()) == 0, "the provider was called unmetered"


def test_event_not_stored_turns_the_answer_into_503(gw) -> None:
    gw.gw.publisher.refuse = True
    r = _chat(gw)
    assert r.status_code == 503 and r.json()["error"]["code"] == "event_log_unavailable"
    gw.gw.publisher.refuse = False
    assert _chat(gw).status_code == 200


async def test_emit_happens_before_the_final_body_and_sse_passes_through() -> None:
    sent: list[str] = []

    async def send(msg) -> None:
        sent.append(
            msg["type"] + (":final" if msg["type"] == "http.response.body" and not msg.get("more_body") else "")
        )

    def emit_now() -> bool:
        sent.append("EMIT")
        return True

    guard = _EmitBeforeEnd(send, emit_now, None)
    await guard({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    assert sent == []  # held until the body: a refusal could still be a 503
    await guard({"type": "http.response.body", "body": b"{}"})
    assert sent == ["EMIT", "http.response.start", "http.response.body:final"]

    sent.clear()
    guard = _EmitBeforeEnd(send, lambda: False, None)
    await guard({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    await guard({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
    assert sent == ["http.response.start", "http.response.body"]  # a stream is not held back
    bodies: list[bytes] = []

    async def send2(msg) -> None:
        bodies.append(msg.get("body", b""))

    guard.send = send2
    await guard({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})
    assert bodies == [b""], "a stream whose event was not stored ends without its final event"
    await asyncio.sleep(0)
