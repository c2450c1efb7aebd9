"""Attempts with fallback: one `attempt()` per configuration, the breaker as a context manager.

`Attempts.run` walks the route's candidates in fallback order (at most MAX_ATTEMPTS admitted by
their breakers). Each `attempt()` builds the provider request through the plan's surface, sends
it, and either answers the client (plain or through the streaming relay), returns a `Failure`
to fall back on (429/5xx/timeouts/connection errors), or raises the client's error. Every
admitted attempt ends its breaker trial: ok, failed, or released when it never reached the
provider. Awaits the network (non-blocking for the loop).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.scrub import ScrubbedStream, forms_of, scrub_bytes, scrub_text
from producers.gateway.asgi import Receive, Send, respond
from producers.gateway.breaker import CircuitBreakers, Trial
from producers.gateway.errors import GatewayError
from producers.gateway.events import RequestRecord
from producers.gateway.relay import relay
from producers.gateway.routing import Candidate
from producers.gateway.surfaces.base import Plan
from producers.gateway.transport import Transport, TransportError, UpstreamResponse
from producers.gateway.usage import estimate_prompt_tokens
from store.snapshot import ConfigEntry

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
_perf = time.perf_counter


@dataclass(slots=True)
class Failure:
    """An attempt worth falling back from."""

    status: int | None
    error_type: str
    retry_after: float | None
    message: str


def final_error(failures: list[Failure]) -> GatewayError:
    """All attempts failed (or none was admitted) -> 429 / 504 / 502."""
    if not failures:
        return GatewayError(
            502, "Every configuration for this model is temporarily unavailable (circuit open).", "upstream_unavailable"
        )
    if all(f.status == 429 for f in failures):
        ra = max((f.retry_after or 1.0) for f in failures)
        return GatewayError(
            429,
            "The provider rate-limited the request on every configuration tried.",
            "upstream_rate_limited",
            retry_after=int(max(1, round(ra))),
        )
    last = failures[-1]
    if last.error_type == "timeout":
        return GatewayError(504, "The provider did not answer in time (all fallbacks tried).", "upstream_timeout")
    return GatewayError(
        502, f"Upstream failure after {len(failures)} attempt(s): {last.message}"[:500], "upstream_error"
    )


def provider_fault(status: int) -> bool:
    """Whether an upstream error status is the provider's for sure (rate limit, overload,
    bad gateway, timeout); a plain 500 may come from the client's input."""
    return status in (429, 502, 503, 504)


def client_error(status: int, uerr: Any) -> GatewayError:
    """A non-retryable provider answer becomes the client's error (no fallback)."""
    if status in (401, 403):
        return GatewayError(502, "The provider rejected the configuration's credentials.", "upstream_auth_error")
    if status == 404:
        return GatewayError(404, uerr.message or "model not found at the provider", "model_not_found", "model")
    if 400 <= status < 500:
        return GatewayError(
            400 if status != 413 else 413,
            uerr.message or "the provider rejected the request",
            uerr.error_type or "invalid_request",
        )
    return GatewayError(502, uerr.message or "upstream error", "upstream_error")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        v = headers.get("retry-after")
        return float(v) if v is not None else None
    except (TypeError, ValueError):
        return None


def _unsendable(ai_type: str, exc: Exception) -> GatewayError:
    """A client request the adapter cannot translate for ``ai_type``: a 400, never retried."""
    return GatewayError(400, f"request cannot be sent to {ai_type}: {exc}"[:300], "invalid_request")


class Attempts:
    def __init__(self, transport: Transport, breakers: CircuitBreakers, timeout_s: float) -> None:
        self.transport = transport
        self.breakers = breakers
        self.timeout_s = timeout_s

    async def run(
        self, plan: Plan, candidates: list[Candidate], rec: RequestRecord, receive: Receive, send: Send, rid: bytes
    ) -> None:
        """Answer the client from the first configuration that works; raise the final error."""
        failures: list[Failure] = []
        admitted = 0
        for cfg, pm in candidates:
            if admitted >= MAX_ATTEMPTS:
                break
            trial = self.breakers.trial(cfg.ai_llm_id)
            if trial is None:
                continue
            admitted += 1
            with trial:
                failure = await self.attempt(trial, plan, cfg, pm, rec, receive, send, rid)
            if failure is None:
                return
            failures.append(failure)
        raise final_error(failures)

    async def attempt(
        self,
        trial: Trial,
        plan: Plan,
        cfg: ConfigEntry,
        pm: str,
        rec: RequestRecord,
        receive: Receive,
        send: Send,
        rid: bytes,
    ) -> Failure | None:
        """One try at one configuration: None when the client got its answer."""
        surface = plan.surface
        rec.prices = cfg.prices
        try:
            req = surface.request(plan, cfg, pm)
        except GatewayError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise _unsendable(cfg.ai_type, exc) from None
        except (AttributeError, IndexError, RecursionError) as exc:  # a field of the wrong shape
            raise _unsendable(
                cfg.ai_type, ValueError(f"a field has the wrong type or shape ({type(exc).__name__})")
            ) from None
        ta = _perf()
        try:
            if isinstance(req, list):
                up: Any = await self._fan_out(req)
            else:
                up = await (
                    self.transport.open_stream(req, self.timeout_s)
                    if plan.stream
                    else self.transport.request(req, self.timeout_s)
                )
        except TransportError as exc:
            trial.failed()
            rec.attempted(cfg.ai_llm_id, cfg.ai_type, pm, "error", None, exc.error_type, rec.waited(ta))
            return Failure(None, exc.error_type, None, str(exc))
        forms = forms_of(cfg)
        if up.status >= 400:
            raw = await self._drain(up) if plan.stream else up.body
            dt = rec.waited(ta)
            uerr = surface.upstream_error(cfg, up.status, raw, up.headers)
            uerr.message = scrub_text(uerr.message, forms) or ""
            uerr.error_type = scrub_text(uerr.error_type, forms) or "upstream_error"
            uerr.code = scrub_text(uerr.code, forms)
            rec.attempted(cfg.ai_llm_id, cfg.ai_type, pm, "error", up.status, uerr.error_type, dt)
            if uerr.retryable or up.status == 429 or up.status >= 500:
                if provider_fault(up.status):
                    trial.failed()
                else:
                    trial.ambiguous(rec.key.key_id)
                return Failure(up.status, uerr.error_type, uerr.retry_after or _retry_after(up.headers), uerr.message)
            trial.ok()
            raise client_error(up.status, uerr)
        if plan.stream:
            rec.waited(ta)
            pipe = surface.pipe(plan, cfg, rec.request_id)
            settled: list[str | None] = []

            def settle(err: str | None) -> None:
                """Complete the record (before the stream's final event: the event is logged then)."""
                settled.append(err)
                dt = (_perf() - ta) * 1000.0
                if err is not None:
                    trial.failed()
                    rec.attempted(cfg.ai_llm_id, cfg.ai_type, pm, "error", 200, err, dt)
                    rec.fail(502, "upstream_stream_error")
                else:
                    trial.ok()
                    rec.attempted(cfg.ai_llm_id, cfg.ai_type, pm, "ok", 200, None, dt)
                if pipe.usage is not None:
                    rec.used(pipe.usage)
                else:
                    rec.estimated(estimate_prompt_tokens(plan.chat), pipe.estimated_out())

            err = await relay(ScrubbedStream(up, forms) if forms else up, pipe, receive, send, rid, rec, settle)
            if not settled:
                settle(err)
            return None
        trial.ok()
        rec.attempted(cfg.ai_llm_id, cfg.ai_type, pm, "ok", up.status, None, rec.waited(ta))
        try:
            payload, usage = surface.answer(plan, cfg, up.body, rec.request_id)
        except Exception as exc:  # noqa: BLE001 - the provider sent something we cannot read
            log.warning("unreadable %s answer: %s", cfg.ai_type, type(exc).__name__)
            raise GatewayError(502, "The provider returned an unreadable answer.", "upstream_bad_response") from None
        if usage is not None:
            rec.used(usage)
        else:
            rec.estimated(estimate_prompt_tokens(plan.chat))
        rec.mark_first_byte()
        await respond(send, 200, scrub_bytes(payload, forms), rid, rec.mark_overhead())
        return None

    async def _fan_out(self, reqs: list[Any]) -> UpstreamResponse:
        """Several provider calls for one client call (a list input to a one-input provider),
        concurrently: the first refusal stands for all; else one answer whose body is the list
        of bodies, in order (the surface merges them)."""
        ups = await asyncio.gather(*(self.transport.request(r, self.timeout_s) for r in reqs), return_exceptions=True)
        for u in ups:
            if isinstance(u, BaseException):
                raise u
        for u in ups:
            if u.status >= 400:
                return u
        return UpstreamResponse(200, ups[0].headers, [u.body for u in ups])  # type: ignore[arg-type]

    @staticmethod
    async def _drain(stream: Any) -> bytes:
        """The error body of a stream the provider refused (empty if it broke off)."""
        try:
            return await stream.read_all()
        except TransportError:
            return b""
        finally:
            await stream.close()
