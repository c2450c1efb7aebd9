"""The README's tour, as written, against a live `tollgate up`, twice (a second run must not
collide with the first). Only the `pip install openai` into the tour's own environment is
replaced by a check that the SDK is importable (no package download in the suite)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.clients.conftest import ROOT, LiveUp
from tests.support.secrets import capture_text


def tour_script() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## A short tour") :]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "the tour's sh block"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_readme_tour_runs_twice(tollgate_up: LiveUp, tmp_path: Path) -> None:
    script = tour_script()
    assert "tour-env/bin/pip install -q openai" in script and ".venv/bin/pip" not in script
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    bin_dir = tmp_path / "tour-env" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "pip").write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "import openai"\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    port = tollgate_up.url.rsplit(":", 1)[1]
    env = {
        **os.environ,
        "TOLLGATE_ALLOW_PRIVATE_ENDPOINTS": "127.0.0.0/8",
        "TOLLGATE_PORT": port,
        "FAKE_PORT": str(free_port()),
        "TOLLGATE_ADMIN_EMAIL": tollgate_up.admin_email,
        "TOLLGATE_ADMIN_PASSWORD": tollgate_up.admin_password,
    }
    for run in (1, 2):
        proc = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=120)
        finally:
            try:  # a failed run leaves the fake provider behind: end the whole process group
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        capture_text(out + err, "README tour output")
        assert proc.returncode == 0, f"run {run}:\n{out[-3000:]}\n{err[-3000:]}"
        lines = out.strip().splitlines()
        assert '"success":true' in lines[0].replace(" ", ""), lines[0]  # validate
        content, tokens_in, tokens_out = lines[-2].rsplit(" ", 2)
        assert content and int(tokens_in) > 0 and int(tokens_out) > 0
        assert '"totalApiCalls":"1"' in lines[-1].replace(" ", ""), lines[-1]
