"""Pure: every management API operation, named as the Flashback client names it (snake_case),
built as a `Call`. `client.py` binds them to a sync and an async transport."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from . import types as T
from .calls import Call, query, seg
from .errors import TollgateError

# ---- health, login, users, API tokens


def health() -> Call[T.HealthResponse]:
    return Call("GET", "/health")


def user_login(email: str, password: str, org_id: str | None = None) -> Call[T.LoginResponse]:
    body: dict[str, Any] = {"email": email, "password": password}
    if org_id is not None:
        body["orgId"] = org_id  # only needed when the email and password open accounts in several orgs
    return Call("POST", "/user/login", body)


def user_refresh(refresh_token: str) -> Call[T.LoginResponse]:
    """Single use: keep the `refreshToken` of the answer, the one sent is spent."""
    return Call("POST", "/user/refresh", {"refresh_token": refresh_token})


def user_logout(refresh_token: str) -> Call[T.MessageResponse]:
    return Call("POST", "/user/logout", {"refresh_token": refresh_token})


def update_user(user_id: str, data: T.UpdateUserBody) -> Call[T.MessageResponse]:
    return Call("PUT", f"/user/{seg(user_id)}", data)


def get_me() -> Call[T.UserResponse]:
    return Call("GET", "/user/me")


def create_user(data: T.CreateUserBody) -> Call[T.UserResponse]:
    return Call("POST", "/user", data)


def create_api_token(name: str, expires_at: str | None = None) -> Call[T.ApiTokenCreated]:
    body: dict[str, Any] = {"name": name}
    if expires_at is not None:
        body["expiresAt"] = expires_at
    return Call("POST", "/user/token", body)


def get_api_tokens() -> Call[T.ApiTokenList]:
    return Call("GET", "/user/token")


def revoke_api_token(token_id: str) -> Call[T.MessageResponse]:
    return Call("DELETE", f"/user/token/{seg(token_id)}")


# ---- workspaces


def create_workspace(data: T.WorkspaceBody) -> Call[T.WorkspaceResponse]:
    return Call("POST", "/workspace", data)


def get_workspaces() -> Call[T.WorkspaceList]:
    return Call("GET", "/workspace")


def get_workspace(workspace_id: str) -> Call[T.WorkspaceResponse]:
    return Call("GET", f"/workspace/{seg(workspace_id)}")


def update_workspace(workspace_id: str, data: T.WorkspaceUpdateBody) -> Call[T.WorkspaceResponse]:
    return Call("PUT", f"/workspace/{seg(workspace_id)}", data)


def delete_workspace(workspace_id: str) -> Call[T.MessageResponse]:
    return Call("DELETE", f"/workspace/{seg(workspace_id)}")


def add_user_to_workspace(workspace_id: str, data: T.AddMemberBody) -> Call[T.MessageResponse]:
    return Call("POST", f"/workspace/{seg(workspace_id)}/users", data)


def update_workspace_user_role(workspace_id: str, user_id: str, data: T.RoleBody) -> Call[T.MessageResponse]:
    return Call("PUT", f"/workspace/{seg(workspace_id)}/users/{seg(user_id)}", data)


def remove_user_from_workspace(workspace_id: str, user_id: str) -> Call[T.MessageResponse]:
    return Call("DELETE", f"/workspace/{seg(workspace_id)}/users/{seg(user_id)}")


# ---- AI LLM configurations


def create_ai_llm(data: T.AiLlmCreate) -> Call[T.AiLlmChanged]:
    return Call("POST", "/ai/llm", data)


def get_ai_llms(workspace_id: str | None = None) -> Call[T.AiLlmList]:
    return Call("GET", "/ai/llm", params=query({"workspaceId": workspace_id}))


def get_available_ai_llms() -> Call[T.AiLlmList]:
    return Call("GET", "/ai/llm/available")


def update_ai_llm(ai_llm_id: str, data: T.AiLlmUpdate) -> Call[T.AiLlmChanged]:
    return Call("PUT", f"/ai/llm/{seg(ai_llm_id)}", data)


def delete_ai_llm(ai_llm_id: str) -> Call[T.MessageResponse]:
    return Call("DELETE", f"/ai/llm/{seg(ai_llm_id)}")


def validate_ai_llm(ai_llm_id: str) -> Call[T.ValidateResponse]:
    return Call("POST", f"/ai/llm/{seg(ai_llm_id)}/validate")


def get_ai_llm_stats(ai_llm_id: str | None = None, workspace_id: str | None = None) -> Call[T.AiLlmStatsResponse]:
    return Call("GET", "/ai/llm/stats", params=query({"aiLlmId": ai_llm_id, "workspaceId": workspace_id}))


# ---- repositories and their AI API keys


def create_repo(data: T.RepoCreate) -> Call[T.RepoCreated]:
    return Call("POST", "/repo", data)


def get_repos(workspace_id: str | None = None, repo_id: str | None = None) -> Call[T.RepoList]:
    return Call("GET", "/repo", params=query({"workspaceId": workspace_id, "repoId": repo_id}))


def _one_repo(repo_id: str) -> Any:
    def pick(answer: T.RepoList) -> T.RepoDTO:
        for repo in answer["repos"]:
            if repo["id"] == repo_id:
                return repo
        raise TollgateError(404, {"success": False, "message": "Repository not found"})

    return pick


def get_repo(repo_id: str) -> Call[T.RepoDTO]:
    """One repository (404 TollgateError when missing or not visible)."""
    return Call("GET", "/repo", params=query({"repoId": repo_id}), pick=_one_repo(repo_id))


def update_repo(repo_id: str, data: T.RepoUpdate) -> Call[T.MessageResponse]:
    return Call("PUT", f"/repo/{seg(repo_id)}", data)


def delete_repo(repo_id: str) -> Call[T.MessageResponse]:
    return Call("DELETE", f"/repo/{seg(repo_id)}")


def create_repo_ai_api_key(repo_id: str, data: T.ApiKeyCreate) -> Call[T.RepoApiKeyCreated]:
    return Call("POST", f"/repo/{seg(repo_id)}/ai/apikey", data)


def get_repo_ai_api_keys(repo_id: str) -> Call[T.RepoApiKeyList]:
    return Call("GET", f"/repo/{seg(repo_id)}/ai/apikey")


def update_repo_ai_api_key(repo_id: str, apikey_id: str, data: T.ApiKeyUpdate) -> Call[T.MessageResponse]:
    return Call("PUT", f"/repo/{seg(repo_id)}/ai/apikey/{seg(apikey_id)}", data)


def delete_repo_ai_api_key(repo_id: str, apikey_id: str) -> Call[T.MessageResponse]:
    return Call("DELETE", f"/repo/{seg(repo_id)}/ai/apikey/{seg(apikey_id)}")


# ---- policies, violations, alerts


def create_policy(data: T.PolicyCreate) -> Call[T.PolicyResponse]:
    return Call("POST", "/policy", data)


def get_policies(
    org_id: str | None = None, workspace_id: str | None = None, repo_id: str | None = None
) -> Call[T.PolicyList]:
    return Call("GET", "/policy", params=query({"orgId": org_id, "workspaceId": workspace_id, "repoId": repo_id}))


def get_policy(policy_id: str) -> Call[T.PolicyResponse]:
    return Call("GET", f"/policy/{seg(policy_id)}")


def update_policy(policy_id: str, data: T.PolicyUpdate) -> Call[T.PolicyResponse]:
    return Call("PUT", f"/policy/{seg(policy_id)}", data)


def delete_policy(policy_id: str) -> Call[T.MessageResponse]:
    return Call("DELETE", f"/policy/{seg(policy_id)}")


def _findings(
    workspace_id: str | None,
    repo_id: str | None,
    policy_id: str | None,
    from_: str | None,
    to: str | None,
    take: int | None,
    skip: int | None,
    llm_model: Sequence[str] | None,
    severity: Sequence[str] | None,
    block: bool | None,
) -> dict[str, str]:
    return query(
        {
            "workspaceId": workspace_id,
            "repoId": repo_id,
            "policyId": policy_id,
            "from": from_,
            "to": to,
            "take": take,
            "skip": skip,
            "llmModel": llm_model,
            "severity": severity,
            "block": block,
        }
    )


def get_policy_violations(
    workspace_id: str | None = None,
    repo_id: str | None = None,
    policy_id: str | None = None,
    from_: str | None = None,
    to: str | None = None,
    take: int | None = None,
    skip: int | None = None,
    llm_model: Sequence[str] | None = None,
    severity: Sequence[str] | None = None,
    block: bool | None = None,
) -> Call[T.ViolationPage]:
    return Call(
        "GET",
        "/policy/violations",
        params=_findings(workspace_id, repo_id, policy_id, from_, to, take, skip, llm_model, severity, block),
    )


def get_policy_violations_by_policy_id(
    policy_id: str,
    workspace_id: str | None = None,
    repo_id: str | None = None,
    from_: str | None = None,
    to: str | None = None,
    take: int | None = None,
    skip: int | None = None,
    llm_model: Sequence[str] | None = None,
    severity: Sequence[str] | None = None,
    block: bool | None = None,
) -> Call[T.ViolationPage]:
    return Call(
        "GET",
        f"/policy/{seg(policy_id)}/violations",
        params=_findings(workspace_id, repo_id, None, from_, to, take, skip, llm_model, severity, block),
    )


def get_policy_alerts(
    workspace_id: str | None = None,
    repo_id: str | None = None,
    policy_id: str | None = None,
    from_: str | None = None,
    to: str | None = None,
    take: int | None = None,
    skip: int | None = None,
    llm_model: Sequence[str] | None = None,
    severity: Sequence[str] | None = None,
    block: bool | None = None,
) -> Call[T.AlertPage]:
    return Call(
        "GET",
        "/policy/alerts",
        params=_findings(workspace_id, repo_id, policy_id, from_, to, take, skip, llm_model, severity, block),
    )


def get_policy_alerts_by_policy_id(
    policy_id: str,
    workspace_id: str | None = None,
    repo_id: str | None = None,
    from_: str | None = None,
    to: str | None = None,
    take: int | None = None,
    skip: int | None = None,
    llm_model: Sequence[str] | None = None,
    severity: Sequence[str] | None = None,
    block: bool | None = None,
) -> Call[T.AlertPage]:
    return Call(
        "GET",
        f"/policy/{seg(policy_id)}/alerts",
        params=_findings(workspace_id, repo_id, None, from_, to, take, skip, llm_model, severity, block),
    )


# ---- usage statistics


def _series(
    grain: str,
    start_date: datetime | str | None,
    end_date: datetime | str | None,
    repo_id: Sequence[str] | None,
    ai_llm_id: Sequence[str] | None,
    repo_ai_api_key_id: Sequence[str] | None,
    llm_model: Sequence[str] | None,
) -> Call[T.AiStatsResponse]:
    return Call(
        "GET",
        f"/aistats/{grain}",
        params=query(
            {
                "startDate": start_date,
                "endDate": end_date,
                "repoId": repo_id,
                "aiLlmId": ai_llm_id,
                "repoAiApiKeyId": repo_ai_api_key_id,
                "llmModel": llm_model,
            }
        ),
    )


def get_ai_stats_minute(
    start_date: datetime | str | None = None,
    end_date: datetime | str | None = None,
    repo_id: Sequence[str] | None = None,
    ai_llm_id: Sequence[str] | None = None,
    repo_ai_api_key_id: Sequence[str] | None = None,
    llm_model: Sequence[str] | None = None,
) -> Call[T.AiStatsResponse]:
    return _series("minute", start_date, end_date, repo_id, ai_llm_id, repo_ai_api_key_id, llm_model)


def get_ai_stats_daily(
    start_date: datetime | str | None = None,
    end_date: datetime | str | None = None,
    repo_id: Sequence[str] | None = None,
    ai_llm_id: Sequence[str] | None = None,
    repo_ai_api_key_id: Sequence[str] | None = None,
    llm_model: Sequence[str] | None = None,
) -> Call[T.AiStatsResponse]:
    return _series("daily", start_date, end_date, repo_id, ai_llm_id, repo_ai_api_key_id, llm_model)
