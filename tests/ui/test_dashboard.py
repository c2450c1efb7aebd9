"""The /ui dashboard in a real browser against a live `tollgate up`: sign in, create a workspace,
see the overview's numbers equal `/ai/llm/stats` after real gateway calls; no request leaves
for another host and no script error happens."""
from __future__ import annotations

import time
import uuid

import httpx
from openai import AuthenticationError, OpenAI

from tests.support.secrets import register_secret
from tests.ui.conftest import LiveUp, open_page

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
    shown = page.evaluate("""fields => Object.fromEntries(fields.map(f => {
        const el = document.querySelector(`[data-testid=${f}]`);
        return [f, [el.textContent, el.dataset.value]]; }))""", list(FIELDS))
    for f, (text, value) in shown.items():
        assert text.replace(",", "") == value, (f, text, value)
    return {f: int(value) for f, (_, value) in shown.items()}


def refresh_overview(page) -> None:
    """Press Refresh and wait until that load has finished."""
    before = int(page.eval_on_selector(".toolbar [data-loads]", "e => e.dataset.loads"))
    page.click("text=Refresh")
    page.wait_for_function(f"() => +document.querySelector('.toolbar [data-loads]').dataset.loads > {before}")


def test_sign_in_refuses_a_wrong_password_in_words(browser, tollgate_up: LiveUp) -> None:
    ctx, page, watch = open_page(browser, tollgate_up)
    try:
        page.goto(tollgate_up.url + "/ui")
        page.fill("input[name=email]", tollgate_up.admin_email)
        page.fill("input[name=password]", "not-the-password")
        page.click("button[type=submit]")
        assert "Invalid email or password" in page.get_by_role("alert").inner_text()
        assert page.evaluate("sessionStorage.length") == 0
        assert watch.foreign() == [] and len(watch.requests) >= 4
    finally:
        ctx.close()


def test_configure_call_watch_and_revoke_through_the_ui(browser, tollgate_up: LiveUp, shot) -> None:
    up, s = tollgate_up, uuid.uuid4().hex[:6]
    ctx, page, watch = open_page(browser, up)
    try:
        sign_in(page, up)
        token = page.evaluate("JSON.parse(sessionStorage.getItem('tollgate.session')).token")
        assert token and token not in page.url
        # a workspace through the picker's "new workspace" form; then the configurations page
        page.select_option("#workspace", "__new")
        page.fill("input[name=name]", f"ui-{s}")
        page.click("button[type=submit]")
        page.wait_for_url("**/ui#/configs")
        assert "No configuration yet" in page.locator(".empty").inner_text()
        page.select_option("select[name=aiType]", "ANTHROPIC")
        assert "without /v1" in page.locator("#family-help").inner_text()
        page.select_option("select[name=aiType]", "OPENAI")
        assert "with /v1" in page.locator("#family-help").inner_text()
        page.fill("input[name=name]", "fake-openai")
        page.fill("input[name=endpoint]", up.fake.endpoints["OPENAI"])
        page.fill("input[name=secret]", up.fake.creds.openai_key)
        page.click("form >> text=Create")
        page.wait_for_selector("tr[data-config] .badge.VALID")
        assert "lists" in page.locator("tr[data-config]").inner_text()  # the validation message
        shot(page, "configurations")
        with api_login(up) as c:
            ws = next(w["id"] for w in c.get("/workspace").json()["workspaces"] if w["name"] == f"ui-{s}")
            assert page.eval_on_selector("#workspace", "e => e.value") == ws
            # repository with its fallback order, then a key, its secret shown once
            page.click("nav >> text=Repositories and keys")
            page.fill("input[name=repoName]", "app")
            assert "fake-openai" in page.locator("ol.order").inner_text()
            page.click("form >> text=Create repository")
            page.fill("input[name=keyName]", "backend")
            page.click("form >> text=Create key")
            secret = page.input_value("input[name=secret]")
            register_secret(secret)
            assert secret.startswith("tg_")
            assert page.get_by_test_id("baseUrl").inner_text() == up.url + "/v1"
            assert f'OpenAI(base_url="{up.url}/v1", api_key="{secret}")' in page.locator(".secret pre").first.inner_text()
            shot(page, "repositories-and-keys")
            page.click("text=I have copied it")
            assert secret not in page.content()  # shown once: gone from the page
            assert page.locator("tr[data-key] th").inner_text() == "backend"
            # calls through the gateway, then the overview's numbers equal /ai/llm/stats
            calls(up, secret, 3)
            page.click("nav >> text=Overview")
            page.wait_for_selector(".toolbar [data-loads]")
            assert page.get_by_test_id("totalCost").is_visible()
            want = until_overview_matches(page, c, ws, calls=3)
            assert want["totalTokensIn"] > 0 and want["totalTokensOut"] > 0
            for rng in ("1 h", "7 d", "30 d", "24 h"):
                page.click(f".seg >> text='{rng}'")
                page.wait_for_selector(f".seg button[aria-pressed=true]:text-is('{rng}')")
                page.wait_for_selector(".charts figure")
            page.select_option("select[name=split]", "model")
            page.wait_for_selector(".charts .u-legend >> text=gpt-4o-mini")
            page.select_option("select[name=split]", "key")
            page.wait_for_selector(".charts .u-legend >> text=backend")
            shot(page, "overview")
            # a configuration in use cannot be deleted: the page says why
            page.click("nav >> text=Configurations")
            page.locator("tr[data-config]").get_by_role("button", name="Delete").click()
            page.get_by_role("dialog").get_by_role("button", name="Delete").click()
            assert "in use by app" in page.get_by_role("alert").inner_text()
            assert (403, "DELETE", f"/ai/llm/{c.get('/ai/llm', params={'workspaceId': ws}).json()['aiLlms'][0]['id']}") in watch.refused
            # revoke the key: the gateway refuses it from then on
            page.click("nav >> text=Repositories and keys")
            page.locator("tr[data-key]").get_by_role("button", name="Revoke backend").click()
            page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
            page.wait_for_selector("text=No key yet")
            refused_by_gateway(up, secret)
        assert [r for r in watch.refused if r[0] != 403] == [], watch.refused
        assert watch.foreign() == [], watch.foreign()
        assert watch.errors == [], watch.errors
    finally:
        ctx.close()


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
