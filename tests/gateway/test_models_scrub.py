"""Model ids come from the provider's text: one echoing the configuration's credential (plain,
URL-encoded or base64) is scrubbed before `/v1/models` or routing ever sees it."""

from __future__ import annotations

import base64
from urllib.parse import quote

import orjson

from core.scrub import MARK
from producers.gateway.models_cache import ModelCache
from producers.gateway.transport import UpstreamResponse
from store.snapshot import ConfigEntry

SECRET = "sk-echoed/secret+value-0123456789"


class _EchoingTransport:
    """An upstream whose model list quotes the credential it was called with."""

    async def request(self, req, timeout):
        ids = [
            "gpt-4o",
            f"ft:gpt-4o:{SECRET}",
            f"org-{quote(SECRET, safe='')}",
            base64.b64encode(SECRET.encode()).decode(),
        ]
        return UpstreamResponse(200, {}, orjson.dumps({"object": "list", "data": [{"id": i} for i in ids]}))


def _cfg() -> ConfigEntry:
    return ConfigEntry(
        ai_llm_id="c1",
        org_id="o",
        workspace_id="w",
        name="c1",
        ai_type="OPENAI",
        endpoint="http://upstream.test",
        region=None,
        updated_at=None,
        key=None,
        secret=SECRET,
    )


async def test_model_ids_echoing_the_secret_are_scrubbed() -> None:
    cache = ModelCache(_EchoingTransport())
    cfg = _cfg()
    ids = await cache.get(cfg)
    known = cache.known(cfg)
    assert known is not None
    text = orjson.dumps({"ids": ids, "known": sorted(known)}).decode()
    assert SECRET not in text and quote(SECRET, safe="") not in text
    assert base64.b64encode(SECRET.encode()).decode() not in text
    assert "gpt-4o" in ids and f"ft:gpt-4o:{MARK}" in ids
    assert len(ids) == 4
