"""The /ui dashboard in a real browser against a live `tollgate up`: sign in, create a workspace,
see the overview's numbers equal `/ai/llm/stats` after real gateway calls; no request leaves
for another host and no script error happens."""
from __future__ import annotations

import subprocess
import sys
import time
import uuid

import httpx
from openai import AuthenticationError, OpenAI, PermissionDeniedError

from tests.support.secrets import capture_text, register_secret
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
            snippets = [page.locator(".secret pre").nth(i).text_content() for i in range(4)]
            assert f'OpenAI(base_url="{up.url}/v1", api_key="{secret}")' in snippets[0]
            assert f'baseURL: "{up.url}/v1"' in snippets[1] and f'base_url="{up.url}", api_key="{secret}"' in snippets[2]
            shot(page, "repositories-and-keys")
            page.click("text=I have copied it")
            assert secret not in page.content()  # shown once: gone from the page
            assert page.locator("tr[data-key] th").inner_text() == "backend"
            # calls through the gateway, then the overview's numbers equal /ai/llm/stats
            calls(up, secret, 3)
            for code in (snippets[0], snippets[2]):  # the Python snippets run as pasted
                run_snippet(code)
            page.click("nav >> text=Overview")
            page.wait_for_selector(".toolbar [data-loads]")
            assert page.get_by_test_id("totalCost").is_visible()
            want = until_overview_matches(page, c, ws, calls=5)
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
    llm = c.post("/ai/llm", json={"name": "fake", "aiType": "OPENAI", "endpoint": up.fake.endpoints["OPENAI"],
                                  "secret": up.fake.creds.openai_key, "workspaceId": ws}).json()["aiLlmId"]
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


def test_policies_from_rules_and_words_and_the_violation_feed(browser, tollgate_up: LiveUp, shot) -> None:
    up, s = tollgate_up, uuid.uuid4().hex[:6]
    with api_login(up) as c:
        ws, repo, secret = setup_workspace(c, up, f"pol-{s}")
    ctx, page, watch = open_page(browser, up)
    try:
        sign_in(page, up)
        pick_workspace(page, ws)
        page.click("nav >> text=Policies")
        assert "No policy yet" in page.locator(".empty").inner_text()
        # natural language: create, edit, delete
        page.click("text=New policy")
        page.fill("input[name=policyName]", "no-secrets")
        page.select_option("select[name=mode]", "text")
        page.click("form >> text=Create policy")
        assert "plain words" in page.get_by_role("alert").inner_text()  # refused before any call
        page.fill("textarea[name=content]", "Never send customer passwords.")
        page.click("form >> text=Create policy")
        page.wait_for_selector("tr[data-policy] >> text=Never send customer passwords.")
        page.get_by_role("button", name="Edit no-secrets").click()
        page.fill("input[name=policyName]", "no-passwords")
        page.click("form >> text=Save")
        page.wait_for_selector("tr[data-policy] th:text-is('no-passwords')")
        page.get_by_role("button", name="Delete no-passwords").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete").click()
        page.wait_for_selector("text=No policy yet")
        # a rule: refuse gpt-4o-mini on the repository, blocking, high risk
        page.click("text=New policy")
        page.fill("input[name=policyName]", "deny-mini")
        page.select_option("select[name=scope]", repo)
        page.select_option("select[name=riskType]", "HIGH")
        page.select_option("select[name=actionType]", "2")
        page.select_option("select[name=ruleType]", "MODEL_DENYLIST")
        page.fill("textarea[name=models]", "gpt-4o-mini")
        page.click("form >> text=Create policy")
        page.wait_for_selector("tr[data-policy] >> text=Refuses gpt-4o-mini")
        assert "Repository svc" in page.locator("tr[data-policy]").inner_text()
        shot(page, "policies")
        blocked(up, secret)
        # the violation appears in the feed, and the filters select it or not
        page.click("nav >> text=Violations and alerts")
        deadline = time.monotonic() + 60
        while page.locator("tr[data-violation]").count() == 0:
            assert time.monotonic() < deadline, "the violation never reached the feed"
            time.sleep(0.3)
            refresh_feed(page)
        row = page.locator("tr[data-violation]").first.inner_text()
        assert "deny-mini" in row and "HIGH" in row and "yes" in row and "svc / svc-key" in row
        page.select_option("select[name=severity]", "LOW")
        page.click("form >> text=Apply")
        page.wait_for_selector("text=Nothing matches these filters")
        page.select_option("select[name=severity]", "HIGH")
        page.select_option("select[name=block]", "true")
        page.click("form >> text=Apply")
        page.wait_for_selector("tr[data-violation]")
        shot(page, "violations")
        page.click("form >> text=Clear")
        page.click(".seg >> text=Alerts")
        page.wait_for_selector(".seg button[aria-pressed=true]:text-is('Alerts')")
        with api_login(up) as c:
            alerts = c.get("/policy/alerts", params={"workspaceId": ws}).json()["total"]
            page.wait_for_selector("tr[data-violation]" if alerts else "text=No alerts yet")
            want = stats_totals(c, ws)
        assert want["totalBlocks"] >= 1 and want["totalPolicyViolations"] >= 1
        page.click("nav >> text=Overview")
        page.wait_for_selector(".toolbar [data-loads]")
        with api_login(up) as c:
            until_overview_matches(page, c, ws, calls=want["totalApiCalls"])
        assert [r for r in watch.refused if r[0] != 400] == [], watch.refused
        assert watch.foreign() == [], watch.foreign()
        assert watch.errors == [], watch.errors
    finally:
        ctx.close()


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


def test_keyboard_only_and_a_phone_screen(browser, tollgate_up: LiveUp, shot) -> None:
    up, s = tollgate_up, uuid.uuid4().hex[:6]
    with api_login(up) as c:
        ws, _, _ = setup_workspace(c, up, f"kbd-{s}")
    ctx, page, watch = open_page(browser, up, width=390, height=844)
    try:
        page.goto(up.url + "/ui")
        page.wait_for_selector("input[name=email]:focus")  # the form starts focused
        page.keyboard.type(up.admin_email)
        page.keyboard.press("Tab")
        page.keyboard.type(up.admin_password)
        page.keyboard.press("Enter")
        page.wait_for_selector("#top:not([hidden])")
        page.select_option("#workspace", ws)
        for name in ("Overview", "Configurations", "Repositories and keys", "Policies", "Violations and alerts"):
            page.click(f"nav >> text='{name}'")
            page.wait_for_selector(f"main h1:text-is('{name}')")
            page.wait_for_load_state("networkidle")
            wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert wide <= 1, f"{name} is {wide} px wider than a phone screen"
        page.click("nav >> text='Overview'")
        page.wait_for_selector(".toolbar [data-loads]")
        shot(page, "overview-phone")
        # from the top of the page, Tab reaches the navigation and Enter follows a link
        page.set_viewport_size({"width": 1280, "height": 900})
        page.evaluate("document.activeElement.blur()")
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent") == "Policies":
                break
        page.keyboard.press("Enter")
        page.wait_for_selector("main h1:text-is('Policies')")
        # Escape closes a confirmation without deleting
        page.click("text=New policy")
        page.fill("input[name=policyName]", "kbd")
        page.fill("textarea[name=models]", "x-*")
        page.click("form >> text=Create policy")
        page.get_by_role("button", name="Delete kbd").click()
        page.keyboard.press("Escape")
        page.wait_for_selector("dialog", state="detached")
        assert page.locator("tr[data-policy] th:text-is('kbd')").count() == 1
        # sign out: the token is gone and a reload shows the sign-in form
        page.click("#signout")
        page.wait_for_selector("input[name=email]")
        assert page.evaluate("sessionStorage.getItem('tollgate.session')") is None
        page.reload()
        page.wait_for_selector("input[name=email]")
        assert watch.foreign() == [] and watch.errors == [], (watch.foreign(), watch.errors)
        assert watch.refused == []
    finally:
        ctx.close()


def test_an_expired_token_is_renewed_once_then_the_session_ends_in_words(browser, tollgate_up: LiveUp) -> None:
    up = tollgate_up
    ctx, page, watch = open_page(browser, up)
    try:
        # the server refuses the first workspace list, as it would an expired access token
        refused: list[str | None] = []

        def once(route) -> None:
            if not refused:
                refused.append(route.request.headers.get("authorization"))
                route.fulfill(status=401, json={"success": False, "message": "Invalid or expired token"})
            else:
                route.continue_()
        page.route("**/workspace", once)
        sign_in(page, up)
        page.wait_for_selector("#workspace option", state="attached")
        renewed = page.evaluate("JSON.parse(sessionStorage.getItem('tollgate.session')).token")
        assert len(refused) == 1 and refused[0] != f"Bearer {renewed}"
        assert sum(u.endswith("/user/refresh") for u in watch.requests) == 1
        page.unroute("**/workspace")
        # after a reload there is no refresh token (memory only): a refused token ends the session
        page.route("**/workspace", lambda route: route.fulfill(status=401, json={"success": False, "message": "expired"}))
        page.reload()
        assert "Your session has ended" in page.get_by_role("alert").inner_text()
        assert page.evaluate("sessionStorage.getItem('tollgate.session')") is None
        assert sum(u.endswith("/user/refresh") for u in watch.requests) == 1
        assert watch.errors == [] and watch.foreign() == []
    finally:
        ctx.close()


def test_edit_a_configuration_and_a_repositorys_fallback_order(browser, tollgate_up: LiveUp) -> None:
    up, s = tollgate_up, uuid.uuid4().hex[:6]
    with api_login(up) as c:
        ws, repo, _ = setup_workspace(c, up, f"edit-{s}")
        second = c.post("/ai/llm", json={"name": "second", "aiType": "OTHER", "endpoint": up.fake.endpoints["OPENAI"],
                                         "secret": up.fake.creds.openai_key, "workspaceId": ws}).json()["aiLlmId"]
        ctx, page, watch = open_page(browser, up)
        try:
            sign_in(page, up)
            pick_workspace(page, ws)
            page.click("nav >> text=Configurations")
            page.locator(f"tr[data-config='{second}']").get_by_role("button", name="Edit").click()
            assert page.input_value("select[name=aiType]") == "OTHER"
            page.fill("input[name=name]", "second-renamed")
            page.click("form >> text=Save")
            page.wait_for_selector(f"tr[data-config='{second}'] th:has-text('second-renamed')")
            dto = next(x for x in c.get("/ai/llm", params={"workspaceId": ws}).json()["aiLlms"] if x["id"] == second)
            assert dto["name"] == "second-renamed" and dto["aiType"] == "OTHER"
            # the repository: add the second configuration, move it first, save
            page.click("nav >> text=Repositories and keys")
            page.locator(f"section[data-repo='{repo}']").get_by_role("button", name="Edit").click()
            page.select_option("select[name=addConfig]", second)
            page.click("fieldset >> text=Add")
            page.get_by_role("button", name="Move second-renamed up").click()
            page.click("form >> text=Save")
            page.wait_for_selector(f"section[data-repo='{repo}'] >> text=1. second-renamed")
            order = [a["id"] for a in c.get("/repo", params={"repoId": repo}).json()["repos"][0]["aiLlms"]]
            assert order[0] == second and len(order) == 2
            assert watch.refused == [] and watch.errors == [] and watch.foreign() == []
        finally:
            ctx.close()
