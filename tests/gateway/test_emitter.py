"""Group commit of request events: one log transaction per loop iteration, answers per event."""

from __future__ import annotations

from pathlib import Path

from eventlog.bus import EventLogBus
from producers.gateway.emitter import GroupEmitter
from schemas import topics
from schemas.events import RequestEvent


def _event(i: int) -> RequestEvent:
    return RequestEvent(
        gateway_id="gw", request_id=f"r{i}", org_id="o", workspace_id="w", repo_id="r", repo_ai_api_key_id="k"
    )


async def test_events_of_one_iteration_share_one_commit_in_order(tmp_path: Path) -> None:
    bus = EventLogBus(tmp_path)
    await bus.start()
    calls: list[int] = []
    inner = bus.publish_many

    def counting(topic, items):  # noqa: ANN001, ANN202
        calls.append(len(items))
        return inner(topic, items)

    bus.publish_many = counting  # type: ignore[method-assign]
    try:
        em = GroupEmitter(bus)
        futs = [em.emit(topics.REQUESTS, "k", _event(i)) for i in range(5)]
        assert not any(f.done() for f in futs)  # nothing is claimed stored before the commit
        assert [await f for f in futs] == [True] * 5
        assert calls == [5]
        assert await em.emit(topics.REQUESTS, "k", _event(5)) is True
        assert calls == [5, 1]
        recs = bus.log.read(topics.REQUESTS, 0, 100)
        assert [RequestEvent.from_wire(r.value).request_id for r in recs] == [f"r{i}" for i in range(6)]
        assert [r.key for r in recs] == [b"k"] * 6
    finally:
        await bus.stop()


async def test_a_full_log_answers_false_for_the_whole_batch(tmp_path: Path) -> None:
    bus = EventLogBus(tmp_path, max_bytes=1_500)
    await bus.start()
    try:
        em = GroupEmitter(bus)
        answers = [await f for f in [em.emit(topics.REQUESTS, "k", _event(i)) for i in range(20)]]
        assert answers == [False] * 20 and not bus.accepting
        assert bus.log.read(topics.REQUESTS, 0, 100) == []  # all or none
    finally:
        await bus.stop()


def test_a_publisher_without_batching_is_called_directly() -> None:
    class Plain:
        def __init__(self) -> None:
            self.got: list[str] = []

        def emit(self, topic: str, key: str | None, event: RequestEvent) -> bool:
            self.got.append(event.request_id)
            return True

    p = Plain()
    assert GroupEmitter(p).emit(topics.REQUESTS, "k", _event(1)) is True and p.got == ["r1"]
