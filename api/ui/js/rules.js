// The rule form of a policy: one set of fields per rule type (contract: Policies, `rule`).
import { clear, field, h, select } from "./dom.js";

const PER = [["KEY", "per key"], ["REPO", "per repository"], ["WORKSPACE", "per workspace"]];
export const RULE_TYPES = {
  MODEL_DENYLIST: "Refuse these models",
  MODEL_ALLOWLIST: "Allow only these models",
  MAX_TOKENS: "Cap max tokens per request",
  TOKEN_BUDGET: "Token budget per period",
  RATE_LIMIT: "Rate limit",
  CONTENT_PATTERN: "Content patterns and detectors",
};
const DETECTORS = ["CREDIT_CARD", "EMAIL", "PHONE", "IBAN", "CLOUD_ACCESS_KEY"];

const int = (name, value, min = 1) => h("input", { name, type: "number", min, step: 1, value: value ?? "" });
const lines = (v) => v.split(/[\n,]/).map((x) => x.trim()).filter(Boolean);

/** {el, value()}: value() is the rule object, or throws an Error whose message says what is missing. */
export function ruleForm(initial) {
  const type = select("ruleType", Object.entries(RULE_TYPES), initial?.type || "MODEL_DENYLIST");
  const body = h("div");
  let read = () => ({});

  function draw(r) {
    const t = type.value;
    if (t === "MODEL_DENYLIST" || t === "MODEL_ALLOWLIST") {
      const models = h("textarea", { name: "models", rows: 3 }, (r?.models || []).join("\n"));
      clear(body, field("Models, one per line", models, "Shell globs: gpt-4o* matches gpt-4o-mini; compared with provider/model and the bare name."));
      read = () => ({ models: need(lines(models.value), "list at least one model") });
    } else if (t === "MAX_TOKENS") {
      const limit = int("limit", r?.limit);
      clear(body, field("Largest max_tokens a request may ask for", limit));
      read = () => ({ limit: num(limit, "limit") });
    } else if (t === "TOKEN_BUDGET") {
      const limit = int("limit", r?.limit);
      const period = select("period", ["MINUTE", "HOUR", "DAY", "MONTH"].map((p) => [p, p.toLowerCase()]), r?.period || "DAY");
      const per = select("per", PER, r?.per || "KEY");
      clear(body, h("div", { class: "grid2" }, field("Tokens (in + out)", limit), field("Per period (UTC)", period), field("Counted", per)));
      read = () => ({ limit: num(limit, "limit"), period: period.value, per: per.value });
    } else if (t === "RATE_LIMIT") {
      const requests = int("requests", r?.requests);
      const tokens = int("tokens", r?.tokens);
      const win = select("window", ["SECOND", "MINUTE", "HOUR", "DAY"].map((p) => [p, p.toLowerCase()]), r?.window || "MINUTE");
      const per = select("per", PER, r?.per || "KEY");
      clear(body, h("div", { class: "grid2" }, field("Requests", requests, "Leave empty for no request limit"),
        field("Tokens", tokens, "Leave empty for no token limit"), field("Per window", win), field("Counted", per)));
      read = () => {
        const out = { window: win.value, per: per.value };
        if (requests.value) out.requests = num(requests, "requests");
        if (tokens.value) out.tokens = num(tokens, "tokens");
        if (!out.requests && !out.tokens) throw new Error("Give a request limit, a token limit or both.");
        return out;
      };
    } else {
      const patterns = h("textarea", { name: "patterns", rows: 3 }, (r?.patterns || []).join("\n"));
      const boxes = DETECTORS.map((d) => h("label", { class: "row" }, h("input", { type: "checkbox", name: "detector", value: d,
        checked: (r?.detectors || []).includes(d) }), d.toLowerCase().replace(/_/g, " ")));
      clear(body, field("Regular expressions, one per line", patterns, "Python syntax; checked on the prompt."),
        h("fieldset", {}, h("legend", {}, "Detectors"), h("div", { class: "row" }, boxes)));
      read = () => {
        const out = { patterns: patterns.value.split("\n").map((x) => x.trim()).filter(Boolean),
                      detectors: boxes.map((b) => b.firstChild).filter((b) => b.checked).map((b) => b.value) };
        if (!out.patterns.length && !out.detectors.length) throw new Error("Give at least one pattern or detector.");
        return out;
      };
    }
  }
  type.addEventListener("change", () => draw(null));
  draw(initial);
  return { el: h("div", {}, field("Rule", type), body), value: () => ({ type: type.value, ...read() }) };
}

function need(list, what) { if (!list.length) throw new Error(`Models: ${what}.`); return list; }

function num(input, name) {
  const n = Number(input.value);
  if (!input.value || !Number.isInteger(n) || n <= 0) throw new Error(`${name}: give a whole number above 0.`);
  return n;
}

/** One line describing a rule, for the list. */
export function describe(rule) {
  if (!rule) return "";
  const per = rule.per ? ` ${rule.per.toLowerCase()}` : "";
  switch (rule.type) {
    case "MODEL_DENYLIST": return `Refuses ${rule.models.join(", ")}`;
    case "MODEL_ALLOWLIST": return `Allows only ${rule.models.join(", ")}`;
    case "MAX_TOKENS": return `max_tokens ≤ ${rule.limit}`;
    case "TOKEN_BUDGET": return `${rule.limit} tokens per ${rule.period.toLowerCase()},${per}`;
    case "RATE_LIMIT": return `${[rule.requests && `${rule.requests} requests`, rule.tokens && `${rule.tokens} tokens`].filter(Boolean).join(" and ")} per ${rule.window.toLowerCase()},${per}`;
    case "CONTENT_PATTERN": return `Content: ${[...(rule.patterns || []), ...(rule.detectors || [])].join(", ")}`;
    default: return rule.type;
  }
}
