// @tollgate/client: the Tollgate management API with the Flashback client's method names and
// argument shapes. Types come from Tollgate's OpenAPI document (src/schema.ts); the only runtime
// dependency is the global `fetch` (Node 18+, browsers, Deno, Bun).
import type * as T from './types.js';

export type * from './types.js';
export type { components, paths, operations } from './schema.js';

export interface TollgateClientOptions {
  /** A management API token (`tgm_...`, from `createApiToken` or `POST /user/token`) or a login access token. */
  apiKey?: string;
  /** Where Tollgate's management API answers, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** A `fetch` to use instead of the global one (tests, proxies). */
  fetch?: typeof fetch;
  /** Extra headers sent with every call. */
  headers?: Record<string, string>;
}

/** Any non-2xx answer: `status` and the parsed body (`{success:false, message}` from Tollgate). */
export class TollgateError extends Error {
  readonly status: number;
  readonly statusText: string;
  readonly body: unknown;

  constructor(status: number, statusText: string, body: unknown) {
    const detail = typeof body === 'object' && body !== null && 'message' in body
      ? String((body as { message: unknown }).message) : statusText;
    super(`HTTP ${status}: ${detail}`);
    this.name = 'TollgateError';
    this.status = status;
    this.statusText = statusText;
    this.body = body;
  }

  /** The Flashback client calls the body `data`. */
  get data(): unknown {
    return this.body;
  }
}

type Query = Record<string, string | number | boolean | string[] | Date | undefined | null>;

function queryString(query?: Query): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      if (value.length > 0) params.append(name, value.join(','));
    } else if (value instanceof Date) {
      params.append(name, value.toISOString());
    } else if (value !== '') {
      params.append(name, String(value));
    }
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

const seg = encodeURIComponent;

export class TollgateClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly extraHeaders: Record<string, string>;
  private token: string | undefined;

  constructor(options: TollgateClientOptions) {
    if (!options || !options.baseUrl) throw new TypeError('TollgateClient needs { baseUrl }');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.apiKey || undefined;
    this.extraHeaders = { ...(options.headers ?? {}) };
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') throw new TypeError('no fetch available: pass { fetch }');
    this.fetchImpl = f;
  }

  /** Use this bearer token from now on (a login access token or an API token); null forgets it. */
  setAuthToken = (token: string | null): void => {
    this.token = token ?? undefined;
  };

  private async request<R>(method: string, path: string, body?: unknown, query?: Query): Promise<R> {
    const headers: Record<string, string> = { accept: 'application/json', ...this.extraHeaders };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await this.fetchImpl(`${this.baseUrl}${path}${queryString(query)}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    if (!response.ok) throw new TollgateError(response.status, response.statusText, parsed);
    return parsed as R;
  }

  // ---- health, login, users, API tokens

  health = (): Promise<T.HealthResponse> => this.request('GET', '/health');

  userLogin = (data: T.LoginBody): Promise<T.LoginResponse> => this.request('POST', '/user/login', data);

  /** Single use: keep the answer's `refreshToken`, the one sent is spent. */
  userRefresh = (refreshToken: string): Promise<T.RefreshTokenResponse> =>
    this.request('POST', '/user/refresh', { refresh_token: refreshToken });

  userLogout = (refreshToken: string): Promise<T.MessageResponse> =>
    this.request('POST', '/user/logout', { refresh_token: refreshToken });

  updateUser = (userId: string, data: T.UserUpdateRequest): Promise<T.MessageResponse> =>
    this.request('PUT', `/user/${seg(userId)}`, data);

  getMe = (): Promise<T.UserResponse> => this.request('GET', '/user/me');

  createUser = (data: T.CreateUserRequest): Promise<T.UserResponse> => this.request('POST', '/user', data);

  createApiToken = (data: T.CreateApiTokenRequest): Promise<T.CreateApiTokenResponse> =>
    this.request('POST', '/user/token', data);

  getApiTokens = (): Promise<T.GetApiTokensResponse> => this.request('GET', '/user/token');

  revokeApiToken = (tokenId: string): Promise<T.MessageResponse> =>
    this.request('DELETE', `/user/token/${seg(tokenId)}`);

  // ---- workspaces

  createWorkspace = (request: T.CreateWorkspaceRequest): Promise<T.WorkspaceResponse> =>
    this.request('POST', '/workspace', request);

  getWorkspaces = (): Promise<T.GetWorkspacesResponse> => this.request('GET', '/workspace');

  getWorkspace = (id: string): Promise<T.WorkspaceResponse> => this.request('GET', `/workspace/${seg(id)}`);

  updateWorkspace = (id: string, request: T.UpdateWorkspaceRequest): Promise<T.WorkspaceResponse> =>
    this.request('PUT', `/workspace/${seg(id)}`, request);

  deleteWorkspace = (id: string): Promise<T.MessageResponse> => this.request('DELETE', `/workspace/${seg(id)}`);

  addUserToWorkspace = (workspaceId: string, request: T.AddUserToWorkspaceRequest): Promise<T.MessageResponse> =>
    this.request('POST', `/workspace/${seg(workspaceId)}/users`, request);

  updateWorkspaceUserRole = (workspaceId: string, userId: string, request: T.UpdateUserRoleRequest):
    Promise<T.MessageResponse> => this.request('PUT', `/workspace/${seg(workspaceId)}/users/${seg(userId)}`, request);

  removeUserFromWorkspace = (workspaceId: string, userId: string): Promise<T.MessageResponse> =>
    this.request('DELETE', `/workspace/${seg(workspaceId)}/users/${seg(userId)}`);

  // ---- AI LLM configurations

  createAiLlm = (data: T.CreateAiLlmRequest): Promise<T.CreateAiLlmResponse> => this.request('POST', '/ai/llm', data);

  getAiLlms = (workspaceId?: string): Promise<T.GetAiLlmsResponse> =>
    this.request('GET', '/ai/llm', undefined, { workspaceId });

  getAvailableAiLlms = (): Promise<T.GetAiLlmsResponse> => this.request('GET', '/ai/llm/available');

  updateAiLlm = (id: string, data: T.UpdateAiLlmRequest): Promise<T.UpdateAiLlmResponse> =>
    this.request('PUT', `/ai/llm/${seg(id)}`, data);

  deleteAiLlm = (id: string): Promise<T.MessageResponse> => this.request('DELETE', `/ai/llm/${seg(id)}`);

  validateAiLlm = (id: string): Promise<T.ValidateAiLlmResponse> =>
    this.request('POST', `/ai/llm/${seg(id)}/validate`);

  getAiLlmStats = (aiLlmId?: string): Promise<T.AiLlmStatsResponse> =>
    this.request('GET', '/ai/llm/stats', undefined, { aiLlmId });

  // ---- repositories (the Flashback client's `*StorageRepo*` names are aliases below)

  createRepo = (data: T.CreateRepoRequest): Promise<T.CreateRepoResponse> => this.request('POST', '/repo', data);

  getRepos = (workspaceId?: string, repoId?: string): Promise<T.GetReposResponse> =>
    this.request('GET', '/repo', undefined, { workspaceId, repoId });

  /** One repository; a TollgateError 404 when it does not exist or is not visible. */
  getRepo = async (repoId: string): Promise<{ success: boolean; repo: T.RepoDTO }> => {
    const { repos } = await this.getRepos(undefined, repoId);
    const repo = repos.find((r) => r.id === repoId);
    if (!repo) throw new TollgateError(404, 'Not Found', { success: false, message: 'Repository not found' });
    return { success: true, repo };
  };

  updateRepo = (repoId: string, data: T.UpdateRepoRequest): Promise<T.MessageResponse> =>
    this.request('PUT', `/repo/${seg(repoId)}`, data);

  deleteRepo = (repoId: string): Promise<T.MessageResponse> => this.request('DELETE', `/repo/${seg(repoId)}`);

  createStorageRepo = (data: T.CreateRepoRequest): Promise<T.CreateRepoResponse> => this.createRepo(data);

  getStorageRepos = (workspaceId?: string, _walletAddress?: string, repoId?: string): Promise<T.GetReposResponse> =>
    this.getRepos(workspaceId, repoId);

  getStorageRepo = (repoId: string): Promise<{ success: boolean; repo: T.RepoDTO }> => this.getRepo(repoId);

  updateStorageRepo = (repoId: string, data: T.UpdateRepoRequest): Promise<T.MessageResponse> =>
    this.updateRepo(repoId, data);

  deleteStorageRepo = (repoId: string): Promise<T.MessageResponse> => this.deleteRepo(repoId);

  // ---- repository AI API keys

  createRepoAiApiKey = (repoId: string, data: T.CreateRepoAiApiKeyRequest): Promise<T.CreateRepoAiApiKeyResponse> =>
    this.request('POST', `/repo/${seg(repoId)}/ai/apikey`, data);

  getRepoAiApiKeys = (repoId: string): Promise<T.GetRepoAiApiKeysResponse> =>
    this.request('GET', `/repo/${seg(repoId)}/ai/apikey`);

  updateRepoAiApiKey = (repoId: string, apikeyId: string, data: T.UpdateRepoAiApiKeyRequest):
    Promise<T.MessageResponse> => this.request('PUT', `/repo/${seg(repoId)}/ai/apikey/${seg(apikeyId)}`, data);

  deleteRepoAiApiKey = (repoId: string, apikeyId: string): Promise<T.MessageResponse> =>
    this.request('DELETE', `/repo/${seg(repoId)}/ai/apikey/${seg(apikeyId)}`);

  // ---- policies, violations, alerts

  createPolicy = (data: T.CreatePolicyRequest): Promise<T.PolicyResponse> => this.request('POST', '/policy', data);

  getPolicies = (query: T.GetPoliciesQuery = {}): Promise<T.GetPoliciesResponse> =>
    this.request('GET', '/policy', undefined, { ...query });

  getPolicy = (policyId: string): Promise<T.PolicyResponse> => this.request('GET', `/policy/${seg(policyId)}`);

  updatePolicy = (policyId: string, data: T.UpdatePolicyRequest): Promise<T.PolicyResponse> =>
    this.request('PUT', `/policy/${seg(policyId)}`, data);

  deletePolicy = (policyId: string): Promise<T.MessageResponse> => this.request('DELETE', `/policy/${seg(policyId)}`);

  getPolicyViolations = (query: T.GetPolicyViolationsQuery = {}): Promise<T.GetPolicyViolationsResponse> =>
    this.request('GET', '/policy/violations', undefined, { ...query });

  getPolicyViolationsByPolicyId = (policyId: string, query: Omit<T.GetPolicyViolationsQuery, 'policyId'> = {}):
    Promise<T.GetPolicyViolationsResponse> =>
    this.request('GET', `/policy/${seg(policyId)}/violations`, undefined, { ...query });

  getPolicyAlerts = (query: T.GetPolicyAlertsQuery = {}): Promise<T.GetPolicyAlertsResponse> =>
    this.request('GET', '/policy/alerts', undefined, { ...query });

  getPolicyAlertsByPolicyId = (policyId: string, query: Omit<T.GetPolicyAlertsQuery, 'policyId'> = {}):
    Promise<T.GetPolicyAlertsResponse> =>
    this.request('GET', `/policy/${seg(policyId)}/alerts`, undefined, { ...query });

  // ---- usage statistics

  getAiStatsMinute = (params: T.AiStatsQueryParams = {}): Promise<T.AiStatsResponse> =>
    this.request('GET', '/aistats/minute', undefined, { ...params });

  getAiStatsDaily = (params: T.AiStatsQueryParams = {}): Promise<T.AiStatsResponse> =>
    this.request('GET', '/aistats/daily', undefined, { ...params });
}

/** The seeds' snippet says `new FlashbackClient({ apiKey, baseUrl })`: the same class. */
export { TollgateClient as FlashbackClient };
export default TollgateClient;
