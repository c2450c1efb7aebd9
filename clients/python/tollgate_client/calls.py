"""Pure: each management API operation as a `Call` (method, path, body, query), shared by the
sync and the async client so both say the same thing; no I/O here."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

R = TypeVar("R")
QueryValue = str | int | bool | datetime | Sequence[str] | None


@dataclass(frozen=True)
class Call(Generic[R]):
    """One HTTP call whose JSON answer is an `R`."""

    method: str
    path: str
    body: Any = None
    params: dict[str, str] = field(default_factory=dict)
    pick: Callable[[Any], R] | None = None  # turns the JSON answer into R (may raise TollgateError)


def seg(value: str) -> str:
    """A path segment, escaped (ids come from callers)."""
    return quote(str(value), safe="")


def query(values: Mapping[str, QueryValue]) -> dict[str, str]:
    """Query parameters as the server reads them: lists comma-joined, datetimes ISO 8601,
    booleans lower-case, None and empty lists left out."""
    out: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, datetime):
            out[name] = value.isoformat()
        elif isinstance(value, (list, tuple)):
            if value:
                out[name] = ",".join(value)
        else:
            out[name] = str(value)
    return out
