// Violations and alerts: the newest first, filtered by repository, severity, blocked, model and
// dates, 50 a page.
import { get } from "../api.js";
import { clear, empty, errorBox, field, fmtTime, h, select } from "../dom.js";

const TAKE = 50;

export function render(root, { ws }) {
  const view = { kind: "violations", skip: 0 };
  const tabs = h("div", { class: "seg", role: "group", "aria-label": "Feed" });
  const repo = select("repoId", [["", "All repositories"]], "");
  const severity = select("severity", [["", "Any severity"], ["HIGH", "High"], ["MEDIUM", "Medium"], ["LOW", "Low"]], "");
  const block = select("block", [["", "Blocked or not"], ["true", "Blocked only"], ["false", "Not blocked"]], "");
  const model = h("input", { name: "llmModel", placeholder: "e.g. gpt-4o-mini" });
  const from = h("input", { name: "from", type: "date" });
  const to = h("input", { name: "to", type: "date" });
  const filters = h("form", { class: "card section grid2", "aria-label": "Filters" },
    field("Repository", repo), field("Severity", severity), field("Blocked", block), field("Model", model),
    field("From (UTC day)", from), field("To (UTC day)", to),
    h("div", { class: "row" }, h("button", { type: "submit" }, "Apply"),
      h("button", { type: "button", class: "secondary", onclick: () => { filters.reset(); view.skip = 0; load(); } }, "Clear")));
  const out = h("div", { "aria-live": "polite", "data-loads": "0" });
  filters.addEventListener("submit", (e) => { e.preventDefault(); view.skip = 0; load(); });

  function drawTabs() {
    clear(tabs, [["violations", "Violations"], ["alerts", "Alerts"]].map(([k, t]) => h("button", {
      type: "button", class: "secondary", "aria-pressed": String(view.kind === k),
      onclick: () => { view.kind = k; view.skip = 0; drawTabs(); load(); } }, t)));
  }

  async function load() {
    const q = { workspaceId: ws.id, take: TAKE, skip: view.skip, repoId: repo.value, severity: severity.value,
                block: block.value, llmModel: model.value.trim(),
                from: from.value ? `${from.value}T00:00:00.000Z` : "", to: to.value ? `${to.value}T23:59:59.999Z` : "" };
    try {
      const r = await get(`/policy/${view.kind}`, q);
      const rows = (view.kind === "alerts" ? r.alerts || r.violations : r.violations) || [];
      if (!rows.length) {
        const filtered = [repo, severity, block, model, from, to].some((x) => x.value);
        clear(out, filtered ? empty("Nothing matches these filters.", null)
          : empty(`No ${view.kind} yet. They appear here when a request breaks a policy whose action is ${view.kind === "alerts" ? "alert" : "log, alert or block"}.`, "Create a policy", "#/policies"));
        return;
      }
      const text = view.kind === "alerts" ? "message" : "explanation";
      clear(out, h("p", { class: "muted" }, `${view.skip + 1}–${view.skip + rows.length} of ${r.total}`),
        h("div", { class: "table-wrap" }, h("table", {},
          h("thead", {}, h("tr", {}, ["Time", "Policy", "Severity", "Blocked", "Repository / key", "Model", "Why"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, rows.map((v) => h("tr", { "data-violation": v.id },
            h("td", {}, fmtTime(v.timestamp)), h("th", { scope: "row" }, v.policyName || v.policyId),
            h("td", {}, h("span", { class: `badge ${v.severity}` }, v.severity)), h("td", {}, v.block ? "yes" : "no"),
            h("td", {}, v.repoName || "—", v.repoAiApiKeyName ? ` / ${v.repoAiApiKeyName}` : ""),
            h("td", {}, v.llmModel || "—"), h("td", {}, v[text] || v.explanation || "")))))),
        h("div", { class: "row section" },
          h("button", { type: "button", class: "secondary", disabled: view.skip === 0,
            onclick: () => { view.skip = Math.max(0, view.skip - TAKE); load(); } }, "Newer"),
          h("button", { type: "button", class: "secondary", disabled: view.skip + rows.length >= r.total,
            onclick: () => { view.skip += TAKE; load(); } }, "Older")));
    } catch (err) {
      clear(out, errorBox(err));
    } finally {
      out.dataset.loads = String(Number(out.dataset.loads) + 1);
    }
  }

  clear(root, h("div", { class: "head" }, h("h1", {}, "Violations and alerts")),
    h("div", { class: "toolbar" }, tabs, h("button", { type: "button", class: "secondary", onclick: () => load() }, "Refresh")),
    filters, out);
  drawTabs();
  get("/repo", { workspaceId: ws.id }).then((r) => {
    for (const x of r.repos || []) repo.append(h("option", { value: x.id }, x.name));
  }).catch(() => {});
  load();
}
