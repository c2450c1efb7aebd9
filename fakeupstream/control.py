"""Fault injection and request counting, shared by tests (in-process) and `/_control` (HTTP).

Thread-safe: the fake usually runs in a background thread while tests drive it.
Families are named "openai", "anthropic", "google", "bedrock".
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

FAMILIES = ("openai", "anthropic", "google", "bedrock")


@dataclass
class Fault:
    """One armed fault: applies to the next `count` matching requests.

    kind: "status" (answer `status` in the family's error shape, `retry_after` seconds header
    when given), "hang" (sleep `seconds` before answering normally), "drop" (send headers and
    `after_chunks` stream chunks / part of the body, then cut the connection).
    """

    kind: str
    count: int = 1
    family: str | None = None
    model: str | None = None
    status: int = 500
    retry_after: float | None = None
    seconds: float = 0.0
    after_chunks: int = 0
    message: str | None = None

    def matches(self, family: str, model: str | None) -> bool:
        if self.family is not None and self.family != family:
            return False
        if self.model is not None and self.model != model:
            return False
        return True


@dataclass
class Control:
    """Test-facing switchboard of the fake (see `Fault`)."""

    latency_s: float = 0.0
    latency_by_family: dict[str, float] = field(default_factory=dict)
    _faults: list[Fault] = field(default_factory=list)
    _counts: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    last_requests: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- arming ---------------------------------------------------------------------------
    def fail(
        self,
        status: int,
        count: int = 1,
        *,
        family: str | None = None,
        model: str | None = None,
        retry_after: float | None = None,
        message: str | None = None,
    ) -> Fault:
        """Next `count` matching requests answer `status` in the family's error shape."""
        if status == 429 and retry_after is None:
            retry_after = 1
        return self._arm(Fault("status", count, family, model, status=status, retry_after=retry_after, message=message))

    def hang(self, seconds: float, count: int = 1, *, family: str | None = None, model: str | None = None) -> Fault:
        """Next `count` matching requests wait `seconds` before answering."""
        return self._arm(Fault("hang", count, family, model, seconds=seconds))

    def drop(
        self, after_chunks: int = 0, count: int = 1, *, family: str | None = None, model: str | None = None
    ) -> Fault:
        """Next `count` matching requests lose their connection after `after_chunks` chunks."""
        return self._arm(Fault("drop", count, family, model, after_chunks=after_chunks))

    def set_latency(self, seconds: float, family: str | None = None) -> None:
        """Artificial latency before every (matching) answer."""
        with self._lock:
            if family is None:
                self.latency_s = seconds
            else:
                self.latency_by_family[family] = seconds

    def reset(self) -> None:
        """Disarm all faults, zero latency and counters."""
        with self._lock:
            self._faults.clear()
            self._counts.clear()
            self.latency_s = 0.0
            self.latency_by_family.clear()
            self.last_requests.clear()

    def _arm(self, fault: Fault) -> Fault:
        if fault.count < 1:
            raise ValueError("count must be >= 1")
        with self._lock:
            self._faults.append(fault)
        return fault

    # -- used by the server ---------------------------------------------------------------
    def record(self, path: str, family: str, body: dict[str, Any] | None = None) -> None:
        with self._lock:
            self._counts[path] += 1
            self._counts[f"family:{family}"] += 1
            if body is not None:
                self.last_requests[family] = body

    def take(self, family: str, model: str | None) -> Fault | None:
        """Consume one use of the first fault matching this request, if any."""
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.matches(family, model):
                    fault.count -= 1
                    if fault.count <= 0:
                        del self._faults[i]
                    return fault
        return None

    def latency_for(self, family: str) -> float:
        return self.latency_by_family.get(family, self.latency_s)

    # -- assertions -----------------------------------------------------------------------
    def count(self, path: str | None = None, *, family: str | None = None) -> int:
        """Requests seen on an exact path, or for a family, or in total."""
        with self._lock:
            if family is not None:
                return self._counts[f"family:{family}"]
            if path is not None:
                return self._counts[path]
            return sum(v for k, v in self._counts.items() if k.startswith("family:"))

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    # -- HTTP control endpoint ------------------------------------------------------------
    def apply(self, command: dict[str, Any]) -> dict[str, Any]:
        """Run one `/_control` command: {"action": fail|hang|drop|latency|reset, ...}."""
        action = command.get("action")
        opts = {k: command[k] for k in ("count", "family", "model") if k in command}
        if action == "fail":
            self.fail(
                int(command["status"]), retry_after=command.get("retry_after"), message=command.get("message"), **opts
            )
        elif action == "hang":
            self.hang(float(command["seconds"]), **opts)
        elif action == "drop":
            self.drop(int(command.get("after_chunks", 0)), **opts)
        elif action == "latency":
            self.set_latency(float(command["seconds"]), command.get("family"))
        elif action == "reset":
            self.reset()
        else:
            raise ValueError(f"unknown action {action!r}")
        return {"ok": True, "pending": self.pending()}
