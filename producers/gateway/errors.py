"""OpenAI's error shape `{"error": {"message", "type", "param", "code"}}` with contract statuses.

Pure: builds bytes; never includes secrets or prompt text.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

# status -> OpenAI error `type`
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
}


@dataclass(slots=True)
class GatewayError(Exception):
    """An answer to the client in OpenAI's error shape (raised inside the request flow)."""

    status: int
    message: str
    code: str | None = None
    param: str | None = None
    type: str | None = None
    retry_after: int | None = None

    def body(self) -> bytes:
        return error_body(self.status, self.message, self.code, self.param, self.type)

    def __str__(self) -> str:  # pragma: no cover - debugging aid
        return f"{self.status} {self.code}: {self.message}"


def error_body(
    status: int,
    message: str,
    code: str | None = None,
    param: str | None = None,
    type_: str | None = None,
) -> bytes:
    return orjson.dumps(
        {
            "error": {
                "message": message,
                "type": type_ or _TYPES.get(status, "api_error"),
                "param": param,
                "code": code,
            }
        }
    )


def sse_error(status: int, message: str, code: str | None = None) -> bytes:
    """An error delivered inside an already-started stream (the OpenAI SDK raises on it)."""
    return b"data: " + error_body(status, message, code) + b"\n\n"
