"""Validate a provider configuration with one real, read-only provider call (list models).

Two pure steps around one I/O step: `build_request` (URL + headers, SigV4 for Bedrock),
`validate` (the HTTP call, blocks up to the timeout), `interpret` (status/body -> verdict).
Messages say what the user can fix; they never echo the secret, the key or the provider's
response body (which may quote the credential back).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from core.endpoints import EndpointGuard, EndpointRefused
from schemas.enums import AiType

log = logging.getLogger("tollgate.api.validation")

ANTHROPIC_VERSION = "2023-06-01"
_MAX_BODY = 8 * 1024 * 1024  # a model list is far smaller; stop reading beyond this


@dataclass(frozen=True)
class ProviderTarget:
    """What validation needs from a configuration, secrets already unsealed."""

    ai_type: AiType
    endpoint: str
    secret: str
    key: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class ValidationResult:
    ok: bool
    message: str


def bedrock_endpoint(region: str | None) -> str:
    return f"https://bedrock.{region or 'us-east-1'}.amazonaws.com"


def build_request(t: ProviderTarget) -> tuple[str, dict[str, str]]:
    """(url, headers) of the provider's list-models call. Pure; SigV4-signs AWS requests."""
    base = (t.endpoint or "").rstrip("/")
    headers = {"accept": "application/json"}
    if t.ai_type in (AiType.OPENAI, AiType.OTHER):
        headers["authorization"] = f"Bearer {t.secret}"
        return f"{base}/models", headers
    if t.ai_type is AiType.ANTHROPIC:
        headers["x-api-key"] = t.secret
        headers["anthropic-version"] = ANTHROPIC_VERSION
        return f"{base}/v1/models", headers
    if t.ai_type is AiType.GOOGLE:
        headers["x-goog-api-key"] = t.secret
        return f"{base}/v1beta/models", headers
    if t.ai_type is AiType.AWS:
        url = f"{base or bedrock_endpoint(t.region)}/foundation-models"
        req = AWSRequest(method="GET", url=url, headers=dict(headers))
        SigV4Auth(Credentials(t.key or "", t.secret), "bedrock", t.region or "us-east-1").add_auth(req)
        return url, {k: v for k, v in req.headers.items()}
    raise ValueError(f"unsupported aiType {t.ai_type}")


_LIST_FIELD = {
    AiType.OPENAI: "data",
    AiType.OTHER: "data",
    AiType.ANTHROPIC: "data",
    AiType.GOOGLE: "models",
    AiType.AWS: "modelSummaries",
}


def _google_bad_key(body: bytes) -> bool:
    """Gemini answers a wrong key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID."""
    return b"API_KEY_INVALID" in body or b"API key not valid" in body


def interpret(ai_type: AiType, status: int, body: bytes) -> ValidationResult:
    """Turn the provider's answer into a verdict. Pure; never quotes the body."""
    if status in (401, 403) or (status == 400 and ai_type is AiType.GOOGLE and _google_bad_key(body)):
        what = "access key id / secret key" if ai_type is AiType.AWS else "secret (API key)"
        return ValidationResult(False, f"The provider rejected the credentials (HTTP {status}); check the {what}.")
    if status == 404:
        hint = {
            AiType.OPENAI: "OpenAI's endpoint includes /v1, e.g. https://api.openai.com/v1",
            AiType.OTHER: "it should be the OpenAI-compatible base URL that serves /models",
            AiType.ANTHROPIC: "use the provider base URL, e.g. https://api.anthropic.com",
            AiType.GOOGLE: "use the provider base URL, e.g. https://generativelanguage.googleapis.com",
            AiType.AWS: "use the Bedrock control-plane URL, e.g. https://bedrock.us-east-1.amazonaws.com",
        }[ai_type]
        return ValidationResult(
            False, f"The endpoint answered HTTP 404 for the model list; check the endpoint ({hint})."
        )
    if status == 429:
        return ValidationResult(False, "The provider rate-limited the validation call (HTTP 429); try again later.")
    if not 200 <= status < 300:
        return ValidationResult(False, f"The provider answered with unexpected HTTP status {status}.")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ValidationResult(
            False,
            "The endpoint answered with something that is not JSON; check that it is the provider's API base URL.",
        )
    models = doc.get(_LIST_FIELD[ai_type]) if isinstance(doc, dict) else None
    if not isinstance(models, list):
        return ValidationResult(
            False, "The endpoint answered JSON that is not a model list; check the endpoint and the aiType."
        )
    return ValidationResult(True, f"Configuration is valid: the provider lists {len(models)} models.")


def _where(url: str) -> str:
    """scheme://host[:port] only: safe to show (no path, no query)."""
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc.rpartition('@')[2]}"


async def validate(
    target: ProviderTarget,
    timeout_s: float,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    guard: EndpointGuard | None = None,
) -> ValidationResult:
    """Make the provider call and judge it. Blocks up to about `timeout_s`; never raises.

    The connection goes only where `guard` allows (default: public addresses), redirects are
    not followed, and every way of not getting an answer is one message ("not reachable"), so
    validation cannot be used to map a network.
    """
    try:
        url, headers = build_request(target)
    except Exception:  # noqa: BLE001 - never leak details of the credential
        return ValidationResult(False, "The configuration could not be turned into a provider request.")
    where = _where(url)
    unreachable = ValidationResult(
        False,
        f"The endpoint {where} is not reachable (no answer within {timeout_s:g} s, or the name, "
        "connection or TLS failed, or the address is not allowed); check the endpoint.",
    )
    guard = guard or EndpointGuard()
    try:
        guard.check_host(urlsplit(url).hostname or "")
        if transport is None:
            from core.guarded_net import guarded_httpx_transport

            transport = guarded_httpx_transport(guard)
        async with asyncio.timeout(timeout_s):
            async with httpx.AsyncClient(
                timeout=httpx.Timeout(timeout_s), follow_redirects=False, transport=transport, trust_env=False
            ) as client:
                async with client.stream("GET", url, headers=headers) as resp:
                    body = bytearray()
                    async for chunk in resp.aiter_bytes():
                        body += chunk
                        if len(body) > _MAX_BODY:
                            break
    except (httpx.TimeoutException, TimeoutError, httpx.ConnectError, EndpointRefused):
        return unreachable
    except httpx.HTTPError as exc:
        log.info("validation transport error: %s", type(exc).__name__)
        return unreachable
    except Exception as exc:  # noqa: BLE001 - e.g. invalid header characters in the secret
        log.info("validation error: %s", type(exc).__name__)
        return ValidationResult(
            False, "The provider request could not be sent; check the secret and key for invalid characters."
        )
    if 300 <= resp.status_code < 400:
        return ValidationResult(
            False,
            f"The endpoint {where} answered with a redirect (HTTP {resp.status_code}); "
            "redirects are not followed: use the final URL as the endpoint.",
        )
    return interpret(target.ai_type, resp.status_code, bytes(body))
