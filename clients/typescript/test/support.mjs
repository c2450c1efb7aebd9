// Shared by the tests: settings from the environment (tests/clients/test_typescript_client.py
// sets them for a live `tollgate up`), a deadline poll, and raw gateway calls.
import assert from 'node:assert/strict';

export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`missing ${name} (run through tests/clients/test_typescript_client.py)`);
  return value;
}

export const BASE_URL = env('TOLLGATE_URL');
export const suffix = () => Math.random().toString(16).slice(2, 10);

export async function until(what, fn, ok, ms = 30000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 150));
  }
  assert.fail(`${what} not reached in ${ms} ms; last: ${JSON.stringify(last)}`);
}

/** A gateway call with a repository key; answers {status, body}. */
export async function gateway(secret, method, path, body) {
  const r = await fetch(BASE_URL + path, {
    method,
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

export const chat = (secret, model, text) =>
  gateway(secret, 'POST', '/v1/chat/completions', { model, messages: [{ role: 'user', content: text }] });
