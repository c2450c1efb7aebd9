"""One validated Settings object, read from the environment (names from the contract).

Embedded defaults need no services: SQLite + chdb in the data dir, in-process bus.
Secrets that are not given are generated once into the data dir with mode 0600.
"""

from __future__ import annotations

import base64
import os
import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _read_or_create_secret(path: Path, nbytes: int = 32) -> bytes:
    """Return the base64-decoded secret in `path`, creating it (0600) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        value = base64.b64encode(secrets.token_bytes(nbytes))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, value + b"\n")
        finally:
            os.close(fd)
    return base64.b64decode(path.read_bytes().strip())


def secure_data_dir(path: Path) -> None:
    """The data dir holds secrets and prompt text (event log): owner-only. From now on this
    process creates files 0600 and directories 0700 (umask 077); the dir itself and what is
    already in it are tightened too (an existing install written with 0644 is fixed)."""
    os.umask(0o077)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    for root, dirs, files in os.walk(path):
        for d in dirs:
            _chmod(os.path.join(root, d), 0o700)
        for f in files:
            _chmod(os.path.join(root, f), 0o600)


def _chmod(p: str, mode: int) -> None:
    try:
        if not os.path.islink(p):
            os.chmod(p, mode)
    except OSError:
        pass


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOLLGATE_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = None
    kafka_bootstrap: str | None = None
    clickhouse_url: str | None = None
    secret_key: str | None = Field(default=None, repr=False)
    admin_email: str | None = None
    admin_password: str | None = Field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = 8080

    # Beyond the contract table; all optional.
    jwt_secret: str | None = Field(default=None, repr=False)
    access_token_ttl_s: int = 3600
    refresh_token_ttl_s: int = 30 * 24 * 3600
    validate_timeout_s: float = 10.0
    upstream_timeout_s: float = 120.0
    raw_ttl_days: int = 400
    spool_max_bytes: int = 512 * 1024 * 1024
    snapshot_poll_s: float = 0.05
    gateway_id: str | None = None
    # `tollgate gateway` / `up`: gateway worker processes sharing the port (SO_REUSEPORT), each
    # its own runtime (`up` adds one main process for the engine, consumers and API).
    workers: int = Field(default=1, ge=1, le=64)
    # Where the durable event log lives (unset: data_dir); worker k > 0 keeps its own below it.
    eventlog_dir: Path | None = None
    max_body_bytes: int = 8 * 1024 * 1024
    # HTTP client to providers: h1 (default: asyncio + httptools), aiohttp, aiohttp-lean or httpx.
    upstream_transport: str = Field(default="h1", pattern="^(h1|aiohttp|aiohttp-lean|httpx)$")
    # Provider endpoints on private/loopback networks (comma-separated CIDRs or host names);
    # empty: only public addresses. Link-local/metadata are refused whatever this says.
    allow_private_endpoints: str = ""
    # HTTP limits (431 / 408 / 503): request head size, time to receive the head and the body,
    # idle keep-alive, concurrent connections per process.
    max_header_bytes: int = 64 * 1024
    header_timeout_s: float = 30.0
    body_timeout_s: float = 30.0
    keep_alive_timeout_s: int = 5
    max_connections: int = 2048
    # Content rules (RE2, linear time): how much request text they scan (longer text is judged
    # a match by blocking content rules: fail closed) and how many patterns one scope may hold.
    policy_max_scan_chars: int = 1_000_000
    policy_max_patterns_per_scope: int = 200
    # Budgets: output tokens reserved for a request without max_tokens whose model's output cap
    # is unknown (no published cap in pricing/output_caps.py, no maxOutputTokens override).
    budget_default_output_tokens: int = Field(default=4096, ge=1, le=10_000_000)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @cached_property
    def secret_key_bytes(self) -> bytes:
        """The AEAD key that seals provider secrets (32 bytes)."""
        if self.secret_key:
            try:
                raw = base64.b64decode(self.secret_key, validate=True)
            except Exception as exc:  # noqa: BLE001 - never echo the value
                raise ValueError("TOLLGATE_SECRET_KEY must be base64 of 32 bytes") from exc
            if len(raw) != 32:
                raise ValueError("TOLLGATE_SECRET_KEY must be base64 of 32 bytes")
            return raw
        return _read_or_create_secret(self.data_dir / "secret.key")

    @cached_property
    def jwt_secret_bytes(self) -> bytes:
        """Signing key for access/refresh tokens."""
        if self.jwt_secret:
            return self.jwt_secret.encode()
        return _read_or_create_secret(self.data_dir / "jwt.key")

    @property
    def sqlalchemy_url(self) -> str:
        """Async SQLAlchemy URL; plain postgres URLs are mapped to asyncpg."""
        url = self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'tollgate.db'}"
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                url = "postgresql+asyncpg://" + url[len(prefix) :]
        if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
            url = "sqlite+aiosqlite://" + url[len("sqlite://") :]
        return url

    @property
    def resolved_gateway_id(self) -> str:
        return self.gateway_id or f"{os.uname().nodename}-{os.getpid()}"
