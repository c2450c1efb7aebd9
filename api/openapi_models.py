"""Response shapes of the management API, for the OpenAPI document (and the generated clients).

Documentation only: the handlers build plain dicts (some encode with orjson for speed), and
`tests/api/test_openapi.py` checks real answers against these schemas. Fields marked optional
are absent in some answers; extra fields may be added over time (clients must ignore them).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

AiTypeName = Literal["OPENAI", "GOOGLE", "ANTHROPIC", "AWS", "OTHER"]
WorkspaceRoleName = Literal["READ", "WRITE", "ADMIN"]
OrgRoleName = Literal["USER", "BILLING", "WORKSPACES", "ADMINISTRATORS", "OWNER"]
RiskTypeName = Literal["LOW", "MEDIUM", "HIGH"]


class ErrorResponse(BaseModel):
    """Every management API error: 400, 401, 403, 404, 409, 413, 429, 500, 503."""

    success: Literal[False]
    message: str


class MessageResponse(BaseModel):
    success: bool
    message: str


class UserDTO(BaseModel):
    id: str
    email: str
    name: str
    orgId: str
    orgRole: OrgRoleName


class LoginResponse(BaseModel):
    """The Flashback client's LoginResponse; `token` equals `accessToken` (older callers)."""

    success: bool
    accessToken: str
    token: str
    refreshToken: str
    expiresIn: int = Field(description="seconds the access token lives")
    expiresAt: int = Field(description="when the access token expires, epoch milliseconds")
    tokenId: str = Field(description="id (jti) of the access token")
    user: UserDTO


class UserResponse(BaseModel):
    success: bool
    user: UserDTO


class ApiTokenCreated(BaseModel):
    success: bool
    id: str
    token: str = Field(description="the bearer token; shown only in this answer")


class ApiTokenDTO(BaseModel):
    id: str
    name: str
    createdAt: str
    lastUsedAt: str | None
    expiresAt: str | None


class ApiTokenList(BaseModel):
    success: bool
    tokens: list[ApiTokenDTO]


class WorkspaceDTO(BaseModel):
    id: str
    name: str
    orgId: str
    role: WorkspaceRoleName | None = Field(default=None, description="the caller's role (lists and get)")


class WorkspaceResponse(BaseModel):
    success: bool
    workspace: WorkspaceDTO


class WorkspaceList(BaseModel):
    success: bool
    workspaces: list[WorkspaceDTO]


class RepoRef(BaseModel):
    id: str
    name: str
    createdAt: str


class AiLlmDTO(BaseModel):
    id: str
    orgId: str
    workspaceId: str
    userId: str | None
    name: str
    aiType: AiTypeName
    endpoint: str
    key: str | None = Field(description="null or a masked hint (last 4 characters at most)")
    createdAt: str
    repos: list[RepoRef]
    validationStatus: Literal["UNVALIDATED", "VALID", "INVALID"]
    lastValidatedAt: str | None
    lastValidationMessage: str | None
    region: str | None
    updatedAt: str
    prices: dict[str, dict[str, str | None]] = Field(
        default_factory=dict,
        description="Price overrides: model glob -> {input, cachedInput, cacheWrite, "
        "output, reasoning}, decimal strings in USD per 1M tokens (null: the plain input/output rate), "
        "and maxOutputTokens (the model's output cap budgets reserve, a whole number as a string) when set",
    )


class AiLlmList(BaseModel):
    success: bool
    aiLlms: list[AiLlmDTO]


class AiLlmChanged(BaseModel):
    success: bool
    aiLlmId: str
    message: str | None = None


class ValidateResponse(BaseModel):
    """Always 200: `success` false when the provider refused the credentials or was unreachable."""

    success: bool
    message: str


class AiLlmStatsRow(BaseModel):
    aiLlmId: str
    totalApiCalls: str
    totalTokensIn: str
    totalTokensOut: str
    totalLlmTokensIn: str
    totalLlmTokensOut: str
    totalPolicyViolations: str
    totalAlerts: str
    totalBlocks: str
    totalCost: str | None = Field(
        default=None,
        description="USD (decimal string) of the calls with a known "
        "price; null when calls had tokens but none had a known price",
    )
    totalCachedTokensIn: str | None = Field(default=None, description="prompt tokens read from the provider's cache")
    totalCacheWriteTokensIn: str | None = Field(default=None, description="prompt tokens written to the cache")
    totalReasoningTokensOut: str | None = Field(
        default=None, description="reasoning (thinking) tokens, included in totalTokensOut"
    )
    totalUnpricedCalls: str | None = Field(
        default=None, description="calls with tokens but no known price (not in totalCost)"
    )
    totalLlmCost: str | None = Field(
        default=None, description="USD of the policy judge's own calls (priced like requests; unknown prices left out)"
    )


class AiLlmStatsResponse(BaseModel):
    success: bool
    stats: list[AiLlmStatsRow]


class AiStatsRow(BaseModel):
    timestamp: str
    repoId: str
    aiLlmId: str
    repoAiApiKeyId: str
    tokensIn: str
    tokensOut: str
    llmTokensIn: str
    llmTokensOut: str
    apiCalls: str
    policyViolations: str
    numAlerts: str
    numBlocks: str
    numSeverityLow: str
    numSeverityMedium: str
    numSeverityHigh: str
    latency_ms: float
    llmType: str
    llmModel: str
    host: str
    cost: str | None = Field(
        default=None, description="USD (decimal string) of the row's calls with a known price; null when none had one"
    )
    cachedTokensIn: str | None = None
    unpricedCalls: str | None = Field(default=None, description="calls with tokens but no known price")
    llmCost: str | None = Field(default=None, description="USD of the policy judge's own calls")


class AiStatsResponse(BaseModel):
    success: bool
    data: list[AiStatsRow]
    truncated: bool = Field(description="true when the row cap cut the series")


class RepoAiLlm(BaseModel):
    id: str
    name: str
    aiType: AiTypeName


class RepoDTO(BaseModel):
    id: str
    name: str
    workspaceId: str
    endpointType: Literal["OPENAI"]
    aiLlms: list[RepoAiLlm] = Field(description="in fallback order")
    createdAt: str
    disabled: bool


class RepoCreated(BaseModel):
    success: bool
    repoId: str


class RepoList(BaseModel):
    success: bool
    repos: list[RepoDTO]


class RepoApiKeyCreated(BaseModel):
    success: bool
    id: str
    key: str = Field(description="public prefix of the secret")
    secret: str = Field(description="the bearer token for /v1; shown only in this answer")


class RepoApiKeyDTO(BaseModel):
    id: str
    name: str
    repoId: str
    key: str
    aiType: AiTypeName
    createdAt: str
    lastUsedAt: str | None


class RepoApiKeyList(BaseModel):
    success: bool
    apiKeys: list[RepoApiKeyDTO]


class PolicyDTO(BaseModel):
    id: str
    orgId: str
    name: str
    content: str
    riskType: RiskTypeName
    actionType: Literal[0, 1, 2] = Field(description="0 log, 1 alert, 2 block")
    workspaceId: str | None
    repoId: str | None
    createdAt: str
    lastUpdatedAt: str
    rule: dict | None = Field(
        description="machine-checkable rule (TOKEN_BUDGET, COST_BUDGET, RATE_LIMIT, "
        "MODEL_ALLOWLIST, MODEL_DENYLIST, CONTENT_PATTERN, MAX_TOKENS)"
    )


class PolicyResponse(BaseModel):
    success: bool
    policy: PolicyDTO


class PolicyList(BaseModel):
    success: bool
    policies: list[PolicyDTO]


class ViolationDTO(BaseModel):
    id: str
    policyId: str
    policyName: str
    timestamp: str
    explanation: str | None = Field(default=None, description="violations")
    message: str | None = Field(default=None, description="alerts")
    conversationId: str | None
    repoId: str | None
    repoName: str | None
    userId: str | None
    repoAiApiKeyId: str | None
    repoAiApiKeyName: str | None
    severity: RiskTypeName | None
    block: bool
    llmType: str | None
    llmModel: str | None
    host: str | None


class ViolationPage(BaseModel):
    success: bool
    violations: list[ViolationDTO]
    total: int
    skip: int
    take: int


class AlertPage(ViolationPage):
    alerts: list[ViolationDTO] = Field(description="the Flashback client's field; `violations` holds the same list")


class HealthResponse(BaseModel):
    success: bool
    status: Literal["ok", "starting"]
    role: str | None = None
    message: str | None = None
