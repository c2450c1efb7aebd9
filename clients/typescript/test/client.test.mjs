// @tollgate/client (ESM build) against a live `tollgate up`: every method, real gateway traffic
// in between so violations, alerts and statistics have rows.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { TollgateClient, TollgateError } from '@tollgate/client';
import { BASE_URL, chat, env, gateway, suffix, until } from './support.mjs';

async function rejectsWith(promise, status) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof TollgateError, `expected TollgateError, got ${e}`);
    assert.equal(e.status, status);
    assert.equal(e.body.success, false);
    assert.equal(e.data, e.body);
    assert.ok(typeof e.body.message === 'string' && e.body.message.length > 0);
    assert.match(e.message, new RegExp(`^HTTP ${status}: `));
    return true;
  });
}

test('login, API tokens, and the whole management API through TollgateClient', async () => {
  const s = suffix();
  const anon = new TollgateClient({ baseUrl: BASE_URL + '/' });
  assert.equal((await anon.health()).status, 'ok');
  await rejectsWith(anon.getWorkspaces(), 401);
  await rejectsWith(anon.userLogin({ email: env('ADMIN_EMAIL'), password: 'wrong-password' }), 401);

  const login = await anon.userLogin({ email: env('ADMIN_EMAIL'), password: env('ADMIN_PASSWORD') });
  assert.ok(login.accessToken && login.refreshToken);
  assert.equal(login.token, login.accessToken);
  const refreshed = await anon.userRefresh(login.refreshToken);
  assert.ok(refreshed.accessToken);
  await rejectsWith(anon.userRefresh(login.refreshToken), 401); // spent; its login is revoked
  const second = await anon.userLogin({ email: env('ADMIN_EMAIL'), password: env('ADMIN_PASSWORD') });
  assert.equal((await anon.userLogout(second.refreshToken)).success, true);
  await rejectsWith(anon.userRefresh(second.refreshToken), 401);
  anon.setAuthToken(refreshed.accessToken);
  const me = await anon.getMe();
  assert.equal(me.user.email, env('ADMIN_EMAIL'));
  const orgId = me.user.orgId;

  // the seed's constructor: { apiKey, baseUrl } with a management API token
  const created = await anon.createApiToken({ name: `ts-${s}` });
  assert.ok(created.token.startsWith('tgm_'));
  const api = new TollgateClient({ apiKey: created.token, baseUrl: BASE_URL });
  const tokens = await api.getApiTokens();
  const listed = tokens.tokens.find((t) => t.id === created.id);
  assert.equal(listed.name, `ts-${s}`);
  assert.ok(!JSON.stringify(tokens).includes(created.token), 'a token is shown only once');

  // workspaces and members
  const ws = await api.createWorkspace({ name: `ts-${s}` });
  const wsId = ws.workspace.id;
  assert.equal(ws.workspace.orgId, orgId);
  assert.ok((await api.getWorkspaces()).workspaces.some((w) => w.id === wsId));
  assert.equal((await api.updateWorkspace(wsId, { name: `ts-renamed-${s}` })).workspace.name, `ts-renamed-${s}`);
  assert.equal((await api.getWorkspace(wsId)).workspace.name, `ts-renamed-${s}`);
  await rejectsWith(api.createWorkspace({ name: `ts-renamed-${s}` }), 409);
  await rejectsWith(api.getWorkspace('00000000-0000-4000-8000-000000000000'), 404);
  const member = await api.createUser({ email: `ts-${s}@example.test`, password: `pw-${s}-long-enough`, name: 'M' });
  assert.equal((await api.addUserToWorkspace(wsId, { userId: member.user.id, role: 'READ' })).success, true);
  assert.equal((await api.updateWorkspaceUserRole(wsId, member.user.id, { role: 'WRITE' })).success, true);
  assert.equal((await api.removeUserFromWorkspace(wsId, member.user.id)).success, true);
  assert.equal((await api.updateUser(member.user.id, { name: 'Renamed' })).success, true);
  await rejectsWith(api.updateUser('00000000-0000-4000-8000-000000000000', { name: 'X' }), 404);

  // AI LLM configurations: the seed's seven methods
  const llm = await api.createAiLlm({
    name: `openai-${s}`, aiType: 'OPENAI', endpoint: env('PROVIDER_ENDPOINT'),
    secret: env('PROVIDER_SECRET'), workspaceId: wsId,
  });
  const llmId = llm.aiLlmId;
  const dto = (await api.getAiLlms(wsId)).aiLlms.find((l) => l.id === llmId);
  assert.equal(dto.validationStatus, 'UNVALIDATED');
  assert.ok(dto.key === null || !dto.key.includes(env('PROVIDER_SECRET')));
  assert.ok((await api.getAiLlms()).aiLlms.some((l) => l.id === llmId), 'listed without a workspace filter');
  assert.ok(!(await api.getAvailableAiLlms()).aiLlms.some((l) => l.id === llmId), 'not validated yet');
  const valid = await api.validateAiLlm(llmId);
  assert.equal(valid.success, true, valid.message);
  assert.ok((await api.getAvailableAiLlms()).aiLlms.some((l) => l.id === llmId));
  assert.equal((await api.updateAiLlm(llmId, { name: `openai-main-${s}` })).aiLlmId, llmId);
  await rejectsWith(api.createAiLlm({ name: `openai-main-${s}`, aiType: 'OPENAI',
    endpoint: env('PROVIDER_ENDPOINT'), secret: env('PROVIDER_SECRET'), workspaceId: wsId }), 409);
  await rejectsWith(api.createAiLlm({ name: 'bad', aiType: 'NOPE', secret: 'x', workspaceId: wsId }), 400);

  // a repository and its key
  const repoId = (await api.createRepo({ name: `app-${s}`, workspaceId: wsId, repoAiLlms: [{ aiLlmId: llmId }] })).repoId;
  assert.deepEqual((await api.getRepo(repoId)).repo.aiLlms.map((l) => l.id), [llmId]);
  assert.ok((await api.getStorageRepos(wsId)).repos.some((r) => r.id === repoId));
  assert.equal((await api.updateRepo(repoId, { name: `app-renamed-${s}` })).success, true);
  assert.equal((await api.getStorageRepo(repoId)).repo.name, `app-renamed-${s}`);
  await rejectsWith(api.getRepo('00000000-0000-4000-8000-000000000000'), 404);
  const key = await api.createRepoAiApiKey(repoId, { name: 'k1', aiType: 'OPENAI' });
  assert.ok(key.secret.startsWith(key.key));
  assert.deepEqual((await api.getRepoAiApiKeys(repoId)).apiKeys.map((k) => k.id), [key.id]);
  assert.equal((await api.updateRepoAiApiKey(repoId, key.id, { name: 'k1-renamed' })).success, true);
  assert.equal((await api.getRepoAiApiKeys(repoId)).apiKeys[0].name, 'k1-renamed');

  // policies
  const block = await api.createPolicy({ name: `deny-${s}`, content: 'no gpt-4o', riskType: 'HIGH', actionType: 2,
    orgId, workspaceId: wsId, repoId, rule: { type: 'MODEL_DENYLIST', models: ['gpt-4o'] } });
  const alert = await api.createPolicy({ name: `watch-${s}`, content: 'the watch word', riskType: 'LOW', actionType: 1,
    orgId, workspaceId: wsId, rule: { type: 'CONTENT_PATTERN', patterns: ['watchword'], detectors: [] } });
  const policies = await api.getPolicies({ workspaceId: wsId });
  assert.deepEqual(new Set(policies.policies.map((p) => p.id)), new Set([block.policy.id, alert.policy.id]));
  assert.equal((await api.getPolicy(block.policy.id)).policy.riskType, 'HIGH');
  assert.equal((await api.updatePolicy(alert.policy.id, { content: 'the watchword' })).policy.content, 'the watchword');

  // traffic through the gateway with the repository key
  await until('key reaches the gateway', () => gateway(key.secret, 'GET', '/v1/models'), (r) => r.status === 200);
  await until('policy reaches the gateway', () => chat(key.secret, 'gpt-4o', 'hi'), (r) => r.status === 403);
  assert.equal((await chat(key.secret, 'gpt-4o-mini', 'hello')).status, 200);
  assert.equal((await chat(key.secret, 'gpt-4o-mini', 'the watchword')).status, 200);

  const violations = await until('violation', () => api.getPolicyViolations({ workspaceId: wsId, block: true }),
    (r) => r.total >= 1);
  assert.ok(violations.violations.every((v) => v.block && v.policyId === block.policy.id));
  assert.equal((await api.getPolicyViolationsByPolicyId(block.policy.id, { take: 5 })).total, 1);
  assert.equal((await api.getPolicyViolations({ workspaceId: wsId, policyId: alert.policy.id, block: true })).total, 0);
  const alerts = await until('alert', () => api.getPolicyAlerts({ workspaceId: wsId }), (r) => r.total >= 1);
  assert.equal(alerts.alerts[0].policyId, alert.policy.id);
  assert.equal((await api.getPolicyAlertsByPolicyId(alert.policy.id)).total, 1);

  const stats = await until('config stats', () => api.getAiLlmStats(llmId),
    (r) => r.stats.length === 1 && Number(r.stats[0].totalApiCalls) >= 2);
  assert.ok(Number(stats.stats[0].totalTokensIn) > 0);
  const range = { startDate: new Date(Date.now() - 3600e3), endDate: new Date(Date.now() + 120e3), repoId: [repoId] };
  const minute = await until('minute series', () => api.getAiStatsMinute(range),
    (r) => r.data.reduce((n, row) => n + Number(row.apiCalls), 0) >= 2);
  assert.ok(minute.data.every((row) => row.repoId === repoId));
  const daily = await api.getAiStatsDaily({ ...range, startDate: range.startDate.toISOString(), llmModel: ['gpt-4o-mini'] });
  assert.ok(daily.data.length >= 1 && daily.data.every((row) => row.llmModel === 'gpt-4o-mini'));
  await rejectsWith(api.getAiStatsMinute({ startDate: new Date(), endDate: new Date(Date.now() - 3600e3) }), 400);

  // removal
  await rejectsWith(api.deleteAiLlm(llmId), 403);
  assert.equal((await api.deleteRepoAiApiKey(repoId, key.id)).success, true);
  await until('deleted key refused', () => gateway(key.secret, 'GET', '/v1/models'), (r) => r.status === 401);
  assert.equal((await api.deletePolicy(block.policy.id)).success, true);
  assert.equal((await api.deletePolicy(alert.policy.id)).success, true);
  assert.equal((await api.deleteRepo(repoId)).success, true);
  assert.equal((await api.deleteAiLlm(llmId)).success, true);
  assert.equal((await api.deleteWorkspace(wsId)).success, true);
  await rejectsWith(api.getWorkspace(wsId), 404);

  // a revoked token is refused at once
  assert.equal((await anon.revokeApiToken(created.id)).success, true);
  await rejectsWith(api.getWorkspaces(), 401);
});
