// Drives a live Tollgate with the Flashback reference client, bundled unmodified by esbuild.
//   node flashback_roundtrip.cjs   (env: BUNDLE, BASE_URL, ADMIN_EMAIL, ADMIN_PASSWORD,
//                                  PROVIDER_ENDPOINT, PROVIDER_SECRET)
// Every client method called is recorded; the last stdout line is {"called": [...]}.
// Any failed expectation throws, and the process exits non-zero.
'use strict';
const assert = require('node:assert/strict');
const { ApiClient, HttpError } = require(process.env.BUNDLE);

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`missing ${name}`);
  return v;
};
const BASE = env('BASE_URL');
const called = new Set();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function call(api, method, ...args) {
  called.add(method);
  return api[method](...args);
}

async function expectHttpError(promise, status) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof HttpError, `expected HttpError, got ${e}`);
    assert.equal(e.status, status);
    assert.equal(e.data.success, false);
    assert.ok(typeof e.data.message === 'string' && e.data.message.length > 0);
    return e;
  }
  assert.fail(`expected HTTP ${status}`);
}

async function until(what, fn, ok, ms = 30000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (ok(last)) return last;
    await sleep(150);
  }
  assert.fail(`${what} not reached in ${ms} ms; last: ${JSON.stringify(last)}`);
}

async function raw(method, path, token, body) {
  const r = await fetch(BASE + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

async function chat(secret, model, text) {
  return raw('POST', '/v1/chat/completions', secret, { model, messages: [{ role: 'user', content: text }] });
}

async function main() {
  const api = new ApiClient(BASE);
  const suffix = Math.random().toString(16).slice(2, 8);

  // ---- login (LoginResponse), refresh
  const login = await call(api, 'userLogin', { email: env('ADMIN_EMAIL'), password: env('ADMIN_PASSWORD') });
  assert.equal(login.success, true);
  assert.ok(login.accessToken && login.refreshToken && login.tokenId);
  assert.ok(login.expiresAt > Date.now());
  assert.equal(login.user.email, env('ADMIN_EMAIL'));
  const orgId = login.user.orgId;
  const refreshed = await call(api, 'userRefresh', login.refreshToken);
  assert.equal(refreshed.success, true);
  assert.ok(refreshed.accessToken);
  assert.notEqual(refreshed.refreshToken, login.refreshToken);
  api.setAuthToken(refreshed.accessToken);

  // a management API token works as the client's bearer token too
  const tok = await raw('POST', '/user/token', refreshed.accessToken, { name: `flashback-${suffix}` });
  assert.equal(tok.status, 201);
  api.setAuthToken(tok.body.token);

  // ---- workspaces and their members
  const ws = await call(api, 'createWorkspace', { name: `fb-${suffix}` });
  assert.equal(ws.success, true);
  const wsId = ws.workspace.id;
  assert.equal(ws.workspace.orgId, orgId);
  const all = await call(api, 'getWorkspaces');
  assert.ok(all.workspaces.some((w) => w.id === wsId));
  const one = await call(api, 'getWorkspace', wsId);
  assert.equal(one.workspace.name, `fb-${suffix}`);
  const renamed = await call(api, 'updateWorkspace', wsId, { name: `fb-renamed-${suffix}` });
  assert.equal(renamed.workspace.name, `fb-renamed-${suffix}`);
  await expectHttpError(call(api, 'getWorkspace', '00000000-0000-4000-8000-000000000000'), 404);

  const member = await raw('POST', '/user', refreshed.accessToken, {
    email: `member-${suffix}@example.test`, password: `pw-${suffix}-long-enough`, name: 'Member',
  });
  assert.equal(member.status, 201);
  const memberId = member.body.user.id;
  assert.equal((await call(api, 'addUserToWorkspace', wsId, { userId: memberId, role: 'READ' })).success, true);
  assert.equal((await call(api, 'updateWorkspaceUserRole', wsId, memberId, { role: 'WRITE' })).success, true);
  assert.equal((await call(api, 'removeUserFromWorkspace', wsId, memberId)).success, true);

  // ---- users: updateUser by the user and by the OWNER; a new password ends the member's
  // refresh tokens; userLogout ends a login; refresh tokens are single-use
  const memberEmail = `member-${suffix}@example.test`;
  const memberApi = new ApiClient(BASE);
  const mLogin = await call(memberApi, 'userLogin', { email: memberEmail, password: `pw-${suffix}-long-enough` });
  memberApi.setAuthToken(mLogin.accessToken);
  const self = await call(memberApi, 'updateUser', memberId, { name: 'Member Renamed', lastName: 'Ignored' });
  assert.equal(self.success, true);
  assert.ok(self.message);
  const byOwner = await call(api, 'updateUser', memberId, { password: `pw-${suffix}-changed-long` });
  assert.equal(byOwner.success, true);
  await expectHttpError(call(memberApi, 'userRefresh', mLogin.refreshToken), 401);
  await expectHttpError(call(api, 'updateUser', '00000000-0000-4000-8000-000000000000', { name: 'X' }), 404);
  const mLogin2 = await call(memberApi, 'userLogin', { email: memberEmail, password: `pw-${suffix}-changed-long` });
  assert.equal(mLogin2.user.name, 'Member Renamed');
  const mRefreshed = await call(memberApi, 'userRefresh', mLogin2.refreshToken);
  await expectHttpError(call(memberApi, 'userRefresh', mLogin2.refreshToken), 401); // spent: family revoked
  await expectHttpError(call(memberApi, 'userRefresh', mRefreshed.refreshToken), 401);
  const mLogin3 = await call(memberApi, 'userLogin', { email: memberEmail, password: `pw-${suffix}-changed-long` });
  const out = await call(memberApi, 'userLogout', mLogin3.refreshToken);
  assert.equal(out.success, true);
  await expectHttpError(call(memberApi, 'userRefresh', mLogin3.refreshToken), 401);
  assert.equal((await call(memberApi, 'userLogout', 'not-a-token')).success, true);

  // ---- AI LLM configurations
  const created = await call(api, 'createAiLlm', {
    name: `openai-${suffix}`, aiType: 'OPENAI', endpoint: env('PROVIDER_ENDPOINT'),
    secret: env('PROVIDER_SECRET'), workspaceId: wsId,
  });
  assert.equal(created.success, true);
  const llmId = created.aiLlmId;
  const listed = await call(api, 'getAiLlms', wsId);
  const dto = listed.aiLlms.find((l) => l.id === llmId);
  assert.ok(dto, 'created config listed');
  assert.equal(dto.aiType, 'OPENAI');
  assert.equal(dto.workspaceId, wsId);
  assert.ok(dto.key === null || !dto.key.includes(env('PROVIDER_SECRET')));
  const valid = await call(api, 'validateAiLlm', llmId);
  assert.equal(valid.success, true, valid.message);
  const available = await call(api, 'getAvailableAiLlms');
  assert.ok(available.aiLlms.some((l) => l.id === llmId), 'validated config is available');
  const updated = await call(api, 'updateAiLlm', llmId, { name: `openai-main-${suffix}` });
  assert.equal(updated.aiLlmId, llmId);
  await expectHttpError(call(api, 'createAiLlm', {
    name: `openai-main-${suffix}`, aiType: 'OPENAI', endpoint: env('PROVIDER_ENDPOINT'),
    secret: env('PROVIDER_SECRET'), workspaceId: wsId,
  }), 409);

  // ---- a repository (the client's repo call posts the same path) and its AI API keys
  const repo = await call(api, 'createStorageRepo', { name: `app-${suffix}`, workspaceId: wsId, repoAiLlms: [{ aiLlmId: llmId }] });
  const repoId = repo.repoId;
  assert.ok(repoId);
  const repos = await call(api, 'getStorageRepos', wsId);
  assert.ok(repos.repos.some((r) => r.id === repoId));
  const key = await call(api, 'createRepoAiApiKey', repoId, { name: 'k1', aiType: 'OPENAI' });
  assert.equal(key.success, true);
  assert.ok(key.secret.startsWith(key.key));
  const keys = await call(api, 'getRepoAiApiKeys', repoId);
  assert.deepEqual(keys.apiKeys.map((k) => k.id), [key.id]);
  assert.ok(!JSON.stringify(keys).includes(key.secret));
  assert.equal((await call(api, 'updateRepoAiApiKey', repoId, key.id, { name: 'k1-renamed' })).success, true);
  assert.equal((await call(api, 'getRepoAiApiKeys', repoId)).apiKeys[0].name, 'k1-renamed');

  // ---- policies: one blocking rule, one alerting rule (the `rule` field is a Tollgate addition)
  const block = await call(api, 'createPolicy', {
    name: `no-gpt-4o-${suffix}`, content: 'gpt-4o is not allowed', riskType: 'HIGH', actionType: 2,
    orgId, workspaceId: wsId, repoId, rule: { type: 'MODEL_DENYLIST', models: ['gpt-4o'] },
  });
  const alert = await call(api, 'createPolicy', {
    name: `watch-${suffix}`, content: 'report the watch word', riskType: 'LOW', actionType: 1,
    orgId, workspaceId: wsId, rule: { type: 'CONTENT_PATTERN', patterns: ['watchword'], detectors: [] },
  });
  const policies = await call(api, 'getPolicies', { orgId, workspaceId: wsId });
  assert.deepEqual(new Set(policies.policies.map((p) => p.id)), new Set([block.policy.id, alert.policy.id]));
  assert.equal((await call(api, 'getPolicy', block.policy.id)).policy.name, `no-gpt-4o-${suffix}`);
  const upd = await call(api, 'updatePolicy', alert.policy.id, { content: 'report the watchword' });
  assert.equal(upd.policy.content, 'report the watchword');

  // ---- traffic through the gateway with the repository key
  await until('key reaches the gateway', () => raw('GET', '/v1/models', key.secret), (r) => r.status === 200);
  await until('policies reach the gateway', () => chat(key.secret, 'gpt-4o', 'hello'), (r) => r.status === 403);
  assert.equal((await chat(key.secret, 'gpt-4o-mini', 'hello there')).status, 200);
  assert.equal((await chat(key.secret, 'gpt-4o-mini', 'the watchword is here')).status, 200);

  const v = await until('violations', () => call(api, 'getPolicyViolations', { workspaceId: wsId }),
    (r) => r.violations.some((x) => x.policyId === block.policy.id));
  const blocked = v.violations.find((x) => x.policyId === block.policy.id);
  assert.equal(blocked.block, true);
  assert.equal(blocked.repoId, repoId);
  const byPolicy = await call(api, 'getPolicyViolationsByPolicyId', block.policy.id, { take: 10 });
  assert.equal(byPolicy.total, 1);
  const alerts = await until('alerts', () => call(api, 'getPolicyAlerts', { workspaceId: wsId }),
    (r) => r.total >= 1);
  assert.equal(alerts.alerts[0].policyId, alert.policy.id);
  const alertsByPolicy = await call(api, 'getPolicyAlertsByPolicyId', alert.policy.id, {});
  assert.equal(alertsByPolicy.total, 1);

  // ---- stats
  const stats = await until('config stats', () => call(api, 'getAiLlmStats', llmId),
    (r) => r.stats.length === 1 && Number(r.stats[0].totalApiCalls) >= 2);
  assert.equal(typeof stats.stats[0].totalTokensIn, 'string');
  assert.ok(Number(stats.stats[0].totalTokensIn) > 0);
  const range = { startDate: new Date(Date.now() - 3600e3), endDate: new Date(Date.now() + 120e3), repoId: [repoId] };
  const minute = await until('minute series', () => call(api, 'getAiStatsMinute', range),
    (r) => r.data.reduce((n, row) => n + Number(row.apiCalls), 0) >= 2);
  assert.ok(minute.data.every((row) => row.repoId === repoId));
  const daily = await call(api, 'getAiStatsDaily', range);
  assert.ok(daily.data.reduce((n, row) => n + Number(row.apiCalls), 0) >= 2);

  // ---- removal, in the order the API allows
  await expectHttpError(call(api, 'deleteAiLlm', llmId), 403); // a repository still uses it
  assert.equal((await call(api, 'deleteRepoAiApiKey', repoId, key.id)).success, true);
  await until('deleted key refused', () => raw('GET', '/v1/models', key.secret), (r) => r.status === 401);
  assert.equal((await call(api, 'deletePolicy', block.policy.id)).success, true);
  assert.equal((await call(api, 'deletePolicy', alert.policy.id)).success, true);
  assert.equal((await call(api, 'deleteStorageRepo', repoId)).success, true);
  assert.equal((await call(api, 'deleteAiLlm', llmId)).success, true);
  assert.equal((await call(api, 'deleteWorkspace', wsId)).success, true);
  await expectHttpError(call(api, 'getWorkspace', wsId), 404);

  console.log(JSON.stringify({ called: [...called].sort() }));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
