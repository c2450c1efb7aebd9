"""Incremental Server-Sent Events splitting over raw byte slices (pure, never blocks).

httpx-sse decodes from an httpx response iterator; the translators get raw slices from the
gateway's transport instead, so this small decoder accepts bytes split anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Event:
    event: str
    data: str


class SSEDecoder:
    """feed(bytes) -> complete events; partial lines/events wait for more bytes."""

    def __init__(self) -> None:
        self._buf = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, raw: bytes) -> list[Event]:
        self._buf += raw
        out: list[Event] = []
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                break
            line = self._buf[:nl]
            self._buf = self._buf[nl + 1 :]
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data or self._event:
                    out.append(Event(self._event or "message", "\n".join(self._data)))
                self._event, self._data = "", []
                continue
            text = line.decode("utf-8", errors="replace")
            if text.startswith(":"):
                continue
            name, _, value = text.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
        return out

    def flush(self) -> list[Event]:
        """Dispatch a final event that lacked its blank line (stream ended)."""
        out = self.feed(b"\n\n") if (self._buf or self._data) else []
        self._buf = b""
        return out
