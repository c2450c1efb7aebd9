"""The generated docs (`docs/openapi.json`, `docs/api-reference.md`, `docs/settings.md`) match the
code, and every setting and route they describe is really there."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def expected(gen_docs: ModuleType) -> dict[Path, str]:
    return gen_docs.outputs()


def test_committed_docs_are_current(gen_docs: ModuleType, expected: dict[Path, str]) -> None:
    assert {p.name for p in expected} == {"openapi.json", "api-reference.md", "settings.md", "types.py"}
    assert gen_docs.stale(expected) == [], "docs are stale: run .venv/bin/python scripts/gen_docs.py"


def test_the_check_notices_a_drift(gen_docs: ModuleType, expected: dict[Path, str], tmp_path: Path) -> None:
    """A setting added to the code without regenerating makes the check fail."""
    settings = next(p for p in expected if p.name == "settings.md")
    copy = tmp_path / "settings.md"
    copy.write_text(expected[settings])
    assert gen_docs.stale({copy: expected[settings]}) == []
    assert gen_docs.stale({copy: expected[settings] + "| `TOLLGATE_NEW` | new | unset |\n"}) == [copy]
    assert gen_docs.stale({tmp_path / "missing.md": "x"}) == [tmp_path / "missing.md"]


def test_every_setting_is_documented(gen_docs: ModuleType, expected: dict[Path, str]) -> None:
    table = expected[ROOT / "docs" / "settings.md"]
    fields = gen_docs.Settings.model_fields
    assert "(undocumented)" not in table
    documented = set(re.findall(r"^\| `(TOLLGATE_[A-Z0-9_]+)` \|", table, re.M))
    assert documented == {f"TOLLGATE_{name.upper()}" for name in fields}


def test_reference_lists_every_operation_of_the_document(expected: dict[Path, str]) -> None:
    doc = json.loads(expected[ROOT / "docs" / "openapi.json"])
    reference = expected[ROOT / "docs" / "api-reference.md"]
    ops = [(m.upper(), p) for p, item in doc["paths"].items() for m in item]
    assert ("POST", "/v1/chat/completions") in ops and ("POST", "/user/token") in ops
    for method, path in ops:
        assert f"`{method} {path}`" in reference, (method, path)
    for item in doc["paths"].values():
        for op in item.values():
            assert "422" not in op["responses"]


def test_hand_written_docs_exist_and_link_targets_resolve() -> None:
    docs = ROOT / "docs"
    for name in ("providers.md", "flashback-compat.md", "settings.md", "api-reference.md"):
        assert (docs / name).is_file(), name
    providers = (docs / "providers.md").read_text()
    for ai_type in ("OPENAI", "OTHER", "ANTHROPIC", "GOOGLE", "AWS"):
        assert f"`{ai_type}`" in providers
    for md in docs.glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+)\)", md.read_text()):
            assert (md.parent / target).exists(), f"{md.name} links to missing {target}"
