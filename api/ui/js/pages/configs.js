// Configurations: provider accounts of the workspace, their validation status; create, validate,
// edit, delete (refused with 403 while a repository uses one: say which).
import { del, get, post, put } from "../api.js";
import { clear, confirmDialog, empty, errorBox, field, fmtTime, h, select, toast } from "../dom.js";

export const FAMILIES = {
  OPENAI: { label: "OpenAI", endpoint: "https://api.openai.com/v1",
    help: "Base URL with /v1 (Tollgate appends /models and /chat/completions). Secret: an API key (sk-…)." },
  ANTHROPIC: { label: "Anthropic", endpoint: "https://api.anthropic.com",
    help: "Base URL without /v1 (Tollgate appends /v1/messages). Secret: an API key (sk-ant-…)." },
  GOOGLE: { label: "Google Gemini", endpoint: "https://generativelanguage.googleapis.com",
    help: "Base URL without a version (Tollgate appends /v1beta/models/…). Secret: an API key (AIza…)." },
  AWS: { label: "AWS Bedrock", endpoint: "",
    help: "Leave the endpoint empty to use bedrock-runtime.{region}.amazonaws.com, or give a VPC/proxy endpoint. "
      + "Key: the access key id (AKIA…); secret: the secret access key; region is required." },
  OTHER: { label: "OpenAI-compatible (Ollama, vLLM, OpenRouter…)", endpoint: "http://127.0.0.1:11434/v1",
    help: "The base URL that precedes /chat/completions, usually ending in /v1. Secret: the server's key (any text if it has none)." },
};

export function render(root, { ws }) {
  const list = h("div", { "aria-live": "polite" });
  const formBox = h("div");
  const head = h("div", { class: "head" }, h("h1", {}, "Configurations"),
    h("button", { type: "button", onclick: () => showForm(null) }, "Add configuration"));
  clear(root, head, h("p", { class: "muted" }, "A configuration is one provider account. Repositories use one or more of them, in fallback order."),
    formBox, list);

  async function load() {
    try {
      const items = (await get("/ai/llm", { workspaceId: ws.id })).aiLlms || [];
      if (!items.length) {
        clear(list, empty("No configuration yet. Add your first provider account: pick its family, give the endpoint and the API key, then validate it.", null));
        if (!formBox.childElementCount) showForm(null);
        return;
      }
      clear(list, h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, ["Name", "Family", "Endpoint", "Status", "Used by", ""].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, items.map(row)))));
    } catch (err) { clear(list, errorBox(err)); }
  }

  function row(c) {
    const status = h("td", {}, h("span", { class: `badge ${c.validationStatus}` }, c.validationStatus || "UNVALIDATED"),
      c.lastValidationMessage ? h("div", { class: "muted" }, c.lastValidationMessage) : null,
      c.lastValidatedAt ? h("small", { class: "muted" }, fmtTime(c.lastValidatedAt)) : null);
    const validate = h("button", { type: "button", class: "secondary small" }, "Validate");
    validate.addEventListener("click", async () => {
      validate.disabled = true; validate.textContent = "Validating…";
      try {
        const r = await post(`/ai/llm/${c.id}/validate`);
        toast(r.message || (r.success ? "Valid" : "Not valid"), r.success ? "ok" : "warn");
      } catch (err) { toast(err.message, "warn"); }
      await load();
    });
    const remove = h("button", { type: "button", class: "secondary small" }, "Delete");
    remove.addEventListener("click", async () => {
      if (!(await confirmDialog(`Delete the configuration “${c.name}”? Its secret is forgotten.`))) return;
      try {
        await del(`/ai/llm/${c.id}`);
        toast(`Configuration “${c.name}” deleted`);
        await load();
      } catch (err) {
        const users = (c.repos || []).map((r) => r.name).join(", ");
        clear(list.querySelector(`[data-config="${c.id}"] .msg`) || list, errorBox(err.status === 403 && users
          ? { message: `“${c.name}” is in use by ${users}: remove it from their fallback order (Repositories and keys) or delete them first. (${err.message})` }
          : err));
      }
    });
    return h("tr", { "data-config": c.id },
      h("th", { scope: "row" }, c.name, h("div", { class: "msg" })),
      h("td", {}, FAMILIES[c.aiType]?.label || c.aiType, c.region ? ` · ${c.region}` : ""),
      h("td", {}, h("code", {}, c.endpoint || "(default)")),
      status,
      h("td", {}, (c.repos || []).map((r) => r.name).join(", ") || h("span", { class: "muted" }, "no repository")),
      h("td", {}, h("div", { class: "row" }, validate,
        h("button", { type: "button", class: "secondary small", onclick: () => showForm(c) }, "Edit"), remove)));
  }

  function showForm(c) {
    const editing = Boolean(c);
    const family = select("aiType", Object.entries(FAMILIES).map(([k, f]) => [k, f.label]), c?.aiType || "OPENAI");
    const name = h("input", { name: "name", required: true, maxlength: 200, value: c?.name || "" });
    const endpoint = h("input", { name: "endpoint", value: c ? c.endpoint || "" : FAMILIES.OPENAI.endpoint });
    const secret = h("input", { name: "secret", type: "password", autocomplete: "off", required: !editing,
      placeholder: editing ? "unchanged" : "" });
    const key = h("input", { name: "key", autocomplete: "off", placeholder: editing ? "unchanged" : "" });
    const region = h("input", { name: "region", value: c?.region || "", placeholder: "us-east-1" });
    const help = h("p", { class: "muted", id: "family-help" });
    const awsOnly = [field("Access key id", key), field("Region", region)];
    const status = h("div");
    const sync = () => {
      const f = FAMILIES[family.value];
      help.textContent = f.help;
      awsOnly.forEach((el) => { el.hidden = family.value !== "AWS"; });
      if (!editing) endpoint.placeholder = f.endpoint || "(empty: the region's default)";
    };
    family.addEventListener("change", () => {
      if (!editing && Object.values(FAMILIES).some((f) => f.endpoint === endpoint.value)) endpoint.value = FAMILIES[family.value].endpoint;
      sync();
    });
    const form = h("form", { class: "card section", "aria-label": editing ? "Edit configuration" : "New configuration" },
      h("h2", {}, editing ? `Edit “${c.name}”` : "New configuration"),
      h("div", { class: "grid2" }, field("Family", family), field("Name", name)), help,
      field("Endpoint (provider base URL)", endpoint, "See docs/providers.md for each family's form."),
      field(editing ? "Secret (API key) — leave empty to keep it" : "Secret (API key)", secret,
        "Stored sealed; it is never shown again."),
      h("div", { class: "grid2" }, awsOnly), status,
      h("div", { class: "row" }, h("button", { type: "submit" }, editing ? "Save" : "Create"),
        h("button", { type: "button", class: "secondary", onclick: () => clear(formBox) }, "Cancel")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { name: name.value.trim(), aiType: family.value, endpoint: endpoint.value.trim() };
      if (secret.value) body.secret = secret.value;
      if (family.value === "AWS") {
        if (key.value.trim()) body.key = key.value.trim();
        if (region.value.trim()) body.region = region.value.trim();
      }
      try {
        if (editing) {
          await put(`/ai/llm/${c.id}`, body);
          toast(`Configuration “${body.name}” saved`);
        } else {
          const r = await post("/ai/llm", { ...body, workspaceId: ws.id });
          toast(`Configuration “${body.name}” created; validating…`);
          const v = await post(`/ai/llm/${r.aiLlmId}/validate`).catch((err) => ({ success: false, message: err.message }));
          toast(v.message || "", v.success ? "ok" : "warn");
        }
        clear(formBox);
        await load();
      } catch (err) { clear(status, errorBox(err)); }
    });
    clear(formBox, form);
    sync();
    (editing ? name : family).focus();
  }

  load();
}
