// Repositories and keys: create a repository with its fallback order, create a key (its secret
// shown once, with the base URL and SDK snippets), revoke a key, delete a repository.
import { del, get, post, put } from "../api.js";
import { clear, confirmDialog, empty, errorBox, field, fmtTime, h, toast } from "../dom.js";
import { orderPicker } from "../order.js";
import { secretPanel } from "../snippets.js";

export function render(root, { ws }) {
  const list = h("div", { "aria-live": "polite" });
  const formBox = h("div");
  const reveal = h("div");
  let configs = [];
  clear(root, h("div", { class: "head" }, h("h1", {}, "Repositories and keys"),
    h("button", { type: "button", onclick: () => repoForm(null) }, "New repository")),
  h("p", { class: "muted" }, "A repository is what an application calls through: it tries its configurations in order ",
    "(on 429, 5xx, timeouts) and is reached with its keys."), reveal, formBox, list);

  async function load() {
    try {
      const [c, r] = await Promise.all([get("/ai/llm", { workspaceId: ws.id }), get("/repo", { workspaceId: ws.id })]);
      configs = c.aiLlms || [];
      const repos = r.repos || [];
      if (!configs.length) {
        clear(list, empty("A repository needs at least one provider configuration: add one first.", "Add a configuration", "#/configs"));
        return;
      }
      if (!repos.length) {
        clear(list, empty("No repository yet. Create one, choose which configurations it uses and in which order, then create a key.", null));
        if (!formBox.childElementCount) repoForm(null);
        return;
      }
      const keys = await Promise.all(repos.map((x) => get(`/repo/${x.id}/ai/apikey`).then((k) => k.apiKeys || [])));
      clear(list, repos.map((x, i) => repoCard(x, keys[i])));
    } catch (err) { clear(list, errorBox(err)); }
  }

  function repoCard(repo, keys) {
    const msg = h("div");
    const keyName = h("input", { name: "keyName", required: true, maxlength: 200, placeholder: "e.g. backend-prod" });
    const keyForm = h("form", { class: "row", "aria-label": `New key for ${repo.name}` },
      h("label", { for: `kn-${repo.id}` }, "New key"), Object.assign(keyName, { id: `kn-${repo.id}` }),
      h("button", { type: "submit" }, "Create key"));
    keyForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const r = await post(`/repo/${repo.id}/ai/apikey`, { name: keyName.value.trim(), aiType: "OPENAI" });
        clear(reveal, secretPanel(repo, keyName.value.trim(), r.secret, () => clear(reveal)));
        reveal.querySelector("input").focus();
        await load();
      } catch (err) { clear(msg, errorBox(err)); }
    });
    const removeRepo = async () => {
      if (!(await confirmDialog(`Delete the repository “${repo.name}”? Its keys stop working at once.`))) return;
      try { await del(`/repo/${repo.id}`); toast(`Repository “${repo.name}” deleted`); await load(); } catch (err) { clear(msg, errorBox(err)); }
    };
    return h("section", { class: "card section", "data-repo": repo.id, "aria-label": repo.name },
      h("div", { class: "head" }, h("h2", {}, repo.name), repo.disabled ? h("span", { class: "badge bad" }, "disabled") : null),
      h("p", {}, "Fallback order: ", (repo.aiLlms || []).map((a, i) => `${i + 1}. ${a.name}`).join("  →  ") || "none"),
      h("div", { class: "row" }, h("button", { type: "button", class: "secondary small", onclick: () => repoForm(repo) }, "Edit"),
        h("button", { type: "button", class: "secondary small", onclick: removeRepo }, "Delete repository")),
      msg,
      keys.length ? h("div", { class: "table-wrap section" }, h("table", {},
        h("thead", {}, h("tr", {}, ["Key", "Prefix", "Created", "Last used", ""].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, keys.map((k) => keyRow(repo, k, msg)))))
        : h("p", { class: "muted" }, "No key yet: create one below and give it to your application."),
      keyForm);
  }

  function keyRow(repo, k, msg) {
    const revoke = h("button", { type: "button", class: "secondary small", "aria-label": `Revoke ${k.name}` }, "Revoke");
    revoke.addEventListener("click", async () => {
      if (!(await confirmDialog(`Revoke the key “${k.name}”? Applications using it are refused at once.`, "Revoke"))) return;
      try { await del(`/repo/${repo.id}/ai/apikey/${k.id}`); toast(`Key “${k.name}” revoked`); await load(); } catch (err) { clear(msg, errorBox(err)); }
    });
    return h("tr", { "data-key": k.id }, h("th", { scope: "row" }, k.name), h("td", {}, h("code", {}, k.key || "")),
      h("td", {}, fmtTime(k.createdAt)), h("td", {}, k.lastUsedAt ? fmtTime(k.lastUsedAt) : "never"), h("td", {}, revoke));
  }

  function repoForm(repo) {
    const editing = Boolean(repo);
    const name = h("input", { name: "repoName", required: true, maxlength: 200, value: repo?.name || "" });
    const picker = orderPicker(configs, (repo?.aiLlms || []).map((a) => a.id));
    const disabled = h("input", { type: "checkbox", name: "disabled", checked: repo?.disabled });
    const status = h("div");
    const form = h("form", { class: "card section", "aria-label": editing ? "Edit repository" : "New repository" },
      h("h2", {}, editing ? `Edit “${repo.name}”` : "New repository"), field("Name", name),
      h("fieldset", {}, h("legend", {}, "Configurations, in fallback order"), picker.el),
      editing ? h("label", {}, disabled, " Disabled (its keys are refused)") : null, status,
      h("div", { class: "row" }, h("button", { type: "submit" }, editing ? "Save" : "Create repository"),
        h("button", { type: "button", class: "secondary", onclick: () => clear(formBox) }, "Cancel")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const order = picker.value().map((id) => ({ aiLlmId: id }));
      if (!order.length) { clear(status, errorBox("Choose at least one configuration.")); return; }
      try {
        if (editing) await put(`/repo/${repo.id}`, { name: name.value.trim(), repoAiLlms: order, disabled: disabled.checked });
        else await post("/repo", { name: name.value.trim(), workspaceId: ws.id, repoAiLlms: order });
        toast(`Repository “${name.value.trim()}” ${editing ? "saved" : "created"}`);
        clear(formBox);
        await load();
      } catch (err) { clear(status, errorBox(err)); }
    });
    clear(formBox, form);
    name.focus();
  }

  load();
}
