"""The /ui dashboard's other pages in a real browser: policies from rules and words and the
violation feed, edits, keyboard-only use and a phone screen, an expired token."""

from __future__ import annotations

import time
import uuid

from tests.ui.conftest import LiveUp, open_page
from tests.ui.flows import (
    api_login,
    blocked,
    pick_workspace,
    refresh_feed,
    setup_workspace,
    sign_in,
    stats_totals,
    until_overview_matches,
)


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
        page.route(
            "**/workspace", lambda route: route.fulfill(status=401, json={"success": False, "message": "expired"})
        )
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
        second = c.post(
            "/ai/llm",
            json={
                "name": "second",
                "aiType": "OTHER",
                "endpoint": up.fake.endpoints["OPENAI"],
                "secret": up.fake.creds.openai_key,
                "workspaceId": ws,
            },
        ).json()["aiLlmId"]
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
