// Overview: headline numbers from /ai/llm/stats and time series from /aistats/* for the workspace.
import { get } from "../api.js";
import { lineChart } from "../charts.js";
import { clear, empty, errorBox, fmtInt, fmtUsd, h, sumDecimal } from "../dom.js";
import { METRICS, RANGES, buckets, shape } from "../series.js";

const HEADLINES = [
  ["totalApiCalls", "API calls"], ["totalTokensIn", "Tokens in"], ["totalTokensOut", "Tokens out"],
  ["totalCost", "Cost (USD)"], ["totalPolicyViolations", "Policy violations"], ["totalBlocks", "Blocks"],
];
const SPLITS = [["repo", "Repository"], ["model", "Model"], ["key", "Key"]];
const REFRESH_MS = 15000;
const view = { range: "24h", split: "repo" };

/** Totals over the stats rows: counters as exact decimal strings, null when no row has the field. */
export function totals(rows) {
  const out = {};
  for (const [f] of HEADLINES) {
    const known = rows.some((r) => f in r);
    // an unknown cost stays unknown ("—"), never $0
    out[f] = known ? sumDecimal(rows.map((r) => r[f])) ?? (f === "totalCost" ? null : "0") : f === "totalCost" ? null : "0";
  }
  out.totalUnpricedCalls = sumDecimal(rows.map((r) => r.totalUnpricedCalls)) ?? "0";
  return out;
}

export function render(root, { ws }) {
  const cards = h("section", { class: "cards", "aria-label": "Totals" });
  const charts = h("section", { class: "charts", "aria-label": "Over time" });
  const note = h("div", { "aria-live": "polite" });
  const stamp = h("span", { class: "muted" });
  const ranges = h("div", { class: "seg", role: "group", "aria-label": "Range" });
  const split = h("select", { name: "split" }, SPLITS.map(([v, t]) => h("option", { value: v, selected: v === view.split }, t)));
  const refresh = h("button", { type: "button", class: "secondary", onclick: () => load() }, "Refresh");
  let cleanups = [];
  let busy = false;
  let loads = 0;

  function drawRanges() {
    clear(ranges, Object.entries(RANGES).map(([k, r]) => h("button", {
      type: "button", class: "secondary", "aria-pressed": String(k === view.range),
      onclick: () => { view.range = k; drawRanges(); load(); } }, r.label)));
  }
  split.addEventListener("change", () => { view.split = split.value; load(); });

  async function load() {
    if (busy) return;
    busy = true;
    const range = RANGES[view.range];
    const end = Date.now(); const start = end - range.ms;
    try {
      const [stats, repoList, configs] = await Promise.all([
        get("/ai/llm/stats", { workspaceId: ws.id, from: new Date(start).toISOString() }),
        get("/repo", { workspaceId: ws.id }), get("/ai/llm", { workspaceId: ws.id })]);
      const t = totals(stats.stats || []);
      clear(cards, HEADLINES.map(([f, label]) => h("div", { class: "card stat" }, h("span", {}, label),
        h("strong", { "data-testid": f, "data-value": t[f] ?? "" },
          t[f] === null ? "—" : f === "totalCost" ? fmtUsd(t[f]) : fmtInt(t[f])),
        f === "totalCost" && t.totalUnpricedCalls !== "0"
          ? h("small", { class: "muted", "data-testid": "totalUnpricedCalls" },
            `${fmtInt(t.totalUnpricedCalls)} calls without a known price (not in the sum)`)
          : null)));
      const repos = repoList.repos || [];
      clear(note);
      if (!(configs.aiLlms || []).length) {
        note.append(empty("No provider configuration yet. Add one (OpenAI, Anthropic, Gemini, Bedrock or any OpenAI-compatible server), then create a repository and a key.", "Add a configuration", "#/configs"));
      } else if (!repos.length) {
        note.append(empty("No repository yet. Create one with its fallback order, then a key for your application.", "Create a repository", "#/repos"));
      } else if (t.totalApiCalls === "0") {
        note.append(empty(`No calls in the last ${range.label} yet. Point an OpenAI or Anthropic SDK at ${location.origin}/v1 with a repository key.`, "Get a key", "#/repos"));
      }
      await drawCharts(repos, start, end, range);
      stamp.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      stamp.dataset.loads = String(++loads);
    } catch (err) {
      clear(note, errorBox(err));
    } finally { busy = false; }
  }

  async function drawCharts(repos, start, end, range) {
    cleanups.forEach((f) => f()); cleanups = [];
    clear(charts);
    if (!repos.length) return;
    const q = { startDate: new Date(start).toISOString(), endDate: new Date(end).toISOString(),
                repoId: repos.map((r) => r.id).join(",") };
    // rows without a configuration (model lists) are not calls of /ai/llm/stats: leave them out
    const rows = ((await get(`/aistats/${range.grain}`, q)).data || []).filter((r) => r.aiLlmId);
    if (!rows.length) return;
    const names = await labels(repos, rows);
    const keyOf = { repo: (r) => r.repoId, model: (r) => r.llmModel || "(no model)", key: (r) => r.repoAiApiKeyId }[view.split];
    const labelOf = view.split === "model" ? (k) => k : (k) => names.get(k) || `${String(k).slice(0, 8)}… (deleted)`;
    const s = shape(rows, buckets(start, end, range.step), range.step, keyOf, labelOf);
    charts.append(h("p", { class: "muted wide" }, "Times in UTC."));
    for (const [name, title] of METRICS) {
      if (name === "cost" && !s.costSeen) {
        charts.append(h("figure", {}, h("figcaption", {}, title), h("p", { class: "muted" }, "No cost recorded yet.")));
        continue;
      }
      const fmt = name === "cost" ? (v) => fmtUsd(v) : name === "latency" ? (v) => `${Math.round(v)}` : (v) => fmtInt(Math.round(v));
      cleanups.push(lineChart(charts, title, s.xs, s.groups.map((g, i) => ({ label: g.label, values: s.metric[name][i] })), fmt,
        { sparse: name === "latency" }));
    }
  }

  async function labels(repos, rows) {
    const names = new Map(repos.map((r) => [r.id, r.name]));
    if (view.split === "key" && rows.length) {
      const lists = await Promise.all(repos.map((r) => get(`/repo/${r.id}/ai/apikey`).catch(() => ({ apiKeys: [] }))));
      for (const l of lists) for (const k of l.apiKeys || []) names.set(k.id, k.name);
    }
    return names;
  }

  clear(root, h("div", { class: "head" }, h("h1", {}, "Overview"), h("span", { class: "muted" }, ws.name)),
    h("div", { class: "toolbar" }, ranges, h("label", {}, "Split by ", split), refresh, stamp),
    note, cards, charts);
  drawRanges();
  load();
  const timer = setInterval(load, REFRESH_MS);
  return () => { clearInterval(timer); cleanups.forEach((f) => f()); };
}
