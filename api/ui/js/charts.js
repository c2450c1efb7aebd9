// Time-series charts drawn with the vendored uPlot (api/ui/vendor, loaded before the modules).
import { h } from "./dom.js";

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#7f7f7f"];

/** One line chart in `box`: xs in seconds, series [{label, values}]. Returns a cleanup function. */
export function lineChart(box, title, xs, series, fmt = (v) => v, { sparse = false } = {}) {
  const holder = h("div", { class: "chart", role: "img", "aria-label": `${title}, by ${series.map((x) => x.label).join(", ") || "nothing yet"}` });
  box.append(h("figure", {}, h("figcaption", {}, title), holder));
  if (!window.uPlot) {
    holder.append(h("p", { class: "muted" }, "The chart library did not load."));
    return () => {};
  }
  const width = () => Math.max(260, holder.clientWidth || box.clientWidth || 600);
  const opts = {
    width: width(), height: 200,
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    scales: { x: { time: true } },
    tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
    axes: [{ stroke: "#555" }, { stroke: "#555", size: 60, values: (u, vals) => vals.map((v) => fmt(v)) }],
    series: [{}, ...series.map((s, i) => ({
      label: s.label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: sparse,
      points: sparse ? { show: true, size: 6, fill: COLORS[i % COLORS.length] } : undefined,
      value: (u, v) => (v === null || v === undefined ? "—" : fmt(v)),
    }))],
  };
  const plot = new window.uPlot(opts, [xs, ...series.map((s) => s.values)], holder);
  const ro = new ResizeObserver(() => plot.setSize({ width: width(), height: 200 }));
  ro.observe(holder);
  return () => { ro.disconnect(); plot.destroy(); };
}
