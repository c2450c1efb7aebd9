"""Fixtures for the client tests: one real `tollgate up` subprocess and the npm toolchain.

- ``tollgate_up`` (package scope): ``python -m tollgate.cli up`` on a temp data dir, with the
  fake upstream as provider; shared by the Flashback-client, TypeScript-client and Python-client
  tests, so the package starts one server.
- ``ts_dir`` (session): ``clients/typescript`` with its npm dev dependencies installed
  (``npm ci`` when ``node_modules`` is missing; ``scripts/test.sh`` does it up front).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakeupstream import FakeUpstream
from tests.support.secrets import capture_text, register_secret
from tests.test_up_embedded import ADMIN, UpProcess

ROOT = Path(__file__).resolve().parents[2]
TS_DIR = ROOT / "clients" / "typescript"


@dataclass
class LiveUp:
    url: str
    admin_email: str
    admin_password: str
    fake: FakeUpstream


@pytest.fixture(scope="package")
def tollgate_up(tmp_path_factory: pytest.TempPathFactory, fake_upstream: FakeUpstream) -> Iterator[LiveUp]:
    register_secret(ADMIN[1])
    register_secret(fake_upstream.creds.openai_key)
    up = UpProcess(tmp_path_factory.mktemp("clients-up") / "data")
    try:
        up.start()
        yield LiveUp(up.url, ADMIN[0], ADMIN[1], fake_upstream)
        up.stop()
    finally:
        up.kill_if_running()


def run_node_tool(args: list[str], cwd: Path, timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a node/npm command; its output goes through the secret scan; fails with the output."""
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    capture_text(proc.stdout + proc.stderr, f"{Path(args[0]).name} output")
    assert proc.returncode == 0, (
        f"{' '.join(args[:3])} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    )
    return proc


@pytest.fixture(scope="session")
def ts_dir() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed (.ci/run installs them from Debian)")
    installed = TS_DIR / "node_modules" / ".package-lock.json"
    if (
        not (TS_DIR / "node_modules" / ".bin" / "tsc").exists()
        or not installed.exists()
        or installed.stat().st_mtime < (TS_DIR / "package-lock.json").stat().st_mtime
    ):
        run_node_tool([npm, "ci", "--no-audit", "--no-fund"], TS_DIR, timeout=600)
    return TS_DIR
