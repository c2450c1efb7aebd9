// The CommonJS build: require('@tollgate/client') works and talks to the server.
const assert = require('node:assert/strict');
const { test } = require('node:test');

const { TollgateClient, TollgateError, FlashbackClient } = require('@tollgate/client');

test('require() gives the same client, errors typed', async () => {
  assert.equal(FlashbackClient, TollgateClient);
  const api = new TollgateClient({ baseUrl: process.env.TOLLGATE_URL, apiKey: 'tgm_not-a-real-token' });
  assert.equal((await api.health()).success, true);
  await assert.rejects(api.getAiLlms(), (e) => e instanceof TollgateError && e.status === 401);
  assert.throws(() => new TollgateClient({}), TypeError);
});
