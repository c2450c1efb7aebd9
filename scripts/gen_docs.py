"""Write the generated docs (`docs/openapi.json`, `docs/api-reference.md`, `docs/settings.md`) and
the Python client's types (`clients/python/tollgate_client/types.py`).

    .venv/bin/python scripts/gen_docs.py          # rewrite them
    .venv/bin/python scripts/gen_docs.py --check  # exit 1 when a committed file is stale

`tests/test_docs_current.py` runs the check; the TypeScript client's types are generated from
`docs/openapi.json` (`npm run gen` in clients/typescript, run here too when its npm
dependencies are installed; `npm run check-drift` checks them).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from gen_client_types import python_types  # noqa: E402

from api.openapi import document  # noqa: E402
from core.settings import Settings  # noqa: E402

DOCS = ROOT / "docs"

# What each setting means; a setting missing here is listed with "(undocumented)" so the
# check makes the gap visible.
SETTING_TEXT = {
    "data_dir": "Where embedded state lives (SQLite store, embedded ClickHouse, event log, generated keys)",
    "database_url": "Config store URL (`postgresql://...` or `sqlite:///...`); unset: SQLite file in the data dir",
    "kafka_bootstrap": "Kafka bootstrap servers; unset: the in-process bus (embedded mode)",
    "clickhouse_url": "ClickHouse server (`http://user:pass@host:8123/db`); unset: embedded engine in the data dir",
    "secret_key": "Key that seals provider secrets (base64 of 32 bytes); unset: generated once into the data dir (0600)",
    "admin_email": "First OWNER's email, created at start when no user exists",
    "admin_password": "First OWNER's password",
    "host": "Listen address",
    "port": "Listen port",
    "workers": "Worker processes of `tollgate gateway` on one port (SO_REUSEPORT), each its own runtime and event log",
    "eventlog_dir": "Directory of the durable local event log; unset: the data dir (worker k > 0: `workers/<k>` below it)",
    "upstream_transport": "HTTP client to providers: h1 (asyncio + httptools, lean), aiohttp, aiohttp-lean or httpx",
    "jwt_secret": "Signing key of access and refresh tokens; unset: generated once into the data dir",
    "access_token_ttl_s": "Lifetime of a login access token, seconds",
    "refresh_token_ttl_s": "Lifetime of a refresh token, seconds",
    "validate_timeout_s": "Timeout of `POST /ai/llm/{id}/validate`'s provider call, seconds",
    "upstream_timeout_s": "Timeout of one provider attempt in the gateway, seconds",
    "raw_ttl_days": "Days raw request and violation rows are kept in ClickHouse (rollups stay)",
    "spool_max_bytes": "Bound of the local event log (events not yet shipped or read), bytes; full = 503",
    "snapshot_poll_s": "How often gateways poll the config epoch for changes, seconds",
    "gateway_id": "Name of this gateway in events (`host` in stats); unset: hostname-pid",
    "max_body_bytes": "Largest accepted request body (413 above), bytes",
    "policy_max_scan_chars": "Characters of request text CONTENT_PATTERN rules scan; longer text counts as a "
    "match for blocking content rules (fail closed)",
    "policy_max_patterns_per_scope": "Most CONTENT_PATTERN patterns one scope (org, workspace or repository) may "
    "hold across its policies (400 beyond)",
    "budget_default_output_tokens": "Output tokens a budget reserves for a request without `max_tokens` whose "
    "model's output cap is unknown (not a common family, no `maxOutputTokens` price override)",
    "max_header_bytes": "Largest request line + headers (431 above), bytes",
    "header_timeout_s": "Time to receive a request's headers, from its first byte or the connection's start (408)",
    "body_timeout_s": "Time to receive a request's body once its headers arrived (408)",
    "keep_alive_timeout_s": "Idle keep-alive connections are closed after this many seconds",
    "max_connections": "Concurrent connections per process; beyond, requests get 503",
    "allow_private_endpoints": "Comma-separated CIDRs or host names where provider endpoints may be private "
    "or loopback (empty: public addresses only; link-local/metadata always refused)",
}
SECRET_SETTINGS = {"secret_key", "admin_password", "jwt_secret"}


def settings_md() -> str:
    prefix = Settings.model_config.get("env_prefix", "")
    lines = [
        "# Settings",
        "",
        "Every setting is an environment variable (generated from `core.settings.Settings` by",
        "`scripts/gen_docs.py`; do not edit by hand). The CLI also reads `TOLLGATE_LOG_LEVEL`",
        "(default `INFO`) and `tollgate admin create-user` reads `TOLLGATE_NEW_USER_PASSWORD`.",
        "",
        "| variable | meaning | default |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "unset" if default is None else f"`{default}`"
        if name in SECRET_SETTINGS and default is not None:
            shown = "(secret)"
        text = SETTING_TEXT.get(name, "(undocumented)")
        lines.append(f"| `{(prefix + name).upper()}` | {text} | {shown} |")
    return "\n".join(lines) + "\n"


def _schema_name(content: dict[str, Any]) -> str:
    for media, body in content.items():
        ref = body.get("schema", {}).get("$ref")
        if ref:
            return f"`{ref.rsplit('/', 1)[1]}`"
        return f"`{media}`"
    return ""


def reference_md(doc: dict[str, Any]) -> str:
    lines = [
        "# API reference",
        "",
        "Generated from the OpenAPI document (`docs/openapi.json`, also served at `/openapi.json`;",
        "browse it at `/docs`) by `scripts/gen_docs.py`; do not edit by hand. Schemas are in the",
        "document's `components.schemas`. Management errors are `{success:false,message}`; gateway",
        "errors use the surface's own shape (OpenAI or Anthropic).",
        "",
    ]
    by_tag: dict[str, list[tuple[str, str, dict]]] = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            by_tag.setdefault((op.get("tags") or ["other"])[0], []).append((method.upper(), path, op))
    for tag in sorted(by_tag):
        lines += [f"## {tag}", "", "| call | auth | body | answers |", "|---|---|---|---|"]
        for method, path, op in by_tag[tag]:
            auth = ", ".join(k for s in op.get("security", []) for k in s) or "none"
            body = _schema_name(op["requestBody"]["content"]) if "requestBody" in op else ""
            params = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            call = f"`{method} {path}`" + (f" `?{'&'.join(params)}`" if params else "")
            answers = []
            for code, resp in op["responses"].items():
                answers.append(f"{code} {_schema_name(resp.get('content', {}))}".strip())
            lines.append(f"| {call} | {auth} | {body} | {'; '.join(answers)} |")
        lines.append("")
    return "\n".join(lines)


def outputs() -> dict[Path, str]:
    doc = document()
    return {
        DOCS / "openapi.json": json.dumps(doc, indent=2, sort_keys=False) + "\n",
        DOCS / "api-reference.md": reference_md(doc),
        DOCS / "settings.md": settings_md(),
        ROOT / "clients" / "python" / "tollgate_client" / "types.py": python_types(doc),
    }


def stale(expected: dict[Path, str]) -> list[Path]:
    """The files whose committed text differs from what the code generates now."""
    return [path for path, text in expected.items() if not path.exists() or path.read_text() != text]


def main(argv: list[str]) -> int:
    expected = outputs()
    if "--check" not in argv:
        for path, text in expected.items():
            path.write_text(text)
        ts_dir = ROOT / "clients" / "typescript"
        if (ts_dir / "node_modules" / ".bin" / "openapi-typescript").exists():
            subprocess.run(["npm", "run", "--silent", "gen"], cwd=ts_dir, check=True)
        return 0
    old = stale(expected)
    if old:
        print("stale (run scripts/gen_docs.py):", ", ".join(str(p.relative_to(ROOT)) for p in old))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
