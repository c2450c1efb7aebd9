"""Steps the dashboard tests share: API shortcuts, sign-in, reading the overview, gateway calls."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
from openai import AuthenticationError, OpenAI, PermissionDeniedError

from tests.support.secrets import capture_text, register_secret
from tests.ui.conftest import LiveUp

FIELDS = ("totalApiCalls", "totalTokensIn", "totalTokensOut", "totalPolicyViolations", "totalBlocks")


def api_login(up: LiveUp) -> httpx.Client:
    r = httpx.post(up.url + "/user/login", json={"email": up.admin_email, "password": up.admin_password}, timeout=30)
    assert r.status_code == 200, r.text
    return httpx.Client(base_url=up.url, headers={"Authorization": f"Bearer {r.json()['accessToken']}"}, timeout=30)


def sign_in(page, up: LiveUp) -> None:
    page.goto(up.url + "/ui")
    page.fill("input[name=email]", up.admin_email)
    page.fill("input[name=password]", up.admin_password)
    page.press("input[name=password]", "Enter")
    page.wait_for_selector("#top:not([hidden]) #signout", state="visible")
    page.wait_for_function("() => !document.querySelector('main .muted')?.textContent.startsWith('Loading')")


def stats_totals(c: httpx.Client, ws: str) -> dict[str, int]:
    rows = c.get("/ai/llm/stats", params={"workspaceId": ws}).json()["stats"]
    return {f: sum(int(r[f]) for r in rows) for f in FIELDS}


def overview_numbers(page) -> dict[str, int]:
    """The headline numbers, read at once: shown text (grouped digits) and exact data-value agree."""
    shown = page.evaluate(
        """fields => Object.fromEntries(fields.map(f => {
        const el = document.querySelector(`[data-testid=${f}]`);
        return [f, [el.textContent, el.dataset.value]]; }))""",
        list(FIELDS),
    )
    for f, (text, value) in shown.items():
        assert text.replace(",", "") == value, (f, text, value)
    return {f: int(value) for f, (_, value) in shown.items()}


def refresh_overview(page) -> None:
    """Press Refresh and wait until that load has finished."""
    before = int(page.eval_on_selector(".toolbar [data-loads]", "e => e.dataset.loads"))
    page.click("text=Refresh")
    page.wait_for_function(f"() => +document.querySelector('.toolbar [data-loads]').dataset.loads > {before}")


def run_snippet(code: str) -> None:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    capture_text(proc.stdout + proc.stderr, "dashboard snippet output")
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-2000:]


def refused_by_gateway(up: LiveUp, secret: str, seconds: float = 30) -> None:
    client = OpenAI(base_url=up.url + "/v1", api_key=secret, max_retries=0)
    deadline = time.monotonic() + seconds
    while True:
        try:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "still?"}])
        except AuthenticationError as exc:
            assert exc.status_code == 401
            return
        assert time.monotonic() < deadline, "the revoked key still works"
        time.sleep(0.1)


def calls(up: LiveUp, secret: str, n: int) -> None:
    client = OpenAI(base_url=up.url + "/v1", api_key=secret, max_retries=0)
    deadline = time.monotonic() + 30
    while True:  # the key reaches the gateway's snapshot shortly after it is created
        try:
            client.models.list()
            break
        except Exception:
            assert time.monotonic() < deadline, "the key never reached the gateway"
            time.sleep(0.1)
    for i in range(n):
        r = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": f"hello {i}"}])
        assert r.choices[0].message.content


def until_overview_matches(page, c: httpx.Client, ws: str, calls: int, seconds: float = 60) -> dict[str, int]:
    """Press Refresh until the overview shows the API's totals, once they count `calls` calls."""
    deadline = time.monotonic() + seconds
    while True:
        want = stats_totals(c, ws)
        refresh_overview(page)
        got = overview_numbers(page)
        if want["totalApiCalls"] == calls and got == want:
            return want
        assert time.monotonic() < deadline, f"overview {got} never matched the API {want}"
        time.sleep(0.3)


def setup_workspace(c: httpx.Client, up: LiveUp, name: str) -> tuple[str, str, str]:
    """(workspace id, repository id, key secret) made through the API."""
    ws = c.post("/workspace", json={"name": name}).json()["workspace"]["id"]
    llm = c.post(
        "/ai/llm",
        json={
            "name": "fake",
            "aiType": "OPENAI",
            "endpoint": up.fake.endpoints["OPENAI"],
            "secret": up.fake.creds.openai_key,
            "workspaceId": ws,
        },
    ).json()["aiLlmId"]
    repo = c.post("/repo", json={"name": "svc", "workspaceId": ws, "repoAiLlms": [{"aiLlmId": llm}]}).json()["repoId"]
    secret = c.post(f"/repo/{repo}/ai/apikey", json={"name": "svc-key", "aiType": "OPENAI"}).json()["secret"]
    register_secret(secret)
    return ws, repo, secret


def pick_workspace(page, ws: str) -> None:
    page.select_option("#workspace", ws)


def refresh_feed(page) -> None:
    before = int(page.eval_on_selector("[data-loads]", "e => e.dataset.loads"))
    page.click(".toolbar >> text=Refresh")
    page.wait_for_function(f"() => +document.querySelector('[data-loads]').dataset.loads > {before}")


def blocked(up: LiveUp, secret: str, seconds: float = 30) -> None:
    """A call the policy refuses (403 naming it), once the policy reached the gateway."""
    client = OpenAI(base_url=up.url + "/v1", api_key=secret, max_retries=0)
    deadline = time.monotonic() + seconds
    while True:
        try:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        except PermissionDeniedError as exc:
            assert "deny-mini" in str(exc)
            return
        assert time.monotonic() < deadline, "the policy never blocked"
        time.sleep(0.2)
