"""The checks engineers expect, run by the suite: ruff (lint and format) over the repository and
mypy --strict over the pure packages (pricing, schemas, policy, adapters, metering processor)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # child processes

ROOT = Path(__file__).resolve().parents[1]
STRICT = [
    "schemas",
    "policy",
    "pricing",
    "producers/adapters",
    "producers/translate",
    "consumers/metering.py",
    "consumers/metering_decode.py",
    "warehouse/columnar.py",
    "warehouse/tables.py",
]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_lint_is_clean() -> None:
    r = _run("ruff", "check", ".")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def test_ruff_format_is_clean() -> None:
    r = _run("ruff", "format", "--check", ".")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def test_mypy_strict_on_the_pure_packages() -> None:
    r = _run("mypy", "--strict", "--ignore-missing-imports", "--follow-imports=silent", *STRICT)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
