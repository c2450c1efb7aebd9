"""The data dir (secrets, the config store, the event log with prompt text) is owner-only:
0700 for directories, 0600 for files, also for an install written earlier with 0644."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.test_cli import run

pytestmark = pytest.mark.integration  # runs the CLI as a child process


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def test_data_dir_and_its_files_are_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "old").mkdir(parents=True)
    os.chmod(data, 0o755)
    os.chmod(data / "old", 0o755)
    legacy = data / "old" / "events.log"
    legacy.write_text("prompt text")
    os.chmod(legacy, 0o644)
    p = run(["migrate"], data)
    assert p.returncode == 0, p.stderr
    files = [f for f in data.rglob("*") if f.is_file()]
    assert any(f.name == "tollgate.db" for f in files)
    assert _mode(data) == 0o700
    for f in data.rglob("*"):
        assert _mode(f) == (0o700 if f.is_dir() else 0o600), (f, oct(_mode(f)))
