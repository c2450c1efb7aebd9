// Placeholder until the page lands.
import { clear, h } from "../dom.js";

export function render(root) { clear(root, h("h1", {}, "Coming soon")); }
