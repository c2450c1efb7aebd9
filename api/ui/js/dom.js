// Small DOM helpers: elements are built with h(), never from HTML strings (no injection).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else if (k === "checked" || k === "selected" || k === "disabled" || k === "hidden") el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) { el.replaceChildren(); append(el, children); return el; }

let toastTimer;
/** A short status line at the bottom of the page (read by screen readers). */
export function toast(message, kind = "ok") {
  const t = document.getElementById("toast");
  t.className = `show ${kind}`;
  t.textContent = message;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.className = ""; }, 5000);
}

/** An error box with the API's message in words. */
export function errorBox(err) {
  return h("p", { class: "error", role: "alert" }, err?.message || String(err));
}

/** A paragraph telling a newcomer the next step, with an optional link. */
export function empty(text, linkText, href) {
  return h("div", { class: "empty" }, h("p", {}, text), linkText ? h("a", { href, class: "button" }, linkText) : null);
}

export function field(label, input, help) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  const hid = help ? `${id}-help` : null;
  if (hid) input.setAttribute("aria-describedby", hid);
  return h("div", { class: "field" }, h("label", { for: id }, label), input, help ? h("small", { id: hid }, help) : null);
}

export function select(name, options, value) {
  return h("select", { name }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
}

/** Ask before a destructive action, in a modal <dialog> (keyboard: Esc cancels). */
export function confirmDialog(message, okText = "Delete") {
  return new Promise((resolve) => {
    const ok = h("button", { type: "button", class: "danger" }, okText);
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
    const dlg = h("dialog", { class: "confirm", "aria-label": "Confirm" }, h("p", {}, message), h("div", { class: "row" }, cancel, ok));
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    ok.addEventListener("click", () => done(true));
    cancel.addEventListener("click", () => done(false));
    dlg.addEventListener("cancel", (e) => { e.preventDefault(); done(false); });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

/** Copy text; says so in a toast. Falls back to selecting the text when the clipboard is refused. */
export async function copy(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    toast("Copied to the clipboard");
  } catch {
    if (input) { input.focus(); input.select(); }
    toast("Select the text and copy it (Ctrl+C)", "warn");
  }
}

const GROUP = /\B(?=(\d{3})+(?!\d))/g;
/** "1234567" -> "1,234,567" (decimal strings stay exact). */
export function fmtInt(s) { return String(s ?? "0").replace(GROUP, ","); }

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

/** Exact sum of decimal strings ("0.1" + "0.2" = "0.3"), null when every value is missing. */
export function sumDecimal(values) {
  const present = values.filter((v) => v !== undefined && v !== null && v !== "");
  if (!present.length) return null;
  const scale = Math.max(0, ...present.map((v) => (String(v).split(".")[1] || "").length));
  let total = 0n;
  for (const v of present) {
    const [i, f = ""] = String(v).replace(/^-/, "").split(".");
    const n = BigInt(i || "0") * 10n ** BigInt(scale) + BigInt((f + "0".repeat(scale)).slice(0, scale) || "0");
    total += String(v).startsWith("-") ? -n : n;
  }
  if (!scale) return total.toString();
  const neg = total < 0n; const abs = (neg ? -total : total).toString().padStart(scale + 1, "0");
  return `${neg ? "-" : ""}${abs.slice(0, -scale)}.${abs.slice(-scale)}`;
}

/** "12.3456" -> "$12.35"; under a cent shows more digits. */
export function fmtUsd(s) {
  if (s === null || s === undefined) return "—";
  const n = Number(s);
  if (n !== 0 && Math.abs(n) < 0.01) return `$${n.toPrecision(2)}`;
  return `$${n.toFixed(2)}`;
}
