// Pure: /aistats rows -> buckets per group, for the overview's charts.

export const RANGES = {
  "1h": { label: "1 h", ms: 3600e3, grain: "minute", step: 60 },
  "24h": { label: "24 h", ms: 86400e3, grain: "minute", step: 900 },
  "7d": { label: "7 d", ms: 7 * 86400e3, grain: "daily", step: 86400 },
  "30d": { label: "30 d", ms: 30 * 86400e3, grain: "daily", step: 86400 },
};

export const METRICS = [
  ["calls", "API calls", (r) => Number(r.apiCalls || 0)],
  ["tokens", "Tokens (in + out)", (r) => Number(r.tokensIn || 0) + Number(r.tokensOut || 0)],
  ["cost", "Cost (USD)", (r) => (r.cost === undefined || r.cost === null ? null : Number(r.cost))],
  ["latency", "Average latency (ms)", null],
];

const MAX_GROUPS = 6;

/** Bucket start times (seconds) covering [start, end] on `step` seconds. */
export function buckets(startMs, endMs, step) {
  const first = Math.floor(startMs / 1000 / step) * step;
  const out = [];
  for (let t = first; t <= endMs / 1000; t += step) out.push(t);
  return out;
}

/**
 * Group rows by `keyOf(row)` (top MAX_GROUPS by calls, the rest as "other"), sum each metric per
 * bucket; latency is the call-weighted mean. Returns {xs, groups:[{key,label}], metric:{name:[[...]]}}.
 */
export function shape(rows, xs, step, keyOf, labelOf) {
  const calls = new Map();
  for (const r of rows) calls.set(keyOf(r), (calls.get(keyOf(r)) || 0) + Number(r.apiCalls || 0));
  const top = [...calls.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
  const kept = top.slice(0, MAX_GROUPS);
  const groups = kept.map((k) => ({ key: k, label: labelOf(k) }));
  if (top.length > MAX_GROUPS) groups.push({ key: "__other", label: "other" });
  const index = new Map(groups.map((g, i) => [g.key, i]));
  const slot = new Map(xs.map((x, i) => [x, i]));
  const zero = () => groups.map(() => xs.map(() => 0));
  const sums = { calls: zero(), tokens: zero(), cost: zero(), latencyW: zero() };
  let costSeen = false;
  for (const r of rows) {
    const g = index.has(keyOf(r)) ? index.get(keyOf(r)) : index.get("__other");
    const t = Math.floor(Date.parse(r.timestamp) / 1000 / step) * step;
    const i = slot.get(t);
    if (g === undefined || i === undefined) continue;
    const n = Number(r.apiCalls || 0);
    sums.calls[g][i] += n;
    sums.tokens[g][i] += Number(r.tokensIn || 0) + Number(r.tokensOut || 0);
    if (r.cost !== undefined && r.cost !== null) { sums.cost[g][i] += Number(r.cost); costSeen = true; }
    sums.latencyW[g][i] += Number(r.latency_ms || 0) * n;
  }
  const latency = sums.latencyW.map((ws, g) => ws.map((w, i) => (sums.calls[g][i] ? w / sums.calls[g][i] : null)));
  return { xs, groups, costSeen, metric: { calls: sums.calls, tokens: sums.tokens, cost: sums.cost, latency } };
}
