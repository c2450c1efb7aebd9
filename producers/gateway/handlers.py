"""The request flow, one business function for every surface:
auth -> plan (surface) -> route -> policy pre-check -> attempts with fallback -> event.

`Gateway` owns the long-lived parts (snapshot refresher, attempts over the transport and the
breakers, model-list cache, publisher, hooks). `handle` serves one request given the route
table's endpoint name and the raw ASGI triple. The response never waits for analytics: the
event is built from the request record and appended to the local event log
(`EventPublisher.emit`, durable, never waits for Kafka) just BEFORE the response's last byte
(`_EmitBeforeEnd`), so an answered request is never lost with the process. A gateway that
cannot log answers 503 rather than serve unmetered (at the start, and for a non-streamed
answer whose event could not be stored). Exactly one event per request that got past key
lookup, whatever happens (finally-block semantics, client disconnects included).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import Any

import orjson
import uuid_utils

from policy.limits import TokenLimitError, token_limit
from producers.gateway import families
from producers.gateway.asgi import Receive, Send, parse_json, read_body, respond
from producers.gateway.attempts import Attempts
from producers.gateway.breaker import CircuitBreakers
from producers.gateway.emitter import GroupEmitter
from producers.gateway.errors import GatewayError
from producers.gateway.events import RequestRecord, build_event
from producers.gateway.hooks import NoPolicies, PolicyHooks, RequestContext
from producers.gateway.lastused import LastUsedWriter
from producers.gateway.models_cache import ModelCache
from producers.gateway.routing import Candidate, resolve, union_models
from producers.gateway.surfaces import SURFACES, Plan, Surface
from producers.gateway.surfaces.chat import CHAT
from producers.gateway.transport import Transport
from schemas import topics
from store.apikeys import hash_secret
from store.refresher import SnapshotRefresher
from store.snapshot import KeyEntry

log = logging.getLogger(__name__)


class Gateway:
    def __init__(
        self,
        refresher: SnapshotRefresher,
        transport: Transport,
        publisher: Any,
        *,
        gateway_id: str,
        upstream_timeout_s: float = 120.0,
        max_body_bytes: int = 8 * 1024 * 1024,
        breakers: CircuitBreakers | None = None,
        hooks: PolicyHooks | None = None,
        last_used: LastUsedWriter | None = None,
        model_cache: ModelCache | None = None,
    ) -> None:
        self.refresher = refresher
        self.transport = transport
        self.publisher = publisher
        self.events = GroupEmitter(publisher)  # request events: one log commit per loop iteration
        self.gateway_id = gateway_id
        self.upstream_timeout_s = upstream_timeout_s
        self.max_body_bytes = max_body_bytes
        self.breakers = breakers or CircuitBreakers()
        self.attempts = Attempts(transport, self.breakers, upstream_timeout_s)
        self.hooks: PolicyHooks = hooks or NoPolicies()
        self.last_used = last_used
        self.models = model_cache or ModelCache(transport, timeout_s=min(upstream_timeout_s, 10.0))

    def authenticate(self, scope: dict) -> KeyEntry | None:
        """Repository key (`Authorization: Bearer` or Anthropic's `x-api-key`) -> live key from
        the in-memory snapshot (no I/O)."""
        secret: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                parts = value.split(None, 1)
                if len(parts) == 2 and parts[0].lower() == b"bearer":
                    secret = parts[1].strip()
                    break
            elif name == b"x-api-key" and secret is None:
                secret = value.strip()
        if not secret:
            return None
        try:
            return self.refresher.snapshot.keys_by_hash.get(hash_secret(secret.decode()))
        except UnicodeDecodeError:
            return None

    async def respond_error(
        self, send: Send, surface: Surface, err: GatewayError, rid: bytes, overhead_ms: float | None = None
    ) -> None:
        extra = None
        if err.retry_after is not None:
            extra = [(b"retry-after", str(max(int(err.retry_after), 1)).encode())]
        await respond(send, err.status, surface.error_body(err), rid, overhead_ms, extra)

    def emit(self, rec: RequestRecord, ctx: RequestContext | None) -> bool | asyncio.Future:
        """Build the request's one event and append it to the log (never blocks on Kafka, never
        raises). False when the log refused it (full, closed, disk error); a future of that
        answer when the append is batched with this loop iteration's others."""
        try:
            event = build_event(rec, self.gateway_id)
        except Exception:  # noqa: BLE001 - a bug here must not hurt the caller
            log.exception("could not build request event %s", rec.request_id)
            return True
        if ctx is not None:
            try:
                self.hooks.post_usage(ctx, event)
            except Exception:  # noqa: BLE001
                log.exception("post_usage hook failed")
        stored: Any = True
        try:
            stored = self.events.emit(topics.REQUESTS, rec.key.key_id, event)
        except Exception:  # noqa: BLE001 - contract says emit never raises; be safe anyway
            log.exception("publisher.emit raised")
            stored = False
        if self.last_used is not None:
            self.last_used.mark(rec.key.key_id, rec.started_wall)
        if isinstance(stored, asyncio.Future):
            return stored
        return stored is not False

    async def handle(self, endpoint: str, scope: dict, receive: Receive, send: Send) -> None:
        """Serve one /v1 request. Never raises to the server; always answers."""
        rid_s = str(uuid_utils.uuid4())
        rid = rid_s.encode()
        surface = SURFACES.get(endpoint, CHAT)
        key = self.authenticate(scope)
        if key is None and await self.refresher.catch_up():  # a key created a moment ago
            key = self.authenticate(scope)
        if key is None:
            await self.respond_error(
                send,
                surface,
                GatewayError(
                    401,
                    "Invalid API key. Send the repository AI API key as 'Authorization: Bearer <key>' "
                    "(or 'x-api-key: <key>').",
                    "invalid_api_key",
                ),
                rid,
            )
            return
        if not getattr(self.publisher, "accepting", True):
            await self.respond_error(send, surface, LOG_UNAVAILABLE, rid)
            return
        named = "models" if endpoint in ("models", "models.get") else surface.name
        rec = RequestRecord(request_id=rid_s, key=key, endpoint=named, started_wall=time.time())
        ctx: RequestContext | None = None
        emitted: list[bool] = []

        def emit_now() -> bool | asyncio.Future:
            emitted.append(True)
            rec.finish()
            return self.emit(rec, ctx)

        async def refuse(raw_send: Send) -> None:
            await self.respond_error(raw_send, surface, LOG_UNAVAILABLE, rid)

        send = _EmitBeforeEnd(send, emit_now, refuse)
        try:
            if key.repo.disabled:
                raise GatewayError(403, "This repository is disabled.", "repository_disabled")
            if endpoint in ("models", "models.get"):
                await self._models(key, scope, send, rid, rec)
                return
            plan = plan_request(surface, parse_json(await read_body(receive, self.max_body_bytes)))
            check_token_limit(plan)
            if surface.forward_headers:
                plan.headers = header_values(scope, surface.forward_headers)
            rec.model, rec.stream = plan.model, plan.stream
            rec.user_id, rec.conversation_id = plan.user_id, plan.conversation_id
            ctx = RequestContext(
                request_id=rid_s,
                key=key,
                snapshot=self.refresher.snapshot,
                endpoint=named,
                model=plan.model,
                stream=plan.stream,
                user_id=plan.user_id,
                conversation_id=plan.conversation_id,
            )
            candidates = self._route(key, plan.model)
            ctx.extra["ai_llm_id"], ctx.extra["ai_type"] = candidates[0][0].ai_llm_id, candidates[0][0].ai_type
            ctx.extra["provider_model"] = candidates[0][1]
            if surface.policed:
                await self._precheck(ctx, plan, rec)
            else:
                ctx = None  # nothing to settle afterwards
            served = surface.narrow(candidates)
            if not served:
                await self._local(plan, candidates[0], rec, send, rid)
                return
            await self.attempts.run(plan, served, rec, receive, send, rid)
        except GatewayError as err:
            if rec.status == "ok":
                rec.fail(err.status, err.code or "error")
            await self.respond_error(send, surface, err, rid, rec.mark_overhead())
        except Exception:  # noqa: BLE001 - never a 500 without an event; never leak details
            log.exception("gateway request %s failed", rid_s)
            rec.fail(500, "internal_error")
            try:
                await self.respond_error(
                    send, surface, GatewayError(500, "internal gateway error", "internal_error"), rid
                )
            except Exception:  # noqa: BLE001
                pass
        finally:
            if not emitted:  # no final byte was sent (client gone, or nothing answered)
                emit_now()

    def _route(self, key: KeyEntry, model: str) -> list[Candidate]:
        cands = resolve(key.repo, model, self.models.known, families.serves)
        if not cands:
            raise GatewayError(
                404,
                f"The model '{model}' is not served by any configuration of this repository.",
                "model_not_found",
                "model",
            )
        return cands

    async def _precheck(self, ctx: RequestContext, plan: Plan, rec: RequestRecord) -> None:
        """Policies see the request as a chat/embeddings body, whatever the surface."""
        block = self.hooks.precheck(ctx, plan.chat)
        if block is not None and inspect.isawaitable(block):
            block = await block  # a blocking natural-language policy is judged before forwarding
        rec.policy_ids = ctx.policy_ids
        if block is not None:
            # a refused request counts on the configuration it would have used
            rec.ai_llm_id, rec.ai_type = ctx.extra.get("ai_llm_id"), ctx.extra.get("ai_type")
            rec.fail(block.status, block.code, "blocked")
            raise GatewayError(
                block.status,
                block.message,
                block.code,
                retry_after=block.retry_after_s if block.status == 429 else None,
            )

    async def _local(self, plan: Plan, first: Candidate, rec: RequestRecord, send: Send, rid: bytes) -> None:
        """A call no candidate serves natively, answered by the surface itself (no provider)."""
        cfg, pm = first
        rec.ai_llm_id, rec.ai_type, rec.provider_model = cfg.ai_llm_id, cfg.ai_type, pm
        rec.estimated(0)
        try:
            payload = plan.surface.local_answer(plan)
        except _MALFORMED as exc:
            log.info("malformed %s request: %s", plan.surface.name, type(exc).__name__)
            raise GatewayError(
                400,
                "The request body is malformed for this endpoint (a field has the wrong type or shape).",
                "invalid_request",
            ) from None
        rec.mark_first_byte()
        await respond(send, 200, payload, rid, rec.mark_overhead())

    async def _models(self, key: KeyEntry, scope: dict, send: Send, rid: bytes, rec: RequestRecord) -> None:
        """`GET /v1/models` and `/v1/models/{id}`; Anthropic's shapes when `anthropic-version` is sent."""
        configs = key.repo.configs
        ta = time.perf_counter()
        lists = await asyncio.gather(*(self.models.get(c) for c in configs))
        rec.waited(ta)
        owners: dict[str, str] = {}
        for c, lst in zip(configs, lists):
            for m in lst:
                owners.setdefault(m, c.ai_type.lower())
        ids = union_models(lists)
        anthropic = bool(header_values(scope, ("anthropic-version",)))
        wanted = scope.get("tollgate.model_id")
        if wanted is not None:
            if wanted not in owners:
                cands = resolve(key.repo, wanted, self.models.known, families.serves)
                if not cands:
                    raise GatewayError(
                        404,
                        f"The model '{wanted}' is not served by any configuration of this repository.",
                        "model_not_found",
                        "model",
                    )
                owners[wanted] = cands[0][0].ai_type.lower()
            rec.model = wanted
            payload = model_entry(wanted, owners[wanted], anthropic)
        elif anthropic:
            data = [model_entry(m, owners[m], True) for m in ids]
            payload = {
                "data": data,
                "has_more": False,
                "first_id": ids[0] if ids else None,
                "last_id": ids[-1] if ids else None,
            }
        else:
            payload = {"object": "list", "data": [model_entry(m, owners[m], False) for m in ids]}
        await respond(send, 200, orjson.dumps(payload), rid, rec.mark_overhead())


_MALFORMED = (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError)


def plan_request(surface: Surface, body: dict[str, Any]) -> Plan:
    """The surface's plan; planning reads only the client's body, so whatever it trips over is
    the client's malformed input: a 400 in the surface's shape, never a 500."""
    try:
        return surface.plan(body)
    except GatewayError:
        raise
    except _MALFORMED as exc:
        log.info("malformed %s request: %s", surface.name, type(exc).__name__)
        raise GatewayError(
            400,
            "The request body is malformed for this endpoint (a field has the wrong type or shape).",
            "invalid_request",
        ) from None


def check_token_limit(plan: Plan) -> None:
    """400 unless the request's output-token limit is a plain integer (policies and budget
    reservations read the same value, so no spelling slips past them)."""
    try:
        token_limit(plan.chat)
    except TokenLimitError as exc:
        param = exc.param
        if plan.surface.name == "responses" and param == "max_tokens":
            param = "max_output_tokens"
        raise GatewayError(400, exc.message.replace(exc.param, param), "invalid_request", param) from None


LOG_UNAVAILABLE = GatewayError(
    503,
    "The gateway cannot record usage right now (its event log is full or unavailable); retry later.",
    "event_log_unavailable",
)


class _EmitBeforeEnd:
    """ASGI `send` wrapper: the request's event is logged just before the response's last byte.

    A non-SSE response start is held until its final body, so when the event cannot be stored
    the caller gets a 503 instead (`refuse`); an SSE stream (already started) ends without its
    final event instead."""

    __slots__ = ("send", "emit_now", "refuse", "held", "done")

    def __init__(self, send: Send, emit_now: Any, refuse: Any) -> None:
        self.send, self.emit_now, self.refuse = send, emit_now, refuse
        self.held: dict | None = None
        self.done = False

    async def __call__(self, msg: dict) -> None:
        kind = msg["type"]
        if kind == "http.response.start" and not _is_sse(msg):
            self.held = msg
            return
        if kind == "http.response.body" and not msg.get("more_body", False) and not self.done:
            self.done = True
            stored = self.emit_now()
            if not isinstance(stored, bool):
                stored = await stored  # the batched append: committed before the last byte
            if not stored:
                if self.held is not None:
                    self.held = None
                    await self.refuse(self.send)
                    return
                msg = {"type": "http.response.body", "body": b"", "more_body": False}
        if self.held is not None:
            held, self.held = self.held, None
            await self.send(held)
        await self.send(msg)


def _is_sse(start: dict) -> bool:
    return any(k == b"content-type" and v.startswith(b"text/event-stream") for k, v in start.get("headers", ()))


def model_entry(model_id: str, owner: str, anthropic: bool) -> dict[str, Any]:
    if anthropic:
        return {"type": "model", "id": model_id, "display_name": model_id, "created_at": "1970-01-01T00:00:00Z"}
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner}


def header_values(scope: dict, names: tuple[str, ...]) -> dict[str, str]:
    """The named request headers (lower-case names), when present."""
    wanted = {n.encode() for n in names}
    return {k.decode(): v.decode("latin-1") for k, v in scope["headers"] if k in wanted}
