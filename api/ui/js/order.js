// An ordered choice of configurations (the repository's fallback order), keyboard usable:
// add from a list, move up or down, remove.
import { clear, h } from "./dom.js";

export function orderPicker(configs, initial) {
  let chosen = initial.filter((id) => configs.some((c) => c.id === id));
  if (!chosen.length && configs.length) chosen = [configs[0].id];
  const list = h("ol", { class: "order" });
  const add = h("select", { name: "addConfig", "aria-label": "Add a configuration" });
  const addBtn = h("button", { type: "button", class: "secondary small" }, "Add");
  const byId = new Map(configs.map((c) => [c.id, c]));
  const label = (c) => `${c.name} (${c.aiType}${c.validationStatus === "VALID" ? "" : `, ${(c.validationStatus || "UNVALIDATED").toLowerCase()}`})`;

  function draw() {
    clear(list, chosen.map((id, i) => h("li", {}, h("span", {}, `${i + 1}. ${label(byId.get(id))}`),
      h("button", { type: "button", class: "secondary small", disabled: i === 0, "aria-label": `Move ${byId.get(id).name} up`,
        onclick: () => { [chosen[i - 1], chosen[i]] = [chosen[i], chosen[i - 1]]; draw(); } }, "↑"),
      h("button", { type: "button", class: "secondary small", disabled: i === chosen.length - 1, "aria-label": `Move ${byId.get(id).name} down`,
        onclick: () => { [chosen[i + 1], chosen[i]] = [chosen[i], chosen[i + 1]]; draw(); } }, "↓"),
      h("button", { type: "button", class: "secondary small", "aria-label": `Remove ${byId.get(id).name}`,
        onclick: () => { chosen.splice(i, 1); draw(); } }, "✕"))));
    const rest = configs.filter((c) => !chosen.includes(c.id));
    clear(add, rest.map((c) => h("option", { value: c.id }, label(c))));
    add.disabled = addBtn.disabled = !rest.length;
  }
  addBtn.addEventListener("click", () => { if (add.value) { chosen.push(add.value); draw(); } });
  draw();
  return { el: h("div", {}, list, h("div", { class: "row" }, add, addBtn)), value: () => [...chosen] };
}
