"""The /ui dashboard in a real browser against a live `tollgate up`: sign in, create a
configuration, a repository and a key through the UI, call the gateway with the OpenAI SDK and
see the overview's numbers equal `/ai/llm/stats`; revoke the key and see the gateway refuse it.
No request leaves for another host and no script error happens."""

from __future__ import annotations

import uuid
from decimal import Decimal

from tests.support.secrets import register_secret
from tests.ui.conftest import LiveUp, open_page
from tests.ui.flows import api_login, calls, refused_by_gateway, run_snippet, sign_in, until_overview_matches


def test_sign_in_refuses_a_wrong_password_in_words(browser, tollgate_up: LiveUp, shot) -> None:
    ctx, page, watch = open_page(browser, tollgate_up)
    try:
        page.goto(tollgate_up.url + "/ui")
        page.fill("input[name=email]", tollgate_up.admin_email)
        page.fill("input[name=password]", "not-the-password")
        page.click("button[type=submit]")
        assert "Invalid email or password" in page.get_by_role("alert").inner_text()
        shot(page, "sign-in")
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
            assert (
                f'baseURL: "{up.url}/v1"' in snippets[1] and f'base_url="{up.url}", api_key="{secret}"' in snippets[2]
            )
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
            rows = c.get("/ai/llm/stats", params={"workspaceId": ws}).json()["stats"]
            api_cost = sum(Decimal(r["totalCost"]) for r in rows if r.get("totalCost") is not None)
            assert api_cost > 0 and Decimal(page.get_by_test_id("totalCost").get_attribute("data-value")) == api_cost
            assert page.get_by_test_id("totalUnpricedCalls").count() == 0  # every call here has a price
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
            assert (
                403,
                "DELETE",
                f"/ai/llm/{c.get('/ai/llm', params={'workspaceId': ws}).json()['aiLlms'][0]['id']}",
            ) in watch.refused
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
