// Names for the generated OpenAPI types (src/schema.ts, from docs/openapi.json; `npm run gen`),
// under the Flashback client's names where it has one.
import type { components } from './schema.js';

type S = components['schemas'];

export type AiType = S['AiType'];
export type WorkspaceRole = S['WorkspaceRole'];
export type OrgRole = S['OrgRole'];
export type ErrorResponse = S['ErrorResponse'];
export type MessageResponse = S['MessageResponse'];
export type HealthResponse = S['HealthResponse'];

export type LoginBody = S['LoginBody'];
export type LoginResponse = S['LoginResponse'];
export type RefreshTokenResponse = S['LoginResponse'];
export type UserDTO = S['UserDTO'];
export type UserResponse = S['UserResponse'];
export type CreateUserRequest = S['CreateUserBody'];
export type UserUpdateRequest = S['UpdateUserBody'];

export type CreateApiTokenRequest = S['CreateTokenBody'];
export type CreateApiTokenResponse = S['ApiTokenCreated'];
export type ApiTokenDTO = S['ApiTokenDTO'];
export type GetApiTokensResponse = S['ApiTokenList'];

export type WorkspaceDTO = S['WorkspaceDTO'];
export type CreateWorkspaceRequest = S['WorkspaceBody'];
export type UpdateWorkspaceRequest = S['WorkspaceUpdateBody'];
export type WorkspaceResponse = S['WorkspaceResponse'];
export type GetWorkspacesResponse = S['WorkspaceList'];
export type AddUserToWorkspaceRequest = S['AddMemberBody'];
export type UpdateUserRoleRequest = S['RoleBody'];

export type AiLlmDTO = S['AiLlmDTO'];
export type CreateAiLlmRequest = S['AiLlmCreate'];
export type UpdateAiLlmRequest = S['AiLlmUpdate'];
export type CreateAiLlmResponse = S['AiLlmChanged'];
export type UpdateAiLlmResponse = S['AiLlmChanged'];
export type GetAiLlmsResponse = S['AiLlmList'];
export type ValidateAiLlmResponse = S['ValidateResponse'];
export type AiLlmStatsResponse = S['AiLlmStatsResponse'];
export type AiLlmStatsRow = S['AiLlmStatsRow'];

export type RepoDTO = S['RepoDTO'];
export type CreateRepoRequest = S['RepoCreate'];
export type UpdateRepoRequest = S['RepoUpdate'];
export type CreateRepoResponse = S['RepoCreated'];
export type GetReposResponse = S['RepoList'];

export type RepoAiApiKeyDTO = S['RepoApiKeyDTO'];
export type CreateRepoAiApiKeyRequest = S['ApiKeyCreate'];
export type CreateRepoAiApiKeyResponse = S['RepoApiKeyCreated'];
export type UpdateRepoAiApiKeyRequest = S['ApiKeyUpdate'];
export type GetRepoAiApiKeysResponse = S['RepoApiKeyList'];

export type PolicyDTO = S['PolicyDTO'];
export type CreatePolicyRequest = S['PolicyCreate'];
export type UpdatePolicyRequest = S['PolicyUpdate'];
export type PolicyResponse = S['PolicyResponse'];
export type GetPoliciesResponse = S['PolicyList'];
export type ViolationDTO = S['ViolationDTO'];
export type GetPolicyViolationsResponse = S['ViolationPage'];
export type GetPolicyAlertsResponse = S['AlertPage'];

export type AiStatsResponse = S['AiStatsResponse'];
export type AiStatsRow = S['AiStatsRow'];

/** `getPolicies`: as the Flashback client; `orgId` may be left out (the caller's org). */
export interface GetPoliciesQuery {
  orgId?: string;
  workspaceId?: string;
  repoId?: string;
}

/** `getPolicyViolations` / `getPolicyAlerts` filters (lists are sent comma-joined). */
export interface GetPolicyViolationsQuery {
  workspaceId?: string;
  repoId?: string;
  policyId?: string;
  from?: string;
  to?: string;
  take?: number;
  skip?: number;
  llmModel?: string[];
  severity?: string[];
  block?: boolean;
}
export type GetPolicyAlertsQuery = GetPolicyViolationsQuery;

/** `getAiStatsMinute` / `getAiStatsDaily`: dates as `Date` (as the Flashback client) or ISO text. */
export interface AiStatsQueryParams {
  startDate?: Date | string;
  endDate?: Date | string;
  repoId?: string[];
  aiLlmId?: string[];
  repoAiApiKeyId?: string[];
  llmModel?: string[];
}
