"""`/ui` serves only its own files, each with the strict Content-Security-Policy, and every file
under api/ui/ is package data (so a wheel carries the dashboard)."""

from __future__ import annotations

import fnmatch
import re
import tomllib

import httpx
import pytest

from api.routers.ui import CSP, asset_path
from tests.ui.conftest import ROOT, LiveUp

UI_DIR = ROOT / "api" / "ui"


@pytest.mark.parametrize(
    "path",
    [
        "../app.py",
        "js/../../app.py",
        ".hidden.js",
        "js/.x.js",
        "a\\b.js",
        "",
        "app.py",
        "js/",
        "/etc/passwd.txt",
        "x\x00.js",
    ],
)
def test_asset_path_refuses_anything_outside_or_unknown(path: str) -> None:
    assert asset_path(path) is None


def test_asset_path_accepts_nested_known_types() -> None:
    assert asset_path("js/pages/overview.js") == ("js", "pages", "overview.js")
    assert asset_path("vendor/uPlot.min.css") == ("vendor", "uPlot.min.css")


def test_every_ui_file_is_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["api"]
    files = [p.relative_to(ROOT / "api").as_posix() for p in UI_DIR.rglob("*") if p.is_file()]
    assert "ui/index.html" in files and "ui/vendor/uPlot.iife.min.js" in files
    missing = [
        f for f in files if not any(fnmatch.fnmatch(f, pat) and f.count("/") == pat.count("/") for pat in patterns)
    ]
    assert missing == []


def test_ui_answers_carry_the_csp_and_nothing_else_is_served(tollgate_up: LiveUp) -> None:
    with httpx.Client(base_url=tollgate_up.url, timeout=30) as c:
        for path in ("/ui", "/ui/js/main.js", "/ui/vendor/uPlot.min.css"):
            r = c.get(path)
            assert r.status_code == 200, path
            assert r.headers["content-security-policy"] == CSP and "default-src 'none'" in CSP
            assert r.headers["x-content-type-options"] == "nosniff"
        assert c.get("/ui/js/main.js").headers["content-type"].startswith("text/javascript")
        slash = c.get("/ui/")
        assert slash.status_code == 308 and slash.headers["location"] == "/ui"
        assert '<script type="module" src="/ui/js/main.js">' in c.get("/ui").text
        for bad in ("/ui/..%2fapp.py", "/ui/%2e%2e/%2e%2e/pyproject.toml", "/ui/nope.js", "/ui/js/../../routers/ui.py"):
            r = c.get(bad)
            assert r.status_code == 404, bad
            assert "Tollgate" not in r.text
        text = "".join(p.read_text() for p in UI_DIR.rglob("*") if p.suffix in (".html", ".js", ".css"))
        loads = re.findall(
            r"""(?:src|href)=["']?(?:https?:)?//|from\s*["'](?:https?:)?//|import\(\s*["'](?:https?:)?//"""
            r"""|fetch\(\s*["'`](?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import""",
            text,
        )
        assert loads == []
