# fmt: off
"""Response and request types of the Tollgate API, generated from its OpenAPI document
(`docs/openapi.json`) by `scripts/gen_docs.py`; do not edit by hand."""
from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict  # noqa: F401


class AddMemberBody(TypedDict):
    userId: str
    role: WorkspaceRole


class AiLlmChanged(TypedDict):
    success: bool
    aiLlmId: str
    message: NotRequired[str | None]


class AiLlmCreate(TypedDict):
    name: str
    aiType: AiType
    endpoint: NotRequired[str]
    secret: str
    key: NotRequired[str | None]
    workspaceId: str
    region: NotRequired[str | None]
    prices: NotRequired[dict[str, Any] | None]


class AiLlmDTO(TypedDict):
    id: str
    orgId: str
    workspaceId: str
    userId: str | None
    name: str
    aiType: Literal["OPENAI", "GOOGLE", "ANTHROPIC", "AWS", "OTHER"]
    endpoint: str
    key: str | None
    createdAt: str
    repos: list[RepoRef]
    validationStatus: Literal["UNVALIDATED", "VALID", "INVALID"]
    lastValidatedAt: str | None
    lastValidationMessage: str | None
    region: str | None
    updatedAt: str
    prices: NotRequired[dict[str, Any]]


class AiLlmList(TypedDict):
    success: bool
    aiLlms: list[AiLlmDTO]


class AiLlmStatsResponse(TypedDict):
    success: bool
    stats: list[AiLlmStatsRow]


class AiLlmStatsRow(TypedDict):
    aiLlmId: str
    totalApiCalls: str
    totalTokensIn: str
    totalTokensOut: str
    totalLlmTokensIn: str
    totalLlmTokensOut: str
    totalPolicyViolations: str
    totalAlerts: str
    totalBlocks: str
    totalCost: NotRequired[str | None]
    totalCachedTokensIn: NotRequired[str | None]
    totalCacheWriteTokensIn: NotRequired[str | None]
    totalReasoningTokensOut: NotRequired[str | None]
    totalUnpricedCalls: NotRequired[str | None]
    totalLlmCost: NotRequired[str | None]


class AiLlmUpdate(TypedDict):
    name: NotRequired[str | None]
    aiType: NotRequired[AiType | None]
    endpoint: NotRequired[str | None]
    secret: NotRequired[str | None]
    key: NotRequired[str | None]
    region: NotRequired[str | None]
    prices: NotRequired[dict[str, Any] | None]


class AiStatsResponse(TypedDict):
    success: bool
    data: list[AiStatsRow]
    truncated: bool


class AiStatsRow(TypedDict):
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
    cost: NotRequired[str | None]
    cachedTokensIn: NotRequired[str | None]
    unpricedCalls: NotRequired[str | None]
    llmCost: NotRequired[str | None]


AiType = Literal["OPENAI", "GOOGLE", "ANTHROPIC", "AWS", "OTHER"]


class AlertPage(TypedDict):
    success: bool
    violations: list[ViolationDTO]
    total: int
    skip: int
    take: int
    alerts: list[ViolationDTO]


class AnthropicError(TypedDict):
    type: Literal["error"]
    error: dict[str, Any]


class ApiKeyCreate(TypedDict):
    name: str
    aiType: AiType


class ApiKeyUpdate(TypedDict):
    name: str


class ApiTokenCreated(TypedDict):
    success: bool
    id: str
    token: str


class ApiTokenDTO(TypedDict):
    id: str
    name: str
    createdAt: str
    lastUsedAt: str | None
    expiresAt: str | None


class ApiTokenList(TypedDict):
    success: bool
    tokens: list[ApiTokenDTO]


class ChatCompletion(TypedDict):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: NotRequired[Usage]


class ChatCompletionRequest(TypedDict):
    model: str
    messages: list[dict[str, Any]]
    stream: NotRequired[bool]
    stream_options: NotRequired[dict[str, Any]]
    tools: NotRequired[list[dict[str, Any]]]
    response_format: NotRequired[dict[str, Any]]
    max_tokens: NotRequired[int]
    max_completion_tokens: NotRequired[int]
    metadata: NotRequired[dict[str, Any]]


class CountTokensRequest(TypedDict):
    model: str
    messages: list[dict[str, Any]]


class CountTokensResponse(TypedDict):
    input_tokens: int


class CreateTokenBody(TypedDict):
    name: str
    expiresAt: NotRequired[str | None]


class CreateUserBody(TypedDict):
    email: str
    password: str
    name: str
    orgRole: NotRequired[OrgRole]


class EmbeddingsRequest(TypedDict):
    model: str
    input: str | list[Any]
    encoding_format: NotRequired[Literal["float", "base64"]]


class EmbeddingsResponse(TypedDict):
    object: Literal["list"]
    model: str
    data: list[dict[str, Any]]
    usage: NotRequired[Usage]


class ErrorResponse(TypedDict):
    success: Literal[False]
    message: str


class HealthResponse(TypedDict):
    success: bool
    status: Literal["ok", "starting"]
    role: NotRequired[str | None]
    message: NotRequired[str | None]


class LoginBody(TypedDict):
    email: str
    password: str
    orgId: NotRequired[str | None]


class LoginResponse(TypedDict):
    success: bool
    accessToken: str
    token: str
    refreshToken: str
    expiresIn: int
    expiresAt: int
    tokenId: str
    user: UserDTO


class MessageResponse(TypedDict):
    success: bool
    message: str


class MessagesRequest(TypedDict):
    model: str
    messages: list[dict[str, Any]]
    max_tokens: int
    system: NotRequired[str | list[Any]]
    stream: NotRequired[bool]


class Model(TypedDict):
    id: str
    object: Literal["model"]
    created: NotRequired[int]
    owned_by: NotRequired[str]


class ModelList(TypedDict):
    object: Literal["list"]
    data: list[Model]


class OpenAIError(TypedDict):
    error: dict[str, Any]


OrgRole = Literal["USER", "BILLING", "WORKSPACES", "ADMINISTRATORS", "OWNER"]


class PolicyCreate(TypedDict):
    name: str
    content: NotRequired[str | None]
    riskType: RiskTypeName
    actionType: Literal[0, 1, 2]
    orgId: str
    workspaceId: NotRequired[str | None]
    repoId: NotRequired[str | None]
    rule: NotRequired[dict[str, Any] | None]


class PolicyDTO(TypedDict):
    id: str
    orgId: str
    name: str
    content: str
    riskType: Literal["LOW", "MEDIUM", "HIGH"]
    actionType: Literal[0, 1, 2]
    workspaceId: str | None
    repoId: str | None
    createdAt: str
    lastUpdatedAt: str
    rule: dict[str, Any] | None


class PolicyList(TypedDict):
    success: bool
    policies: list[PolicyDTO]


class PolicyResponse(TypedDict):
    success: bool
    policy: PolicyDTO


class PolicyUpdate(TypedDict):
    name: NotRequired[str | None]
    content: NotRequired[str | None]
    riskType: NotRequired[RiskTypeName | None]
    actionType: NotRequired[Literal[0, 1, 2] | None]
    rule: NotRequired[dict[str, Any] | None]


class RefreshBody(TypedDict):
    refreshToken: str


class RepoAiLlm(TypedDict):
    id: str
    name: str
    aiType: Literal["OPENAI", "GOOGLE", "ANTHROPIC", "AWS", "OTHER"]


class RepoAiLlmRef(TypedDict):
    aiLlmId: str


class RepoApiKeyCreated(TypedDict):
    success: bool
    id: str
    key: str
    secret: str


class RepoApiKeyDTO(TypedDict):
    id: str
    name: str
    repoId: str
    key: str
    aiType: Literal["OPENAI", "GOOGLE", "ANTHROPIC", "AWS", "OTHER"]
    createdAt: str
    lastUsedAt: str | None


class RepoApiKeyList(TypedDict):
    success: bool
    apiKeys: list[RepoApiKeyDTO]


class RepoCreate(TypedDict):
    name: str
    workspaceId: str
    repoAiLlms: NotRequired[list[RepoAiLlmRef]]


class RepoCreated(TypedDict):
    success: bool
    repoId: str


class RepoDTO(TypedDict):
    id: str
    name: str
    workspaceId: str
    endpointType: Literal["OPENAI"]
    aiLlms: list[RepoAiLlm]
    createdAt: str
    disabled: bool


class RepoList(TypedDict):
    success: bool
    repos: list[RepoDTO]


class RepoRef(TypedDict):
    id: str
    name: str
    createdAt: str


class RepoUpdate(TypedDict):
    name: NotRequired[str | None]
    repoAiLlms: NotRequired[list[RepoAiLlmRef] | None]
    disabled: NotRequired[bool | None]


class ResponsesRequest(TypedDict):
    model: str
    input: str | list[Any]
    stream: NotRequired[bool]
    instructions: NotRequired[str]
    max_output_tokens: NotRequired[int]


RiskTypeName = Literal["LOW", "MEDIUM", "HIGH"]


class RoleBody(TypedDict):
    role: WorkspaceRole


class UpdateUserBody(TypedDict):
    name: NotRequired[str | None]
    lastName: NotRequired[str | None]
    password: NotRequired[str | None]


class Usage(TypedDict):
    prompt_tokens: NotRequired[int]
    completion_tokens: NotRequired[int]
    total_tokens: NotRequired[int]


class UserDTO(TypedDict):
    id: str
    email: str
    name: str
    orgId: str
    orgRole: Literal["USER", "BILLING", "WORKSPACES", "ADMINISTRATORS", "OWNER"]


class UserResponse(TypedDict):
    success: bool
    user: UserDTO


class ValidateResponse(TypedDict):
    success: bool
    message: str


class ViolationDTO(TypedDict):
    id: str
    policyId: str
    policyName: str
    timestamp: str
    explanation: NotRequired[str | None]
    message: NotRequired[str | None]
    conversationId: str | None
    repoId: str | None
    repoName: str | None
    userId: str | None
    repoAiApiKeyId: str | None
    repoAiApiKeyName: str | None
    severity: Literal["LOW", "MEDIUM", "HIGH"] | None
    block: bool
    llmType: str | None
    llmModel: str | None
    host: str | None


class ViolationPage(TypedDict):
    success: bool
    violations: list[ViolationDTO]
    total: int
    skip: int
    take: int


class WorkspaceBody(TypedDict):
    name: str


class WorkspaceDTO(TypedDict):
    id: str
    name: str
    orgId: str
    role: NotRequired[Literal["READ", "WRITE", "ADMIN"] | None]


class WorkspaceList(TypedDict):
    success: bool
    workspaces: list[WorkspaceDTO]


class WorkspaceResponse(TypedDict):
    success: bool
    workspace: WorkspaceDTO


WorkspaceRole = Literal["READ", "WRITE", "ADMIN"]


class WorkspaceUpdateBody(TypedDict):
    name: NotRequired[str | None]
    judgeAiLlmId: NotRequired[str | None]
    judgeModel: NotRequired[str | None]
