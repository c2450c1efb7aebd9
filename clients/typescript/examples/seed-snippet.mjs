// The seeds' snippet with the package imported (run: TOLLGATE_API_KEY=tgm_... node examples/seed-snippet.mjs).
// Only the import line and the variables the snippet leaves to the reader are added; the
// validate call comes before the delete (a deleted configuration cannot be validated).
import { FlashbackClient } from '@tollgate/client';

const client = new FlashbackClient({
  apiKey: process.env.TOLLGATE_API_KEY,
  baseUrl: process.env.TOLLGATE_URL ?? 'http://127.0.0.1:8080',
});

const { workspace } = await client.createWorkspace({ name: `snippet-${Date.now()}` });
const workspaceId = workspace.id;
const data = {
  name: 'openai', aiType: 'OPENAI', workspaceId,
  endpoint: process.env.PROVIDER_ENDPOINT ?? 'https://api.openai.com/v1',
  secret: process.env.PROVIDER_SECRET ?? process.env.OPENAI_API_KEY,
};

// All AI LLM methods are available on the client instance
const { aiLlmId } = await client.createAiLlm(data);
const id = aiLlmId;
await client.getAiLlms(workspaceId);
await client.getAvailableAiLlms();
await client.updateAiLlm(id, data);
const validation = await client.validateAiLlm(id);
const stats = await client.getAiLlmStats(aiLlmId);
await client.deleteAiLlm(id);

await client.deleteWorkspace(workspaceId);
console.log(JSON.stringify({ validated: validation.success, statsRows: stats.stats.length }));
