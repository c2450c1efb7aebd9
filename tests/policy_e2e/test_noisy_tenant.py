"""One tenant's content rules cannot stall the others.

Workspace A holds 20 blocking CONTENT_PATTERN policies with patterns that backtrack
exponentially on a backtracking engine, and hammers the gateway with 50 KB prompts from 8
concurrent callers; meanwhile workspace B (no policies) calls sequentially. B's p50 stays under
100 ms; a pattern RE2 cannot run in linear time is refused at creation, naming it; and the
patterns one scope may hold are capped.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time

import httpx
import pytest

from tests.policy_e2e.helpers import setup_ws, until, wait_gateway_sees

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
ATTACKER = """
import asyncio, sys, threading, httpx
url, secret, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = {"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "a" * 50_000}]}
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
count = [0, 0]
async def one(ac):
    while not stop.is_set():
        r = await ac.post(url, json=body, headers={"authorization": "Bearer " + secret})
        count[0] += 1
        count[1] += r.status_code == 403
async def main():
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=n)) as ac:
        tasks = [asyncio.create_task(one(ac)) for _ in range(n)]
        await asyncio.sleep(0.3)
        print("attacking", flush=True)
        await asyncio.gather(*tasks)
asyncio.run(main())
print(count[0], count[1])
"""
EVIL = [r"(a|aa)+$", r"(\w+\s?)+$", r"(x+x+)+y", r"^(a+)+$"]


def _policy(client, headers, env, patterns, name):
    return client.post(
        "/policy",
        headers=headers,
        json={
            "name": name,
            "content": "",
            "riskType": "HIGH",
            "actionType": 2,
            "orgId": env["org"],
            "workspaceId": env["ws"],
            "rule": {"type": "CONTENT_PATTERN", "patterns": patterns},
        },
    )


def test_patterns_re2_cannot_run_are_refused_naming_them(client, admin_headers, fake_upstream) -> None:
    env = setup_ws(client, admin_headers, fake_upstream)
    for bad in (r"(a)\1", r"secret(?=key)", r"(?<!x)y"):
        r = _policy(client, admin_headers, env, ["fine", bad], "re2-refused")
        assert r.status_code == 400 and "rule.patterns[1]" in r.json()["message"] and bad in r.json()["message"], r.text


def test_patterns_per_scope_are_capped(live_app, client, admin_headers, fake_upstream) -> None:
    env = setup_ws(client, admin_headers, fake_upstream)
    cap = live_app.settings.policy_max_patterns_per_scope
    for i in range(cap // 50):
        assert _policy(client, admin_headers, env, [f"p{i}-{j}" for j in range(50)], f"cap-{i}").status_code == 200
    r = _policy(client, admin_headers, env, ["one-too-many"], "cap-over")
    assert r.status_code == 400 and "per scope" in r.json()["message"], r.text


def test_noisy_tenant_does_not_stall_another_workspace(live_app, client, admin_headers, fake_upstream) -> None:
    noisy = setup_ws(client, admin_headers, fake_upstream)
    quiet = setup_ws(client, admin_headers, fake_upstream)
    for i in range(20):
        r = _policy(client, admin_headers, noisy, EVIL, f"evil-{i}")
        assert r.status_code == 200, r.text
    wait_gateway_sees(live_app.url, noisy["secret"])
    wait_gateway_sees(live_app.url, quiet["secret"])
    prompt = "a" * 50_000
    body = {"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": prompt}]}
    small = {"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    url = live_app.url + "/v1/chat/completions"
    # the evil policies are live: the noisy prompt is refused (pattern #1 matches "aaa...")
    until(
        lambda: (
            httpx.post(url, json=body, timeout=30, headers={"authorization": f"Bearer {noisy['secret']}"}).status_code
        ),
        lambda s: s == 403,
    )

    async def measure(n: int) -> list[float]:
        out = []
        async with httpx.AsyncClient(timeout=30) as ac:
            for _ in range(n):
                t = time.perf_counter()
                r = await ac.post(url, json=small, headers={"authorization": f"Bearer {quiet['secret']}"})
                out.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.text
        return out

    base = asyncio.run(measure(30))
    # the attacker is another process (as it would be another machine): 8 concurrent callers
    proc = subprocess.Popen(
        [sys.executable, "-c", ATTACKER, url, noisy["secret"], "8"],
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "attacking"
        during = asyncio.run(measure(60))
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    attacks, refused = (int(x) for x in out.split())
    assert refused == attacks
    p50_base, p50_during = statistics.median(base), statistics.median(during)
    print(
        f"\ninnocent tenant p50: {p50_base:.1f} ms idle, {p50_during:.1f} ms during the attack "
        f"({attacks} attack requests of 50 KB against 20 policies x {len(EVIL)} patterns)"
    )
    assert attacks >= 20
    assert p50_during < 100, (p50_base, p50_during)
