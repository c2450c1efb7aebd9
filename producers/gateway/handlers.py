"""The request flow: auth -> parse -> route -> pre-check -> attempts with fallback -> respond -> event.

`Gateway` owns the long-lived parts (snapshot refresher, transport, breakers, model-list cache,
publisher, hooks) and exposes one coroutine per endpoint taking the raw ASGI triple. The
response never waits for analytics: the event is emitted after the last byte was sent, through
`EventPublisher.emit` which never blocks or raises. Exactly one event per request that got
past key lookup, whatever happens (finally-block semantics, client disconnects included).
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import Any, Awaitable, Callable

import orjson
import uuid_utils

from producers.adapters.base import Usage
from producers.gateway import families
from producers.gateway.breaker import CircuitBreakers
from producers.gateway.errors import GatewayError, sse_error
from producers.gateway.events import Outcome, build_event, make_attempt
from producers.gateway.hooks import NoPolicies, PolicyHooks, RequestContext
from producers.gateway.lastused import LastUsedWriter
from producers.gateway.models_cache import ModelCache
from producers.gateway.refresher import SnapshotRefresher
from producers.gateway.routing import Candidate, resolve, union_models
from producers.gateway.transport import Transport, TransportError
from producers.gateway.usage import CompletionCounter, estimate_prompt_tokens
from schemas import topics
from store.apikeys import hash_secret
from store.snapshot import KeyEntry

log = logging.getLogger(__name__)

Send = Callable[[dict], Awaitable[None]]
Receive = Callable[[], Awaitable[dict]]

MAX_ATTEMPTS = 3
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_perf = time.perf_counter


def _ms(a: float, b: float) -> float:
    return (b - a) * 1000.0


def _unsendable(ai_type: str, exc: Exception) -> GatewayError:
    """A client request the adapter cannot translate for ``ai_type``: a 400, never retried."""
    return GatewayError(400, f"request cannot be sent to {ai_type}: {exc}"[:300], "invalid_request")


_PASSTHROUGH = frozenset({"OPENAI", "OTHER"})


def _openai_usage(u: Any, endpoint: str):
    """Usage from an OpenAI `usage` object (None when absent)."""
    if not isinstance(u, dict):
        return None
    details = u.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else 0
    out = 0 if endpoint == "embeddings" else int(u.get("completion_tokens") or 0)
    return Usage(int(u.get("prompt_tokens") or 0), out, int(cached or 0))


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
        self.gateway_id = gateway_id
        self.upstream_timeout_s = upstream_timeout_s
        self.max_body_bytes = max_body_bytes
        self.breakers = breakers or CircuitBreakers()
        self.hooks: PolicyHooks = hooks or NoPolicies()
        self.last_used = last_used
        self.models = model_cache or ModelCache(transport, timeout_s=min(upstream_timeout_s, 10.0))

    # ------------------------------------------------------------ plumbing
    def authenticate(self, scope: dict) -> KeyEntry | None:
        """Bearer secret -> live key from the in-memory snapshot (no I/O)."""
        for name, value in scope["headers"]:
            if name == b"authorization":
                parts = value.split(None, 1)
                if len(parts) == 2 and parts[0].lower() == b"bearer":
                    try:
                        secret = parts[1].strip().decode()
                    except UnicodeDecodeError:
                        return None
                    return self.refresher.snapshot.keys_by_hash.get(hash_secret(secret))
                return None
        return None

    async def read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                raise GatewayError(400, "client disconnected before sending the body", "client_disconnected")
            body = msg.get("body", b"")
            if body:
                size += len(body)
                if size > self.max_body_bytes:
                    raise GatewayError(
                        413, f"request body larger than {self.max_body_bytes} bytes", "request_too_large"
                    )
                chunks.append(body)
            if not msg.get("more_body", False):
                break
        return b"".join(chunks) if len(chunks) != 1 else chunks[0]

    @staticmethod
    def parse_json(raw: bytes) -> dict:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise GatewayError(400, "request body is not valid JSON", "invalid_json") from None
        if not isinstance(body, dict):
            raise GatewayError(400, "request body must be a JSON object", "invalid_json")
        return body

    @staticmethod
    async def respond(
        send: Send, status: int, body: bytes, rid: bytes, overhead_ms: float | None = None,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", rid),
        ]
        if overhead_ms is not None:
            headers.append((b"x-tollgate-overhead-ms", f"{overhead_ms:.3f}".encode()))
        if extra:
            headers.extend(extra)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def respond_error(self, send: Send, err: GatewayError, rid: bytes, overhead_ms: float | None = None) -> None:
        extra = None
        if err.retry_after is not None:
            extra = [(b"retry-after", str(max(int(err.retry_after), 1)).encode())]
        await self.respond(send, err.status, err.body(), rid, overhead_ms, extra)

    def emit(self, o: Outcome, ctx: RequestContext | None) -> None:
        """Build and hand the event to the publisher (never blocks/raises)."""
        try:
            event = build_event(o, self.gateway_id)
        except Exception:  # noqa: BLE001 - a bug here must not hurt the caller
            log.exception("could not build request event %s", o.request_id)
            return
        if ctx is not None:
            try:
                self.hooks.post_usage(ctx, event)
            except Exception:  # noqa: BLE001
                log.exception("post_usage hook failed")
        try:
            self.publisher.emit(topics.REQUESTS, o.key.key_id, event)
        except Exception:  # noqa: BLE001 - contract says emit never raises; be safe anyway
            log.exception("publisher.emit raised")
        if self.last_used is not None:
            self.last_used.mark(o.key.key_id, o.started_wall)

    # ------------------------------------------------------------ entry
    async def handle(self, endpoint: str, scope: dict, receive: Receive, send: Send) -> None:
        """Serve one /v1 request. Never raises to the server; always answers."""
        t0 = _perf()
        wall = time.time()
        rid_s = str(uuid_utils.uuid4())
        rid = rid_s.encode()
        key = self.authenticate(scope)
        if key is None:
            await self.respond_error(
                send,
                GatewayError(401, "Invalid API key. Use 'Authorization: Bearer <repository AI API key>'.",
                             "invalid_api_key"),
                rid,
            )
            return
        o = Outcome(request_id=rid_s, key=key, endpoint=endpoint, started_wall=wall)
        ctx: RequestContext | None = None
        upstream_ms = [0.0]
        try:
            if key.repo.disabled:
                raise GatewayError(403, "This repository is disabled.", "repository_disabled")
            if endpoint == "models":
                await self._models(key, send, rid, o, t0, upstream_ms)
                return
            body = self.parse_json(await self.read_body(receive))
            ctx = self._prepare(endpoint, key, body, o, rid_s)
            candidates = self._route(key, o.model)
            ctx.extra["ai_llm_id"], ctx.extra["ai_type"] = candidates[0][0].ai_llm_id, candidates[0][0].ai_type
            block = self.hooks.precheck(ctx, body)
            if block is not None and inspect.isawaitable(block):
                block = await block   # H: a blocking natural-language policy is judged before forwarding
            o.policy_ids = ctx.policy_ids
            if block is not None:
                o.fail(block.status, block.code, "blocked")
                raise GatewayError(block.status, block.message, block.code,
                                   retry_after=block.retry_after_s if block.status == 429 else None)
            if endpoint == "chat.completions" and o.stream:
                await self._chat_stream(ctx, body, candidates, receive, send, rid, o, t0, upstream_ms)
            else:
                await self._unary(endpoint, body, candidates, send, rid, o, t0, upstream_ms)
        except GatewayError as err:
            if o.status == "ok":
                o.fail(err.status, err.code or "error")
            o.overhead_ms = _ms(t0, _perf()) - upstream_ms[0]
            await self.respond_error(send, err, rid, o.overhead_ms)
        except Exception:  # noqa: BLE001 - never a 500 without an event; never leak details
            log.exception("gateway request %s failed", rid_s)
            o.fail(500, "internal_error")
            try:
                await self.respond_error(send, GatewayError(500, "internal gateway error", "internal_error"), rid)
            except Exception:  # noqa: BLE001
                pass
        finally:
            o.latency_ms = _ms(t0, _perf())
            if not o.overhead_ms:
                o.overhead_ms = o.latency_ms - upstream_ms[0]
            self.emit(o, ctx)

    # ------------------------------------------------------------ steps
    def _prepare(self, endpoint: str, key: KeyEntry, body: dict, o: Outcome, rid: str) -> RequestContext:
        model = body.get("model")
        if not isinstance(model, str) or not model.strip():
            raise GatewayError(400, "'model' is required and must be a non-empty string", "invalid_request", "model")
        o.model = model
        if endpoint == "chat.completions":
            msgs = body.get("messages")
            if not isinstance(msgs, list) or not msgs or not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in msgs):
                raise GatewayError(400, "'messages' must be a non-empty array of objects with a 'role'",
                                   "invalid_request", "messages")
            stream = body.get("stream", False)
            if stream is not None and not isinstance(stream, bool):
                raise GatewayError(400, "'stream' must be a boolean", "invalid_request", "stream")
            o.stream = bool(stream)
            so = body.get("stream_options")
            if so is not None and not isinstance(so, dict):
                raise GatewayError(400, "'stream_options' must be an object", "invalid_request", "stream_options")
        else:
            inp = body.get("input")
            if not (isinstance(inp, str) and inp) and not (isinstance(inp, list) and inp):
                raise GatewayError(400, "'input' must be a non-empty string or array", "invalid_request", "input")
        meta = body.get("metadata")
        if meta is not None:
            if not isinstance(meta, dict):
                raise GatewayError(400, "'metadata' must be an object", "invalid_request", "metadata")
            uid, cid = meta.get("user_id"), meta.get("conversation_id")
            o.user_id = str(uid)[:256] if uid is not None else None
            o.conversation_id = str(cid)[:256] if cid is not None else None
        return RequestContext(
            request_id=rid, key=key, snapshot=self.refresher.snapshot, endpoint=endpoint,
            model=model, stream=o.stream, user_id=o.user_id, conversation_id=o.conversation_id,
        )

    def _route(self, key: KeyEntry, model: str) -> list[Candidate]:
        cands = resolve(key.repo, model, self.models.known, families.serves)
        if not cands:
            raise GatewayError(
                404, f"The model '{model}' is not served by any configuration of this repository.",
                "model_not_found", "model",
            )
        return cands

    def _forward_body(self, body: dict, ai_type: str) -> dict:
        """Strip fields only the gateway understands (metadata goes on the event)."""
        if "metadata" in body and not (ai_type == "OPENAI" and body.get("store")):
            body = {k: v for k, v in body.items() if k != "metadata"}
        return body

    def _pick(self, candidates: list[Candidate]):
        """Yield candidates whose breaker admits a request, at most MAX_ATTEMPTS."""
        n = 0
        for cfg, pm in candidates:
            if n >= MAX_ATTEMPTS:
                return
            if not self.breakers.allow(cfg.ai_llm_id):
                continue
            n += 1
            yield cfg, pm

    @staticmethod
    def _final_error(failures: list[tuple[int | None, str, float | None, str]], skipped: bool) -> GatewayError:
        """All attempts failed (or none was allowed) -> 429 / 504 / 502."""
        if not failures:
            return GatewayError(
                502, "Every configuration for this model is temporarily unavailable (circuit open).",
                "upstream_unavailable",
            )
        statuses = [f[0] for f in failures]
        if all(s == 429 for s in statuses):
            ra = max((f[2] or 1.0) for f in failures)
            return GatewayError(429, "The provider rate-limited the request on every configuration tried.",
                                "upstream_rate_limited", retry_after=int(max(1, round(ra))))
        last_status, last_type, _, last_msg = failures[-1]
        if last_type == "timeout":
            return GatewayError(504, "The provider did not answer in time (all fallbacks tried).", "upstream_timeout")
        return GatewayError(502, f"Upstream failure after {len(failures)} attempt(s): {last_msg}"[:500],
                            "upstream_error")

    @staticmethod
    def _retry_after(headers) -> float | None:
        try:
            v = headers.get("retry-after")
            return float(v) if v is not None else None
        except (TypeError, ValueError):
            return None

    def _record(self, o: Outcome, cfg, pm: str, status: str, http_status: int | None,
                error_type: str | None, latency_ms: float) -> None:
        o.attempts.append(make_attempt(cfg.ai_llm_id, cfg.ai_type, pm, status, http_status, error_type,
                                       round(latency_ms, 3)))
        o.ai_llm_id, o.ai_type, o.provider_model = cfg.ai_llm_id, cfg.ai_type, pm

    def _transport_failed(self, o: Outcome, cfg, pm: str, exc: TransportError, ta: float,
                          upstream_ms: list[float], failures: list) -> None:
        """An attempt that got no HTTP answer (connect error, timeout): time it, count it against
        the config's breaker, record the attempt and the failure; the caller tries the next one."""
        dt = _ms(ta, _perf())
        upstream_ms[0] += dt
        self.breakers.failure(cfg.ai_llm_id)
        self._record(o, cfg, pm, "error", None, exc.error_type, dt)
        failures.append((None, exc.error_type, None, str(exc)))

    # ------------------------------------------------------------ unary (chat non-stream, embeddings)
    async def _unary(self, endpoint, body, candidates, send, rid, o: Outcome, t0, upstream_ms) -> None:
        failures: list[tuple[int | None, str, float | None, str]] = []
        skipped = False
        for cfg, pm in self._pick(candidates):
            ad = families.adapter(cfg.ai_type)
            pcfg = families.provider_config(cfg)
            fwd = self._forward_body(body, cfg.ai_type)
            try:
                if endpoint == "embeddings":
                    if not getattr(ad, "supports_embeddings", True):
                        raise GatewayError(400, f"{cfg.ai_type} configurations do not offer embeddings",
                                           "embeddings_not_supported")
                    req = ad.embeddings_request(pcfg, pm, fwd)
                else:
                    req = ad.chat_request(pcfg, pm, fwd)
            except GatewayError:
                raise
            except (ValueError, TypeError, KeyError) as exc:
                raise _unsendable(cfg.ai_type, exc) from None
            ta = _perf()
            try:
                resp = await self.transport.request(req, self.upstream_timeout_s)
            except TransportError as exc:
                self._transport_failed(o, cfg, pm, exc, ta, upstream_ms, failures)
                continue
            dt = _ms(ta, _perf())
            upstream_ms[0] += dt
            if resp.status >= 400:
                uerr = ad.error(resp.status, resp.body, resp.headers)
                self._record(o, cfg, pm, "error", resp.status, uerr.error_type, dt)
                if uerr.retryable or resp.status == 429 or resp.status >= 500:
                    self.breakers.failure(cfg.ai_llm_id)
                    failures.append((resp.status, uerr.error_type, uerr.retry_after or self._retry_after(resp.headers), uerr.message))
                    continue
                self.breakers.success(cfg.ai_llm_id)
                raise self._client_error(resp.status, uerr)
            self.breakers.success(cfg.ai_llm_id)
            self._record(o, cfg, pm, "ok", resp.status, None, dt)
            try:
                payload = None
                if cfg.ai_type in _PASSTHROUGH:
                    # OpenAI wire already: relay the provider's bytes, read usage with orjson.
                    out = orjson.loads(resp.body)
                    if not isinstance(out, dict) or not isinstance(out.get("data" if endpoint == "embeddings" else "choices"), list):
                        raise ValueError("not an OpenAI answer")
                    usage = _openai_usage(out.get("usage"), endpoint)
                    payload = resp.body
                elif endpoint == "embeddings":
                    out, usage = ad.embeddings_response(resp.status, resp.body, o.model, fwd)
                else:
                    out, usage = ad.chat_response(resp.status, resp.body, o.model, request_id=o.request_id)
            except Exception as exc:  # noqa: BLE001 - provider sent something we cannot read
                log.warning("unreadable %s answer: %s", cfg.ai_type, type(exc).__name__)
                raise GatewayError(502, "The provider returned an unreadable answer.", "upstream_bad_response")
            if usage is not None:
                o.tokens_in, o.tokens_out = usage.tokens_in, usage.tokens_out
                o.cached_tokens = getattr(usage, "cached_tokens", 0) or 0
            else:
                o.tokens_in, o.usage_source = estimate_prompt_tokens(body), "estimated"
            if payload is None:
                payload = orjson.dumps(out)
            o.ttft_ms = _ms(t0, _perf())
            o.overhead_ms = _ms(t0, _perf()) - upstream_ms[0]
            await self.respond(send, 200, payload, rid, o.overhead_ms)
            return
        raise self._final_error(failures, skipped)

    @staticmethod
    def _client_error(status: int, uerr) -> GatewayError:
        """A non-retryable provider answer becomes the client's error (no fallback)."""
        if status in (401, 403):
            return GatewayError(502, "The provider rejected the configuration's credentials.",
                                "upstream_auth_error")
        if status == 404:
            return GatewayError(404, uerr.message or "model not found at the provider", "model_not_found", "model")
        if 400 <= status < 500:
            return GatewayError(400 if status != 413 else 413, uerr.message or "the provider rejected the request",
                                uerr.error_type or "invalid_request")
        return GatewayError(502, uerr.message or "upstream error", "upstream_error")

    # ------------------------------------------------------------ streaming chat
    async def _chat_stream(self, ctx, body, candidates, receive, send, rid, o: Outcome, t0, upstream_ms) -> None:
        so = body.get("stream_options") or {}
        client_wants_usage = bool(so.get("include_usage"))
        failures: list[tuple[int | None, str, float | None, str]] = []
        stream = None
        cfg = pm = ad = None
        ta = 0.0
        for cfg, pm in self._pick(candidates):
            ad = families.adapter(cfg.ai_type)
            try:
                req = ad.chat_request(families.provider_config(cfg), pm, self._forward_body(body, cfg.ai_type))
            except (ValueError, TypeError, KeyError) as exc:
                raise _unsendable(cfg.ai_type, exc) from None
            ta = _perf()
            try:
                s = await self.transport.open_stream(req, self.upstream_timeout_s)
            except TransportError as exc:
                self._transport_failed(o, cfg, pm, exc, ta, upstream_ms, failures)
                continue
            if s.status >= 400:
                try:
                    raw = await s.read_all()
                except TransportError:
                    raw = b""
                finally:
                    await s.close()
                dt = _ms(ta, _perf())
                upstream_ms[0] += dt
                uerr = ad.error(s.status, raw, s.headers)
                self._record(o, cfg, pm, "error", s.status, uerr.error_type, dt)
                if uerr.retryable or s.status == 429 or s.status >= 500:
                    self.breakers.failure(cfg.ai_llm_id)
                    failures.append((s.status, uerr.error_type, uerr.retry_after or self._retry_after(s.headers), uerr.message))
                    continue
                self.breakers.success(cfg.ai_llm_id)
                raise self._client_error(s.status, uerr)
            upstream_ms[0] += _ms(ta, _perf())
            stream = s
            break
        if stream is None:
            raise self._final_error(failures, False)
        await self._relay(stream, ad, cfg, pm, body, client_wants_usage, receive, send, rid, o, t0, ta, upstream_ms)

    async def _relay(self, stream, ad, cfg, pm, body, client_wants_usage, receive, send, rid,
                     o: Outcome, t0, ta, upstream_ms) -> None:
        """Relay translated chunks as they arrive; stop (and still account) if the client leaves."""
        me = asyncio.current_task()
        state = {"done": False, "gone": False}

        async def watch() -> None:
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    if not state["done"]:
                        state["gone"] = True
                        me.cancel()
                    return

        watcher = asyncio.create_task(watch())
        translator = ad.stream_translator(o.model, o.request_id, include_usage=client_wants_usage)
        counter = CompletionCounter()
        usage = None
        upstream_err: str | None = None
        o.overhead_ms = _ms(t0, _perf()) - upstream_ms[0]
        headers = list(_SSE_HEADERS) + [
            (b"x-request-id", rid),
            (b"x-tollgate-overhead-ms", f"{o.overhead_ms:.3f}".encode()),
        ]
        agen = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            agen = stream.chunks()
            try:
                while True:
                    tw = _perf()
                    try:
                        raw = await agen.__anext__()
                    except StopAsyncIteration:
                        upstream_ms[0] += _ms(tw, _perf())
                        break
                    upstream_ms[0] += _ms(tw, _perf())
                    out = self._filter(translator.feed(raw), counter, client_wants_usage)
                    if out:
                        if o.ttft_ms is None:
                            o.ttft_ms = _ms(t0, _perf())
                        await send({"type": "http.response.body", "body": out, "more_body": True})
                tail = self._filter(translator.finish(), counter, client_wants_usage)
                if getattr(translator, "error", None) is not None:
                    upstream_err = translator.error.error_type or "upstream_stream_error"
            except TransportError as exc:
                upstream_err = exc.error_type
                tail = sse_error(502, "The provider stream broke off.", "upstream_stream_error")
            state["done"] = True
            watcher.cancel()
            usage = translator.usage
            await send({"type": "http.response.body", "body": tail, "more_body": False})
        except asyncio.CancelledError:
            if not state["gone"]:
                raise
            me.uncancel()
            usage = getattr(translator, "usage", None)
            o.fail(499, "client_disconnected")
        finally:
            state["done"] = True
            watcher.cancel()
            try:
                if agen is not None:
                    await agen.aclose()
                await stream.close()
            except Exception:  # noqa: BLE001
                pass
            dt = _ms(ta, _perf())
            if upstream_err is not None:
                self.breakers.failure(cfg.ai_llm_id)
                self._record(o, cfg, pm, "error", 200, upstream_err, dt)
                o.fail(502, "upstream_stream_error")
            else:
                self.breakers.success(cfg.ai_llm_id)
                self._record(o, cfg, pm, "ok", 200, None, dt)
            if usage is not None:
                o.tokens_in, o.tokens_out = usage.tokens_in, usage.tokens_out
                o.cached_tokens = getattr(usage, "cached_tokens", 0) or 0
            else:
                o.tokens_in = estimate_prompt_tokens(body)
                o.tokens_out = counter.tokens
                o.usage_source = "estimated"

    @staticmethod
    def _filter(lines: list[bytes], counter: CompletionCounter, client_wants_usage: bool) -> bytes:
        """Count output text; drop the usage-only chunk when the client did not ask for it."""
        if not lines:
            return b""
        keep: list[bytes] = []
        for line in lines:
            if line.startswith(b"data: {"):
                try:
                    chunk = orjson.loads(line[6:])
                except orjson.JSONDecodeError:
                    keep.append(line)
                    continue
                counter.add_chunk(chunk)
                if not client_wants_usage and chunk.get("usage") is not None:
                    if not chunk.get("choices"):
                        continue
                    chunk.pop("usage", None)
                    line = b"data: " + orjson.dumps(chunk) + b"\n\n"
            keep.append(line)
        return b"".join(keep)

    # ------------------------------------------------------------ models
    async def _models(self, key: KeyEntry, send, rid, o: Outcome, t0, upstream_ms) -> None:
        o.endpoint = "models"
        configs = key.repo.configs
        ta = _perf()
        lists = await asyncio.gather(*(self.models.get(c) for c in configs))
        upstream_ms[0] += _ms(ta, _perf())
        created = 0
        data = []
        owners: dict[str, str] = {}
        for c, lst in zip(configs, lists):
            for m in lst:
                owners.setdefault(m, c.ai_type.lower())
        for m in union_models(lists):
            data.append({"id": m, "object": "model", "created": created, "owned_by": owners[m]})
        o.overhead_ms = _ms(t0, _perf()) - upstream_ms[0]
        await self.respond(send, 200, orjson.dumps({"object": "list", "data": data}), rid, o.overhead_ms)
