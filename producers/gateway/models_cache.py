"""Per-configuration model lists, fetched from the provider and cached (refreshed occasionally).

The hot path only calls `known(cfg)` (a dict read; None while unknown). Lists are fetched in
the background when a config appears or changes (`prefetch`) and by `GET /v1/models`, which
awaits `get(cfg)` (network, bounded by `timeout_s`). Failures cache an empty list briefly.
Ids are provider text: they are scrubbed of the configuration's credentials before they are
cached, so neither `/v1/models` nor routing can relay an echoed secret to a key holder.
"""

from __future__ import annotations

import asyncio
import logging
import time

from core.scrub import forms_of, scrub_text
from producers.gateway import families
from store.snapshot import ConfigEntry, Snapshot

log = logging.getLogger(__name__)


class ModelCache:
    def __init__(self, transport, timeout_s: float = 10.0, ttl_s: float = 600.0, error_ttl_s: float = 30.0) -> None:
        self._transport = transport
        self._timeout = timeout_s
        self._ttl = ttl_s
        self._error_ttl = error_ttl_s
        self._lists: dict[tuple, tuple[float, frozenset[str], list[str]]] = {}
        self._inflight: dict[tuple, asyncio.Task] = {}

    def known(self, cfg: ConfigEntry) -> frozenset[str] | None:
        """The cached list (possibly stale: an expired one is refreshed in the background)."""
        hit = self._lists.get(cfg.version)
        if hit is None:
            return None
        if hit[0] <= time.monotonic() and cfg.version not in self._inflight:
            self._schedule(cfg)
        return hit[1]

    def _schedule(self, cfg: ConfigEntry) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        t = loop.create_task(self._fetch(cfg))
        self._inflight[cfg.version] = t
        t.add_done_callback(lambda _t, v=cfg.version: self._inflight.pop(v, None))

    async def _fetch(self, cfg: ConfigEntry) -> list[str]:
        ok = False
        models: list[str] = []
        try:
            ad = families.adapter(cfg.ai_type)
            req = ad.models_request(families.provider_config(cfg))
            resp = await self._transport.request(req, self._timeout)
            if resp.status < 400:
                forms = forms_of(cfg)
                models = [scrub_text(m, forms) or "" for m in ad.models_response(resp.body)]
                ok = True
            else:
                log.info("model list of config %s: provider answered %s", cfg.ai_llm_id, resp.status)
        except Exception as exc:  # noqa: BLE001 - a listing failure must not break routing
            log.info("model list of config %s failed: %s", cfg.ai_llm_id, type(exc).__name__)
        ttl = self._ttl if ok else self._error_ttl
        self._lists[cfg.version] = (time.monotonic() + ttl, frozenset(models), models)
        return models

    async def get(self, cfg: ConfigEntry) -> list[str]:
        hit = self._lists.get(cfg.version)
        if hit is not None and hit[0] > time.monotonic():
            return hit[2]
        task = self._inflight.get(cfg.version)
        if task is None:
            task = asyncio.ensure_future(self._fetch(cfg))
            self._inflight[cfg.version] = task
            task.add_done_callback(lambda _t, v=cfg.version: self._inflight.pop(v, None))
        return await asyncio.shield(task)

    def prefetch(self, snap: Snapshot) -> None:
        """Schedule fetches for configs not cached yet (never blocks). Drops stale versions."""
        live = {c.version for c in snap.configs.values()}
        for v in [v for v in self._lists if v not in live]:
            self._lists.pop(v, None)
        for c in snap.configs.values():
            if c.version not in self._lists and c.version not in self._inflight:
                self._schedule(c)
