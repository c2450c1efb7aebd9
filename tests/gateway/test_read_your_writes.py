"""Read-your-writes: a key works the moment its creation returns, on the creating process and on
a second gateway process sharing the store; a deleted key is refused at once by the first and
within a poll by the second. Runs once per store backend (SQLite file, PostgreSQL)."""

from __future__ import annotations

import time

import httpx

from tests.gateway.test_e2e_up import _setup
from tests.support.live import scanning_client


def _models_status(base: str, secret: str) -> int:
    return httpx.get(base + "/v1/models", headers={"authorization": f"Bearer {secret}"}).status_code


def _chat_status(base: str, secret: str) -> int:
    r = httpx.post(
        base + "/v1/chat/completions",
        headers={"authorization": f"Bearer {secret}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "at once"}]},
        timeout=20.0,
    )
    return r.status_code


def test_a_key_works_at_once_on_every_process(live_app, live_app_factory, admin_headers, fake_upstream) -> None:
    database_url = live_app.runtime.settings.sqlalchemy_url
    second = live_app_factory(kind="gateway", database_url=database_url)
    with scanning_client(live_app.url) as c:
        # the second gateway has loaded its snapshot before the key exists
        assert _models_status(second.url, "tg-not-a-key") == 401
        env = _setup(c, admin_headers, fake_upstream, types=("OPENAI",))
        # no wait of any kind between the creating answer and the first uses
        assert _chat_status(live_app.url, env["secret"]) == 200
        assert _chat_status(second.url, env["secret"]) == 200

        r = c.delete(f"/repo/{env['repo']}/ai/apikey/{env['key_id']}", headers=admin_headers)
        assert r.status_code == 200, r.text
        assert _models_status(live_app.url, env["secret"]) == 401  # the deleting process: at once
        t0 = time.monotonic()
        while _models_status(second.url, env["secret"]) != 401:  # another process: within a poll
            assert time.monotonic() - t0 < 2.0, "the second gateway kept serving a deleted key"
            time.sleep(0.005)


def test_unknown_keys_do_not_hammer_the_store(live_app) -> None:
    """Random keys make the gateway catch up with the store at most once per interval, single-flight."""
    N = 100
    refresher = live_app.runtime.gateway_component.gateway.refresher
    polls = 0
    original = refresher._poll_unlocked

    async def counting() -> bool:
        nonlocal polls
        polls += 1
        return await original()

    async def flood() -> list[int]:
        import asyncio

        refresher._poll_unlocked = counting
        try:
            limits = httpx.Limits(max_connections=N, max_keepalive_connections=N)
            async with httpx.AsyncClient(base_url=live_app.url, limits=limits, timeout=60.0) as client:
                t0 = time.monotonic()
                answers = await asyncio.gather(
                    *(client.get("/v1/models", headers={"authorization": f"Bearer tg-random-{i}"}) for i in range(N))
                )
                elapsed = time.monotonic() - t0
        finally:
            del refresher._poll_unlocked
        return [a.status_code for a in answers], elapsed

    statuses, elapsed = live_app.call(lambda rt: flood(), timeout=120)
    assert statuses == [401] * N
    # at most one catch-up poll per 10 ms of the flood (plus the background poll's share)
    assert polls <= elapsed / 0.01 + elapsed / live_app.runtime.settings.snapshot_poll_s + 2, (polls, elapsed)
