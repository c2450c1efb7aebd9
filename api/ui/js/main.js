// The dashboard shell: sign-in gate, workspace picker, navigation (hash routes), sign-out.
import { get, onSession, session, setSession } from "./api.js";
import { clear, errorBox, h } from "./dom.js";
import * as login from "./pages/login.js";
import * as workspaces from "./pages/workspaces.js";
import * as overview from "./pages/overview.js";
import * as configs from "./pages/configs.js";
import * as repos from "./pages/repos.js";
import * as policies from "./pages/policies.js";
import * as violations from "./pages/violations.js";

const PAGES = [
  ["overview", "Overview", overview],
  ["configs", "Configurations", configs],
  ["repos", "Repositories and keys", repos],
  ["policies", "Policies", policies],
  ["violations", "Violations and alerts", violations],
];
const WS_STORE = "tollgate.workspace";

const main = document.getElementById("main");
const top = document.getElementById("top");
const picker = document.getElementById("workspace");
let state = { workspaces: [], wsId: null };
let leave = null;   // the current page's cleanup (timers, charts)

function route() { return (location.hash.replace(/^#\/?/, "") || "overview").split("?")[0]; }

export function go(name) {
  if (route() === name) render(); else location.hash = `#/${name}`;
}

function nav() {
  const here = route();
  clear(document.getElementById("nav"), PAGES.map(([id, label]) =>
    h("a", { href: `#/${id}`, "aria-current": id === here ? "page" : null }, label)));
}

async function loadWorkspaces() {
  const r = await get("/workspace");
  state.workspaces = r.workspaces || [];
  const saved = sessionStorage.getItem(WS_STORE);
  const ids = state.workspaces.map((w) => w.id);
  state.wsId = ids.includes(state.wsId) ? state.wsId : ids.includes(saved) ? saved : ids[0] || null;
  clear(picker, state.workspaces.map((w) => h("option", { value: w.id, selected: w.id === state.wsId }, w.name)),
        h("option", { value: "__new" }, "+ New workspace…"));
}

async function render() {
  if (leave) { leave(); leave = null; }
  const s = session();
  if (!s) {
    top.hidden = true;
    leave = login.render(main, { done: start });
    return;
  }
  top.hidden = false;
  nav();
  const name = route();
  if (name === "workspace" || !state.wsId) {
    leave = workspaces.render(main, { ...ctx(), created: async (id) => {
      state.wsId = id;
      sessionStorage.setItem(WS_STORE, id);
      await loadWorkspaces();
      go("configs");
    } });
    return;
  }
  const page = PAGES.find(([id]) => id === name) || PAGES[0];
  document.title = `${page[1]} · Tollgate`;
  const result = page[2].render(main, ctx());
  leave = typeof result === "function" ? result : null;
  main.focus({ preventScroll: true });
}

function ctx() {
  const s = session();
  return { user: s.user, ws: state.workspaces.find((w) => w.id === state.wsId) || null,
           workspaces: state.workspaces, go };
}

async function start() {
  try {
    await loadWorkspaces();
  } catch (err) {
    if (!session()) return;   // the session ended: the sign-in page is already shown
    clear(main, errorBox(err));
    return;
  }
  if (state.wsId) sessionStorage.setItem(WS_STORE, state.wsId);
  if (route() === "workspace" && state.wsId) location.hash = "#/overview";
  render();
}

picker.addEventListener("change", () => {
  if (picker.value === "__new") { location.hash = "#/workspace"; return; }
  state.wsId = picker.value;
  sessionStorage.setItem(WS_STORE, state.wsId);
  render();
});
document.getElementById("signout").addEventListener("click", () => {
  sessionStorage.removeItem(WS_STORE);
  state = { workspaces: [], wsId: null };
  setSession(null);
});
onSession((s) => { if (!s) { location.hash = ""; render(); } });
window.addEventListener("hashchange", render);

if (session()) start(); else render();
