"""HTTP/1.1 limits uvicorn's httptools protocol lacks: header size, slow headers and bodies.

`GuardedHttpTools` is uvicorn's httptools protocol plus:
- request head (request line + headers) larger than `max_header_bytes` -> 431, connection
  closed, counted on the raw bytes before they are buffered whole;
- a request head not complete `header_timeout_s` after its first byte (or after the connection
  opened) -> 408, closed (slowloris, and connections that never send anything);
- a body not complete `body_timeout_s` after its head -> 408 (if nothing was answered yet), closed.
Idle keep-alive connections are closed by uvicorn's `timeout_keep_alive`; too many
connections get uvicorn's 503 (`limit_concurrency`). `uvicorn_options(settings)` gives all of
it to `uvicorn.Config` (used by `serve` and by the test servers).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_END = b"\r\n\r\n"


def _refusal(status: int, reason: str, message: str) -> bytes:
    body = (
        '{"error":{"message":"%s","type":"invalid_request_error","code":"%s"}}'  # noqa: UP031 - JSON braces
        % (message, reason.lower().replace(" ", "_"))
    ).encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    ).encode() + body


def make_protocol(max_header_bytes: int, header_timeout_s: float, body_timeout_s: float) -> type:
    """A GuardedHttpTools class bound to these limits (uvicorn instantiates it per connection)."""

    class GuardedHttpTools(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._in_head = True
            self._head_bytes = 0
            self._tail = b""
            self._timer = None

        # -- timers
        def _arm(self, seconds: float, status: int, reason: str, message: str) -> None:
            self._disarm()
            self._timer = self.loop.call_later(seconds, self._expire, status, reason, message)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _expire(self, status: int, reason: str, message: str) -> None:
            self._timer = None
            if self.transport.is_closing():
                return
            if self.cycle is None or not self.cycle.response_started:
                self.transport.write(_refusal(status, reason, message))
            self.transport.close()

        # -- protocol
        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm(header_timeout_s, 408, "Request Timeout", "request headers not received in time")

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._in_head:
                if self._timer is None:
                    self._arm(header_timeout_s, 408, "Request Timeout", "request headers not received in time")
                seen = self._tail + data
                end = seen.find(_END)
                if end < 0:
                    self._head_bytes += len(data)
                    self._tail = seen[-3:]
                else:
                    self._head_bytes += end + len(_END) - len(self._tail)
                if self._head_bytes > max_header_bytes:
                    self._disarm()
                    self.transport.write(
                        _refusal(
                            431,
                            "Request Header Fields Too Large",
                            f"request headers larger than {max_header_bytes} bytes",
                        )
                    )
                    self.transport.close()
                    return
                if end >= 0:
                    self._in_head = False
                    self._tail = b""
                    self._arm(body_timeout_s, 408, "Request Timeout", "request body not received in time")
            super().data_received(data)

        def on_message_complete(self) -> None:
            self._disarm()
            self._in_head = True
            self._head_bytes = 0
            self._tail = b""
            super().on_message_complete()

    return GuardedHttpTools


def uvicorn_options(settings: Any) -> dict[str, Any]:
    """uvicorn.Config keyword arguments for the HTTP limits in `settings`."""
    return {
        "http": make_protocol(settings.max_header_bytes, settings.header_timeout_s, settings.body_timeout_s),
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "limit_concurrency": settings.max_connections,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
    }
