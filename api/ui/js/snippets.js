// The new key's secret, shown once: copy button, the gateway's base URL, SDK snippets.
import { copy, h } from "./dom.js";

export function baseUrl() { return `${location.origin}/v1`; }

// A model the repository's first configuration serves, for the snippets (any served model works).
const MODEL = { OPENAI: "gpt-4o-mini", OTHER: "gpt-4o-mini", ANTHROPIC: "claude-sonnet-4-20250514",
                GOOGLE: "gemini-2.0-flash", AWS: "anthropic.claude-3-5-haiku-20241022-v1:0" };

export function snippets(secret, aiType = "OPENAI") {
  const v1 = baseUrl(); const root = location.origin; const model = MODEL[aiType] || MODEL.OPENAI;
  return [
    ["OpenAI SDK (Python)", `from openai import OpenAI

client = OpenAI(base_url="${v1}", api_key="${secret}")
r = client.chat.completions.create(model="${model}", messages=[{"role": "user", "content": "Hello"}])
print(r.choices[0].message.content)`],
    ["OpenAI SDK (JavaScript)", `import OpenAI from "openai";

const client = new OpenAI({ baseURL: "${v1}", apiKey: "${secret}" });
const r = await client.chat.completions.create({ model: "${model}", messages: [{ role: "user", content: "Hello" }] });
console.log(r.choices[0].message.content);`],
    ["Anthropic SDK (Python)", `from anthropic import Anthropic

client = Anthropic(base_url="${root}", api_key="${secret}")
m = client.messages.create(model="${model}", max_tokens=256, messages=[{"role": "user", "content": "Hello"}])
print(m.content[0].text)`],
    ["Anthropic SDK (JavaScript)", `import Anthropic from "@anthropic-ai/sdk";

const client = new Anthropic({ baseURL: "${root}", apiKey: "${secret}" });
const m = await client.messages.create({ model: "${model}", max_tokens: 256, messages: [{ role: "user", content: "Hello" }] });
console.log(m.content[0].text);`],
  ];
}

export function secretPanel(repo, keyName, secret, close) {
  const input = h("input", { readonly: true, value: secret, name: "secret", "aria-label": "Key secret" });
  const blocks = snippets(secret, repo.aiLlms?.[0]?.aiType).map(([title, code]) => {
    const pre = h("pre", { tabindex: "0" }, h("code", {}, code));
    return h("details", {}, h("summary", {}, title), pre,
      h("button", { type: "button", class: "secondary small", onclick: () => copy(code) }, `Copy ${title}`));
  });
  blocks[0].open = true;
  return h("section", { class: "card secret section", "aria-label": "New key" },
    h("h2", {}, `Key “${keyName}” for ${repo.name}`),
    h("p", {}, h("strong", {}, "Copy the secret now: it is shown only this once."), " Tollgate keeps only a hash."),
    h("div", { class: "row" }, input, h("button", { type: "button", onclick: () => copy(secret, input) }, "Copy secret")),
    h("p", {}, "Base URL: ", h("code", { "data-testid": "baseUrl" }, baseUrl()),
      " (the Anthropic SDKs take the address without /v1). If the gateway runs apart from this API, use its address instead."),
    blocks,
    h("button", { type: "button", class: "secondary", onclick: close }, "I have copied it"));
}
