"""The Flashback reference client, unmodified (bundled by esbuild), against a live `tollgate up`.

`flashback_roundtrip.cjs` calls every AI LLM, repository AI API key, policy, workspace, login
and aistats method of the client (and `updateUser`) that Tollgate serves, checking each answer, with real traffic
through `/v1` in between so violations, alerts and stats have rows. The list below is the
exact set it must have called; docs/flashback-compat.md lists what is not served and why.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.clients.conftest import ROOT, run_node_tool

REFERENCE = ROOT / "clients" / "reference" / "flashbackclient"
SERVED = {
    "userLogin",
    "userRefresh",
    "userLogout",
    "updateUser",
    "createWorkspace",
    "getWorkspaces",
    "getWorkspace",
    "updateWorkspace",
    "deleteWorkspace",
    "addUserToWorkspace",
    "updateWorkspaceUserRole",
    "removeUserFromWorkspace",
    "createAiLlm",
    "getAiLlms",
    "getAvailableAiLlms",
    "updateAiLlm",
    "deleteAiLlm",
    "validateAiLlm",
    "getAiLlmStats",
    "createStorageRepo",
    "getStorageRepos",
    "deleteStorageRepo",
    "createRepoAiApiKey",
    "getRepoAiApiKeys",
    "updateRepoAiApiKey",
    "deleteRepoAiApiKey",
    "createPolicy",
    "getPolicies",
    "getPolicy",
    "updatePolicy",
    "deletePolicy",
    "getPolicyViolations",
    "getPolicyViolationsByPolicyId",
    "getPolicyAlerts",
    "getPolicyAlertsByPolicyId",
    "getAiStatsMinute",
    "getAiStatsDaily",
}


def test_reference_copy_is_unmodified() -> None:
    """The copy in the repository equals the seeds' copy, when that is beside the checkout."""
    for shared in (ROOT.parent / "shared", ROOT.parent.parent / "shared"):
        seed = shared / "reference" / "flashbackclient"
        if seed.is_dir():
            break
    else:
        seed = None
    ours = sorted(p.relative_to(REFERENCE) for p in REFERENCE.rglob("*") if p.is_file())
    assert Path("src/api/client.ts") in ours and len(ours) > 40
    if seed is not None:
        theirs = sorted(p.relative_to(seed) for p in seed.rglob("*") if p.is_file())
        assert ours == theirs
        for rel in ours:
            assert (REFERENCE / rel).read_bytes() == (seed / rel).read_bytes(), rel


def test_flashback_client_round_trips_every_served_method(ts_dir, tollgate_up, tmp_path) -> None:
    bundle = tmp_path / "flashbackclient.cjs"
    run_node_tool(
        [
            str(ts_dir / "node_modules" / ".bin" / "esbuild"),
            "src/api/index.ts",
            "--bundle",
            "--platform=node",
            "--format=cjs",
            f"--outfile={bundle}",
            "--log-level=warning",
        ],
        REFERENCE,
        timeout=120,
    )
    env = {
        **os.environ,
        "BUNDLE": str(bundle),
        "BASE_URL": tollgate_up.url,
        "ADMIN_EMAIL": tollgate_up.admin_email,
        "ADMIN_PASSWORD": tollgate_up.admin_password,
        "PROVIDER_ENDPOINT": tollgate_up.fake.endpoints["OPENAI"],
        "PROVIDER_SECRET": tollgate_up.fake.creds.openai_key,
    }
    proc = run_node_tool(
        [shutil.which("node") or "node", str(Path(__file__).with_name("flashback_roundtrip.cjs"))],
        tmp_path,
        timeout=240,
        env=env,
    )
    called = set(json.loads(proc.stdout.strip().splitlines()[-1])["called"])
    assert called == SERVED
