"""Request/response models for AI LLM configurations, repositories and their API keys.

Wire names are camelCase (contract); Python names are snake_case. Request models ignore
unknown fields (clients of the original API send extras) but reject wrong types, unknown
enum values and malformed ids with a 400 (see `api.errors`). Pure: no I/O here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from schemas.enums import AiType


def iso_utc(value: datetime | None) -> str | None:
    """ISO-8601 UTC with milliseconds and `Z`, e.g. `2024-01-15T10:30:00.000Z`."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def is_uuid(value: str | None) -> bool:
    if not value:
        return False
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def _uuid_str(value: str) -> str:
    if not is_uuid(value):
        raise ValueError("must be a UUID")
    return str(uuid.UUID(value))


def normalize_endpoint(value: str) -> str:
    """An http(s) base URL without trailing `/`, credentials, query or fragment.

    Raises ValueError with a message a user can act on (the value is not secret, but a URL
    with user:password@ would be, so it is refused rather than echoed).
    """
    raw = value.strip()
    try:
        parts = urlsplit(raw)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        raise ValueError("endpoint must be an http(s) URL, e.g. https://api.openai.com/v1") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("endpoint must be an http(s) URL, e.g. https://api.openai.com/v1")
    if parts.username is not None or parts.password is not None:
        raise ValueError("endpoint must not contain credentials; put them in secret/key")
    if parts.query or parts.fragment:
        raise ValueError("endpoint must not contain a query string or fragment")
    return raw.rstrip("/")


Uuid = Annotated[str, AfterValidator(_uuid_str)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Secret = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8192)]
Region = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64, pattern=r"^[a-z0-9-]*$")]


class _In(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


# ---- AI LLM configurations ----------------------------------------------------------------


class AiLlmCreate(_In):
    name: Name
    ai_type: AiType
    endpoint: Annotated[str, StringConstraints(max_length=2048)] = ""
    secret: Secret
    key: Annotated[str, StringConstraints(strip_whitespace=True, max_length=8192)] | None = None
    workspace_id: Uuid
    region: Region | None = None
    prices: dict[str, dict[str, Any]] | None = Field(
        default=None,
        description="Price overrides: model glob -> {input, cachedInput, cacheWrite, output, "
        "reasoning} as decimal strings in USD per 1M tokens (input and output required), and optionally "
        "maxOutputTokens (the model's output cap, what a budget reserves without max_tokens)",
    )


class AiLlmUpdate(_In):
    name: Name | None = None
    ai_type: AiType | None = None
    endpoint: Annotated[str, StringConstraints(max_length=2048)] | None = None
    secret: Secret | None = None
    key: Annotated[str, StringConstraints(strip_whitespace=True, max_length=8192)] | None = None
    region: Region | None = None
    prices: dict[str, dict[str, Any]] | None = Field(
        default=None, description="Price overrides (replace the stored ones; {} or null clears them)"
    )


# ---- Repositories ---------------------------------------------------------------------------


class RepoAiLlmRef(_In):
    ai_llm_id: Uuid


class RepoCreate(_In):
    name: Name
    workspace_id: Uuid
    repo_ai_llms: list[RepoAiLlmRef] = Field(default_factory=list, max_length=32)


class RepoUpdate(_In):
    name: Name | None = None
    repo_ai_llms: list[RepoAiLlmRef] | None = Field(default=None, max_length=32)
    disabled: bool | None = None


# ---- Repository AI API keys ------------------------------------------------------------------


class ApiKeyCreate(_In):
    name: Name
    ai_type: AiType


class ApiKeyUpdate(_In):
    name: Name
