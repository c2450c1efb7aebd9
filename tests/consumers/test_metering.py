"""Pure processor: records in, rows and dead letters out (no ClickHouse, no Kafka)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from consumers.metering import MeteringHandler, predecode, records_to_rows
from schemas import topics
from schemas.events import Attempt, RequestEvent, ViolationEvent
from schemas.records import Record
from warehouse.tables import REQUEST_COLUMNS, VIOLATION_COLUMNS


def _req(**kw) -> RequestEvent:
    base = dict(
        gateway_id="gw-1",
        request_id="r1",
        org_id="o1",
        workspace_id="w1",
        repo_id="repo1",
        repo_ai_api_key_id="k1",
        ai_llm_id="llm1",
        ai_type="OPENAI",
        model="gpt-4o",
        provider_model="gpt-4o-2024",
        tokens_in=12,
        tokens_out=7,
        latency_ms=250.5,
        occurred_at=datetime(2024, 1, 15, 10, 30, 5, tzinfo=UTC),
        attempts=[
            Attempt(
                ai_llm_id="llmA", ai_type="OPENAI", provider_model="m", status="error", http_status=503, latency_ms=20
            ),
            Attempt(
                ai_llm_id="llm1", ai_type="OPENAI", provider_model="m", status="ok", http_status=200, latency_ms=230
            ),
        ],
    )
    base.update(kw)
    return RequestEvent(**base)


def rec(value: bytes, topic=topics.REQUESTS, partition=2, offset=41) -> Record:
    return Record(topic, partition, offset, b"k1", value, 0)


def test_request_event_becomes_one_row_with_kafka_position():
    ev = _req()
    reqs, viols, dead = records_to_rows([rec(ev.to_wire())])
    assert viols == [] and dead == []
    row = dict(zip(REQUEST_COLUMNS, reqs[0]))
    assert row["event_id"] == ev.event_id
    assert row["occurred_at"] == datetime(2024, 1, 15, 10, 30, 5, tzinfo=UTC)
    assert (row["workspace_id"], row["ai_llm_id"], row["model"]) == ("w1", "llm1", "gpt-4o")
    assert (row["tokens_in"], row["tokens_out"], row["latency_ms"]) == (12, 7, 250.5)
    assert row["attempt_count"] == 2 and row["attempt_statuses"] == ["error", "ok"]
    assert row["attempt_http_statuses"] == [503, 200]
    assert (row["kafka_topic"], row["kafka_partition"], row["kafka_offset"]) == (topics.REQUESTS, 2, 41)
    assert row["ai_type"] == "OPENAI" and row["user_id"] == "" and row["ttft_ms"] is None


def test_violation_event_row():
    v = ViolationEvent(
        policy_id="p1",
        policy_name="No PII",
        org_id="o1",
        workspace_id="w1",
        ai_llm_id="llm1",
        severity="HIGH",
        action_type=2,
        block=True,
        llm_tokens_in=30,
        llm_tokens_out=4,
        gateway_id="gw-9",
    )
    reqs, viols, dead = records_to_rows([rec(v.to_wire(), topic=topics.VIOLATIONS)])
    assert reqs == [] and dead == []
    row = dict(zip(VIOLATION_COLUMNS, viols[0]))
    assert (row["severity"], row["action_type"], row["block"]) == ("HIGH", 2, True)
    assert (row["llm_tokens_in"], row["llm_tokens_out"], row["gateway_id"]) == (30, 4, "gw-9")
    assert row["repo_id"] == ""


def test_malformed_records_become_dead_letters_and_the_rest_is_kept():
    good = _req().to_wire()
    bad_json = b"{not json"
    missing = json.dumps({"eventId": "x"}).encode()
    bad_uuid = _req(event_id="not-a-uuid").to_wire()
    too_big = _req(tokens_in=2**40).to_wire()
    old = _req(occurred_at=datetime(1900, 1, 1, tzinfo=UTC)).to_wire()
    naive = json.loads(good)
    naive["occurredAt"] = "2024-01-01T00:00:00"
    recs = [
        rec(good, offset=1),
        rec(bad_json, offset=2),
        rec(missing, offset=3),
        rec(bad_uuid, offset=4),
        rec(too_big, offset=5),
        rec(old, offset=6),
        rec(json.dumps(naive).encode(), offset=7),
        rec(good, topic="other.topic", offset=8),
        rec(good, offset=9),
    ]
    reqs, viols, dead = records_to_rows(recs)
    assert [r[REQUEST_COLUMNS.index("kafka_offset")] for r in reqs] == [1, 9]
    assert [d.offset for d in dead] == [2, 3, 4, 5, 6, 7, 8]
    reasons = {d.offset: d.reason for d in dead}
    assert "gatewayId" in reasons[3] and "eventId is not a UUID" in reasons[4]
    assert "tokensIn is out of range" in reasons[5] and "occurredAt" in reasons[6]
    assert "not metered" in reasons[8]
    assert dead[0].payload == "{not json" and dead[0].topic == topics.REQUESTS and dead[0].partition == 2


def test_topic_kinds_mapping():
    reqs, _, dead = records_to_rows([rec(_req().to_wire(), topic="t.x")], {"t.x": "requests"})
    assert len(reqs) == 1 and dead == []


class _LoggedWarehouse:
    """No ClickHouse: the ingest log says slice [10, 19] may be partly applied."""

    def __init__(self) -> None:
        self.inserted: list[tuple[int, str]] = []

    async def insert_requests(self, rows, dedup_token):
        self.inserted.append((len(rows), dedup_token))

    async def insert_violations(self, rows, dedup_token):
        self.inserted.append((len(rows), dedup_token))

    async def write_intent(self, topic, partition, first, last, token):
        pass

    async def load_intents(self, topic, partition):
        return (10, 19, "logged")


async def test_logged_slice_whose_records_are_gone_does_not_stop_the_partition():
    """Redelivery starts past the logged slice (its records were compacted or committed): the
    empty replay inserts nothing and the newer records are inserted under their own token."""
    wh = _LoggedWarehouse()
    h = MeteringHandler(wh)
    recs = [rec(_req(request_id=f"r{i}").to_wire(), partition=0, offset=i) for i in range(20, 25)]
    assert await h.handle(recs, decoded=await predecode(recs)) == {(topics.REQUESTS, 0): 25}
    assert wh.inserted == [(5, f"{topics.REQUESTS}:0:20-24")]
