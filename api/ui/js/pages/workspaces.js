// Create a workspace: shown when the account has none yet, or from the picker.
import { post } from "../api.js";
import { clear, errorBox, field, h, toast } from "../dom.js";

export function render(root, { workspaces, created }) {
  document.title = "New workspace · Tollgate";
  const name = h("input", { name: "name", required: true, maxlength: 200, placeholder: "e.g. production" });
  const status = h("div");
  const form = h("form", { class: "card" },
    h("h1", {}, workspaces.length ? "New workspace" : "Create your first workspace"),
    h("p", {}, "A workspace holds provider configurations, repositories with their keys, and policies. ",
      "Everything in the dashboard is shown for the workspace picked at the top."),
    field("Name", name), status, h("button", { type: "submit" }, "Create workspace"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const r = await post("/workspace", { name: name.value.trim() });
      toast(`Workspace “${r.workspace.name}” created`);
      await created(r.workspace.id);
    } catch (err) { clear(status, errorBox(err)); }
  });
  clear(root, form);
  name.focus();
}
