"""The one error type of the client."""

from __future__ import annotations

from typing import Any


class TollgateError(Exception):
    """A non-2xx answer: `status` and the parsed `body` (`{success: False, message}` from Tollgate)."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        message = body.get("message") if isinstance(body, dict) else None
        super().__init__(f"HTTP {status}: {message or body!r}")

    @property
    def message(self) -> str | None:
        return self.body.get("message") if isinstance(self.body, dict) else None
