"""Policy consumer handler: request events in -> violations + decisions out (transport-neutral).

`PolicyHandler.handle(records, now)` decodes request records (invalid ones become dead letters,
never stopping the partition), feeds `PolicyWindows`, and returns what to publish:
violations to `tollgate.violations.v1` (key: policy id) and decisions to the compacted
`tollgate.decisions.v1` (key: subject). The transport (Kafka via FastStream or the in-process
bus) publishes them and commits offsets only after the publish was acknowledged. Policies come
from `set_policies` (the composition root loads them from the config store on epoch change).
Pure apart from the clock passed in; never blocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from policy.compiled import CompiledPolicy
from policy.windows import PolicyWindows
from schemas import topics
from schemas.events import DeadLetter, RequestEvent, WireModel
from schemas.records import Record


@dataclass
class PolicyOutput:
    messages: list[tuple[str, str, WireModel]] = field(default_factory=list)  # (topic, key, event)
    dead: list[DeadLetter] = field(default_factory=list)


class PolicyHandler:
    def __init__(self, policies: Iterable[CompiledPolicy] = (), **window_opts):
        self.windows = PolicyWindows(policies, **window_opts)

    def set_policies(self, policies: Iterable[CompiledPolicy]) -> None:
        self.windows.set_policies(policies)

    def handle(self, records: Sequence[Record], now: datetime) -> PolicyOutput:
        out = PolicyOutput()
        for rec in records:
            try:
                ev = RequestEvent.from_wire(rec.value)
            except (ValidationError, ValueError) as exc:
                reason = f"invalid request event: {type(exc).__name__}"
                out.dead.append(
                    DeadLetter(
                        topic=rec.topic,
                        partition=rec.partition,
                        offset=rec.offset,
                        reason=reason,
                        payload=rec.value.decode("utf-8", "replace")[:100_000],
                    )
                )
                continue
            res = self.windows.apply(ev)
            out.messages.extend((topics.VIOLATIONS, v.policy_id, v) for v in res.violations)
            out.messages.extend((topics.DECISIONS, d.subject, d) for d in res.decisions)
        out.messages.extend((topics.DECISIONS, d.subject, d) for d in self.windows.rollover(now))
        return out
