"""`tollgate` CLI through real subprocesses with a temp data dir."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from store.migrate import head_revision
from tests.support import postgres as pg
from tests.support.secrets import capture_text, register_secret

pytestmark = pytest.mark.integration  # child processes / real services

TOLLGATE = [sys.executable, "-m", "tollgate.cli"]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
    env.update(
        {
            "TOLLGATE_DATA_DIR": str(data_dir),
            "TOLLGATE_LOG_LEVEL": "WARNING",
            "TOLLGATE_ALLOW_PRIVATE_ENDPOINTS": "127.0.0.0/8",
        }
    )
    env.update(extra)
    return env


def run(args: list[str], data_dir: Path, **extra: str) -> subprocess.CompletedProcess:
    p = subprocess.run(
        TOLLGATE + args, env=_env(data_dir, **extra), capture_output=True, text=True, timeout=120, cwd="/"
    )  # not the repo: migrations must come from the package
    capture_text(p.stdout + p.stderr, f"subprocess tollgate {args[:2]}")
    return p


def test_migrate_creates_the_store(tmp_path: Path) -> None:
    p = run(["migrate"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert f"revision {head_revision()}" in p.stdout
    assert (tmp_path / "tollgate.db").exists()
    again = run(["migrate"], tmp_path)
    assert again.returncode == 0, again.stderr


@pytest.mark.postgres
def test_migrate_on_postgres(tmp_path: Path) -> None:
    db_url = pg.create_database(pg.base_url_or_skip(), "cli")
    p = run(["migrate"], tmp_path, TOLLGATE_DATABASE_URL=db_url)
    assert p.returncode == 0, p.stderr
    assert not (tmp_path / "tollgate.db").exists()


def test_admin_create_user_then_login_through_tollgate_up(tmp_path: Path) -> None:
    password = "cli-password-7781"
    register_secret(password)
    p = run(["admin", "create-user", "--email", "Ops@Example.test", "--password", password, "--name", "Ops"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "ops@example.test" in p.stdout and "role OWNER" in p.stdout
    assert password not in p.stdout + p.stderr
    dup = run(["admin", "create-user", "--email", "ops@example.test", "--password", password], tmp_path)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    member = run(
        ["admin", "create-user", "--email", "m@example.test", "--password", password, "--org-role", "USER"], tmp_path
    )
    assert member.returncode == 0, member.stderr
    org_of = lambda out: out.split(" org ")[1].split()[0]  # noqa: E731
    assert org_of(member.stdout) == org_of(p.stdout)  # joins the existing org by default
    other = run(
        ["admin", "create-user", "--email", "x@example.test", "--password", password, "--new-org", "Other"], tmp_path
    )
    assert other.returncode == 0 and org_of(other.stdout) != org_of(p.stdout)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        TOLLGATE + ["up"],
        env=_env(tmp_path, TOLLGATE_PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd="/",
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "tollgate up did not become healthy"
            time.sleep(0.1)
        r = httpx.post(url + "/user/login", json={"email": "ops@example.test", "password": password})
        assert r.status_code == 200 and r.json()["user"]["orgRole"] == "OWNER"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        capture_text(out, "subprocess tollgate up")
    # uvicorn shuts down gracefully, then re-raises the captured SIGTERM
    assert proc.returncode in (0, -signal.SIGTERM), out


def test_up_creates_first_owner_from_env(tmp_path: Path) -> None:
    """Same bootstrap as `up`, exercised via `migrate` + the env admin on a real start."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    password = "env-admin-password-1"
    register_secret(password)
    proc = subprocess.Popen(
        TOLLGATE + ["api"],
        env=_env(
            tmp_path,
            TOLLGATE_PORT=str(port),
            TOLLGATE_ADMIN_EMAIL="root@example.test",
            TOLLGATE_ADMIN_PASSWORD=password,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd="/",
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert httpx.get(url + "/health").json()["role"] == "api"
        r = httpx.post(url + "/user/login", json={"email": "root@example.test", "password": password})
        assert r.status_code == 200 and r.json()["user"]["orgRole"] == "OWNER"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        capture_text(out, "subprocess tollgate api")
    assert password not in out


@pytest.mark.parametrize(
    "args",
    [
        ["admin", "create-user", "--email", "a@example.test", "--password", "short"],
        ["admin", "create-user", "--email", "not-an-email", "--password", "long-enough-1"],
        ["admin", "create-user", "--email", "a@example.test", "--password", "long-enough-1", "--org-role", "KING"],
        ["consume", "nothing"],
        ["frobnicate"],
        [],
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    assert run(args, tmp_path).returncode == 2


def test_invalid_settings_exit_2_without_echoing_values(tmp_path: Path) -> None:
    p = run(["migrate"], tmp_path, TOLLGATE_PORT="not-a-port-secretish")
    assert p.returncode == 2
    assert "port" in p.stderr and "secretish" not in p.stderr


def test_unknown_org_id_exit_1(tmp_path: Path) -> None:
    p = run(
        [
            "admin",
            "create-user",
            "--email",
            "a@example.test",
            "--password",
            "long-enough-1",
            "--org-id",
            "00000000-0000-0000-0000-000000000000",
        ],
        tmp_path,
    )
    assert p.returncode == 1 and "no org" in p.stderr


def test_consume_metering_refuses_the_embedded_engine(tmp_path: Path) -> None:
    """A separate consumer on the embedded engine would take partitions into a private store."""
    p = run(["consume", "metering"], tmp_path, TOLLGATE_KAFKA_BOOTSTRAP="127.0.0.1:1")
    assert p.returncode == 2
    assert "needs a ClickHouse server" in p.stderr and "TOLLGATE_CLICKHOUSE_URL" in p.stderr
    assert not any(tmp_path.glob("chdb*")) and not (tmp_path / "clickhouse").exists()
