// Policies: what applies to this workspace (organization, workspace and repository scopes);
// create from a rule form or in natural language (judged by an LLM), edit, delete.
import { del, get, post, put } from "../api.js";
import { clear, confirmDialog, empty, errorBox, field, h, select, toast } from "../dom.js";
import { describe, ruleForm } from "../rules.js";

const ACTIONS = [["0", "Log"], ["1", "Alert"], ["2", "Block"]];
const RISKS = [["LOW", "Low"], ["MEDIUM", "Medium"], ["HIGH", "High"]];

export function render(root, { ws, user }) {
  const list = h("div", { "aria-live": "polite" });
  const formBox = h("div");
  let repos = [];
  clear(root, h("div", { class: "head" }, h("h1", {}, "Policies"),
    h("button", { type: "button", onclick: async () => { await ready; form(null); } }, "New policy")),
  h("p", { class: "muted" }, "A policy logs, alerts on or blocks requests. Organization policies apply everywhere, ",
    "workspace and repository policies add to them."), formBox, list);

  const scopeOf = (p) => (p.repoId ? `Repository ${repos.find((r) => r.id === p.repoId)?.name || ""}`
    : p.workspaceId ? "Workspace" : "Organization");

  async function load() {
    try {
      const [pr, rr] = await Promise.all([get("/policy"), get("/repo", { workspaceId: ws.id })]);
      repos = rr.repos || [];
      const mine = (pr.policies || []).filter((p) => !p.workspaceId || p.workspaceId === ws.id);
      if (!mine.length) {
        clear(list, empty("No policy yet. Start with a rule (e.g. refuse a model, cap tokens, a rate limit) or describe one in plain words.", null));
        return;
      }
      clear(list, h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, ["Name", "Scope", "Risk", "Action", "What it checks", ""].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, mine.map((p) => h("tr", { "data-policy": p.id },
          h("th", { scope: "row" }, p.name), h("td", {}, scopeOf(p)),
          h("td", {}, h("span", { class: `badge ${p.riskType}` }, p.riskType)),
          h("td", {}, ACTIONS[p.actionType]?.[1] || p.actionType),
          h("td", {}, p.rule ? describe(p.rule) : h("span", {}, h("em", {}, "LLM-judged: "), p.content)),
          h("td", {}, h("div", { class: "row" },
            h("button", { type: "button", class: "secondary small", onclick: () => form(p), "aria-label": `Edit ${p.name}` }, "Edit"),
            h("button", { type: "button", class: "secondary small", onclick: () => remove(p), "aria-label": `Delete ${p.name}` }, "Delete")))))))));
    } catch (err) { clear(list, errorBox(err)); }
  }

  async function remove(p) {
    if (!(await confirmDialog(`Delete the policy “${p.name}”?`))) return;
    try { await del(`/policy/${p.id}`); toast(`Policy “${p.name}” deleted`); await load(); } catch (err) { clear(list, errorBox(err)); }
  }

  function form(p) {
    const editing = Boolean(p);
    const name = h("input", { name: "policyName", required: true, maxlength: 200, value: p?.name || "" });
    const risk = select("riskType", RISKS, p?.riskType || "MEDIUM");
    const action = select("actionType", ACTIONS, String(p?.actionType ?? 0));
    const orgWide = ["OWNER", "ADMINISTRATORS"].includes(user?.orgRole);
    const scopes = [["ws", `Workspace ${ws.name}`], ...repos.map((r) => [r.id, `Repository ${r.name}`]), ...(orgWide ? [["org", "Whole organization"]] : [])];
    const scope = select("scope", scopes, "ws");
    scope.disabled = editing;
    const mode = select("mode", [["rule", "A rule (checked by the gateway)"], ["text", "Natural language (judged by an LLM)"]],
      p && !p.rule ? "text" : "rule");
    const content = h("textarea", { name: "content", rows: 3, maxlength: 20000 }, p?.content || "");
    const rule = ruleForm(p?.rule);
    const ruleBox = h("div", {}, rule.el);
    const contentField = field("Policy in plain words", content, "For example: “No personal data about customers may be sent.”");
    const status = h("div");
    const sync = () => {
      ruleBox.hidden = mode.value !== "rule";
      contentField.querySelector("label").textContent = mode.value === "rule" ? "Description (optional)" : "Policy in plain words";
    };
    mode.addEventListener("change", sync);
    const el = h("form", { class: "card section", "aria-label": editing ? "Edit policy" : "New policy" },
      h("h2", {}, editing ? `Edit “${p.name}”` : "New policy"),
      h("div", { class: "grid2" }, field("Name", name), field("Applies to", scope, editing ? "The scope of a policy cannot change." : null),
        field("Risk", risk), field("Action", action, "Block refuses the request (HTTP 403 naming the policy).")),
      field("Kind", mode), ruleBox, contentField, status,
      h("div", { class: "row" }, h("button", { type: "submit" }, editing ? "Save" : "Create policy"),
        h("button", { type: "button", class: "secondary", onclick: () => clear(formBox) }, "Cancel")));
    el.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { name: name.value.trim(), riskType: risk.value, actionType: Number(action.value) };
      try {
        if (mode.value === "rule") {
          body.rule = rule.value();
          body.content = content.value.trim() || describe(body.rule);
        } else {
          if (!content.value.trim()) throw new Error("Describe the policy in plain words.");
          body.content = content.value.trim();
          if (editing && p.rule) body.rule = null;
        }
        if (editing) {
          await put(`/policy/${p.id}`, body);
        } else {
          body.orgId = user.orgId;
          if (scope.value === "ws") body.workspaceId = ws.id;
          else if (scope.value !== "org") { body.workspaceId = ws.id; body.repoId = scope.value; }
          await post("/policy", body);
        }
        toast(`Policy “${body.name}” ${editing ? "saved" : "created"}`);
        clear(formBox);
        await load();
      } catch (err) { clear(status, errorBox(err)); }
    });
    clear(formBox, el);
    sync();
    name.focus();
  }

  const ready = load();
}
