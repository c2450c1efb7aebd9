"""`@tollgate/client` (clients/typescript): types current with the OpenAPI document, the tsc build
(ESM + CJS), and its node:test suite against a live `tollgate up` (the ESM and CJS builds, and
the seeds' snippet in examples/)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.clients.conftest import LiveUp, run_node_tool

pytestmark = pytest.mark.integration  # node and npm child processes


def _npm(ts_dir: Path) -> str:
    return shutil.which("npm") or "npm"


def test_types_match_the_openapi_document(ts_dir: Path) -> None:
    """`npm run check-drift` fails when src/schema.ts was not regenerated from docs/openapi.json."""
    run_node_tool([_npm(ts_dir), "run", "--silent", "check-drift"], ts_dir, timeout=120)
    schema = (ts_dir / "src" / "schema.ts").read_text()
    assert '"/ai/llm/{ai_llm_id}/validate"' in schema and "AiLlmCreate: {" in schema


def test_build_and_node_tests_against_a_live_server(ts_dir: Path, tollgate_up: LiveUp) -> None:
    run_node_tool([_npm(ts_dir), "run", "--silent", "build"], ts_dir, timeout=180)
    for built in ("dist/esm/index.js", "dist/esm/index.d.ts", "dist/cjs/index.js", "dist/cjs/package.json"):
        assert (ts_dir / built).is_file(), built
    env = {
        **os.environ,
        "TOLLGATE_URL": tollgate_up.url,
        "ADMIN_EMAIL": tollgate_up.admin_email,
        "ADMIN_PASSWORD": tollgate_up.admin_password,
        "PROVIDER_ENDPOINT": tollgate_up.fake.endpoints["OPENAI"],
        "PROVIDER_SECRET": tollgate_up.fake.creds.openai_key,
    }
    proc = run_node_tool(
        [shutil.which("node") or "node", "--test", "--test-reporter=spec", "test/"], ts_dir, timeout=300, env=env
    )
    out = proc.stdout
    assert "# fail 0" in out or "ℹ fail 0" in out, out[-2000:]
    for name in (
        "the whole management API through TollgateClient",
        "require() gives the same client",
        "the seed snippet runs with an API token",
    ):
        assert name in out, f"{name!r} did not run:\n{out[-2000:]}"
