// The seeds' snippet (examples/seed-snippet.mjs) runs unchanged against the live server.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { TollgateClient } from '@tollgate/client';
import { BASE_URL, env, suffix } from './support.mjs';

test('the seed snippet runs with an API token', async () => {
  const anon = new TollgateClient({ baseUrl: BASE_URL });
  const login = await anon.userLogin({ email: env('ADMIN_EMAIL'), password: env('ADMIN_PASSWORD') });
  anon.setAuthToken(login.accessToken);
  const { id, token } = await anon.createApiToken({ name: `snippet-${suffix()}` });
  try {
    const script = new URL('../examples/seed-snippet.mjs', import.meta.url);
    const { stdout } = await promisify(execFile)(process.execPath, [script.pathname], {
      env: { ...process.env, TOLLGATE_API_KEY: token }, timeout: 60000,
    });
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').pop()), { validated: true, statsRows: 1 });
  } finally {
    await anon.revokeApiToken(id);
  }
});
