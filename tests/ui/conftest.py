"""Fixtures for the dashboard tests: one live `tollgate up` (fake upstream as provider) and
Debian's chromium driven by Playwright, with every page request and script error recorded.

Playwright's own browser download cannot work here, so the browser is `/usr/bin/chromium`
(`scripts/test.sh` and `.ci/run` install it when missing); without it the tests fail, never skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from fakeupstream import FakeUpstream
from tests.support.secrets import register_secret
from tests.test_up_embedded import ADMIN, UpProcess

CHROMIUM = os.environ.get("TOLLGATE_TEST_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
LOAD_FAILED = "Failed to load resource: the server responded with a status of"
SHOTS_ENV = "TOLLGATE_UI_SCREENSHOTS"  # a folder (docs/ui refreshes the README's pictures)


@dataclass
class LiveUp:
    url: str
    admin_email: str
    admin_password: str
    fake: FakeUpstream


@dataclass
class Watch:
    """What the page did: every request URL, console errors, uncaught exceptions."""

    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (status, method, path) of 4xx/5xx

    def foreign(self) -> list[str]:
        return [
            u
            for u in self.requests
            if not u.startswith(("data:", "blob:")) and f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" != self.origin
        ]


@pytest.fixture(scope="package")
def tollgate_up(tmp_path_factory: pytest.TempPathFactory, fake_upstream: FakeUpstream) -> Iterator[LiveUp]:
    register_secret(ADMIN[1])
    register_secret(fake_upstream.creds.openai_key)
    up = UpProcess(tmp_path_factory.mktemp("ui-up") / "data")
    try:
        up.start()
        yield LiveUp(up.url, ADMIN[0], ADMIN[1], fake_upstream)
        up.stop()
    finally:
        up.kill_if_running()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """One Chromium per test module: Playwright's sync API keeps an event loop running in this
    thread while it is open, which would break every asyncio test that runs after it."""
    from playwright.sync_api import sync_playwright

    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test.sh does it)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


def open_page(browser, up: LiveUp, width: int = 1280, height: int = 900):
    """A fresh browser context and page on `up`, with a Watch of its requests and errors."""
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    watch = Watch(up.url)
    page.on("request", lambda r: watch.requests.append(r.url))
    page.on(
        "response",
        lambda r: watch.refused.append((r.status, r.request.method, urlsplit(r.url).path)) if r.status >= 400 else None,
    )
    # Chromium logs every 4xx/5xx answer as a console error; those are checked through `refused`
    page.on(
        "console",
        lambda m: (
            watch.errors.append(f"console: {m.text}")
            if m.type == "error" and not m.text.startswith(LOAD_FAILED)
            else None
        ),
    )
    page.on("pageerror", lambda e: watch.errors.append(f"pageerror: {e}"))
    page.set_default_timeout(15_000)
    return ctx, page, watch


@pytest.fixture
def shot(tmp_path: Path):
    """shot(page, name): a full-page PNG into $TOLLGATE_UI_SCREENSHOTS, else the test's tmp dir."""
    folder = Path(os.environ.get(SHOTS_ENV) or tmp_path)
    if not folder.is_absolute():
        folder = ROOT / folder
    folder.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.evaluate("document.getElementById('toast').className = ''")  # no passing status line
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 5000, f"{name}.png is blank"
        return path

    return take
