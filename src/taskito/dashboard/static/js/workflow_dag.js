// A workflow run's DAG drawn as SVG: its steps in columns by depth (a step stands right of
// every step it comes after), arrows along the edges, each box filled with its status's
// colour (the table of the workflows spec, the same as the Mermaid picture) and labelled
// with the status's symbol. A fan-out step holds its children as small squares, one per
// item in index order; a step with a job links to that job, a sub-workflow to its run.

import { svg, h } from "./dom.js";
import { depths } from "./dag.js";
import { href } from "./router.js";

const BOX = { width: 190, height: 48 };
const GAP = { x: 60, y: 16 };
const MARGIN = 8;
const CHIP = { size: 14, gap: 4, perRow: 9 };
// Beyond this many children a step shows the first ones and "+N more".
const MAX_CHIPS = 45;
const MAX_LABEL = 22;

/**
 * Status -> symbol, as the Mermaid and DOT pictures label nodes; but waiting for approval is
 * "‖", not "⏸" (U+23F8), which many system fonts lack (the page would show an empty box).
 */
export const SYMBOLS = {
  completed: "✓",
  failed: "✗",
  running: "▶",
  pending: "○",
  skipped: "—",
  waiting_approval: "‖",
};

/** The statuses the legend explains, in the order a run goes through them. */
export const LEGEND = ["pending", "ready", "running", "waiting_approval", "completed",
  "cache_hit", "skipped", "failed"];

const cut = (text) => (text.length > MAX_LABEL ? text.slice(0, MAX_LABEL - 1) + "…" : text);

export function label(name, status) {
  const symbol = SYMBOLS[status];
  return symbol ? `${name} ${symbol}` : name;
}

function chipRows(count) {
  return Math.ceil(Math.min(count, MAX_CHIPS) / CHIP.perRow);
}

function heightOf(node) {
  const rows = chipRows(node.children.length);
  return rows ? BOX.height + rows * (CHIP.size + CHIP.gap) + 14 : BOX.height;
}

function place(nodes, edges) {
  const depth = depths(nodes.map((n) => ({ id: n.name })), edges);
  const columns = [];
  for (const node of nodes) (columns[depth.get(node.name)] ||= []).push(node);
  const at = new Map();
  let bottom = 0;
  columns.forEach((column, c) => {
    let y = MARGIN;
    for (const node of column || []) {
      const height = heightOf(node);
      at.set(node.name, { column: c, x: MARGIN + c * (BOX.width + GAP.x), y, height });
      y += height + GAP.y;
    }
    bottom = Math.max(bottom, y);
  });
  return {
    at,
    width: MARGIN * 2 + columns.length * BOX.width + Math.max(0, columns.length - 1) * GAP.x,
    height: Math.max(bottom, BOX.height + MARGIN * 2) + MARGIN,
  };
}

function edgePath(from, to) {
  const x1 = from.x + BOX.width;
  const y1 = from.y + BOX.height / 2;
  const x2 = to.x;
  const y2 = to.y + BOX.height / 2;
  const bend = Math.max(24, (x2 - x1) / 2);
  return `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`;
}

function target(node) {
  if (node.child_run_id) return href(`/workflows/${encodeURIComponent(node.child_run_id)}`);
  if (node.job_id) return href(`/jobs/${encodeURIComponent(node.job_id)}`);
  return null;
}

function chips(node, x, y) {
  const shown = node.children.slice(0, MAX_CHIPS);
  const drawn = shown.map((child, i) => {
    const cx = x + 10 + (i % CHIP.perRow) * (CHIP.size + CHIP.gap);
    const cy = y + BOX.height + Math.floor(i / CHIP.perRow) * (CHIP.size + CHIP.gap);
    const chip = svg("rect", { x: cx, y: cy, width: CHIP.size, height: CHIP.size, rx: 3,
      class: `wf-chip wf-fill-${child.status}` }, svg("title", {}, label(child.name, child.status)));
    const link = child.job_id ? href(`/jobs/${encodeURIComponent(child.job_id)}`) : null;
    return svg(link ? "a" : "g", { href: link, class: "wf-child",
      dataset: { node: child.name, status: child.status } }, chip);
  });
  const more = node.children.length - shown.length;
  if (more > 0) {
    const rows = chipRows(node.children.length);
    drawn.push(svg("text", { x: x + 10, y: y + BOX.height + rows * (CHIP.size + CHIP.gap) + 8,
      class: "wf-more" }, `+${more} more`));
  }
  return drawn;
}

function box(node, spot) {
  const { x, y, height } = spot;
  const link = target(node);
  const count = node.children.length;
  const meta = count ? `${node.status} · ${count} item${count === 1 ? "" : "s"}`
    : [node.kind, node.status].filter(Boolean).join(" · ");
  return svg(link ? "a" : "g", { href: link, class: "wf-node",
    dataset: { node: node.name, status: node.status } },
  svg("title", {}, `${node.name} · ${node.kind || "step"} · ${node.status}`),
  svg("rect", { x, y, width: BOX.width, height, rx: 6, class: `wf-box wf-fill-${node.status}` }),
  svg("text", { x: x + 10, y: y + 20, class: "wf-label" }, cut(label(node.name, node.status))),
  svg("text", { x: x + 10, y: y + 37, class: "wf-meta" }, meta),
  ...chips(node, x, y));
}

/** The SVG of ``dag`` ({nodes: [{name, kind, status, job_id, child_run_id, children}],
 * edges: [{from, to}]}) with its legend. */
export function workflowDagView(dag) {
  const nodes = (dag.nodes || []).map((n) => ({ ...n, children: n.children || [] }));
  const edges = dag.edges || [];
  if (!nodes.length) return h("p", { class: "empty" }, "This run's definition has no steps.");
  const { at, width, height } = place(nodes, edges);
  const marker = "wf-arrow-" + Math.random().toString(36).slice(2, 8);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height,
    class: "wf-dag", role: "img", "aria-label": `Workflow graph of ${nodes.length} steps` },
  svg("defs", {}, svg("marker", { id: marker, viewBox: "0 0 10 10", refX: 10, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
  svg("path", { d: "M0,0 L10,5 L0,10 z", class: "dag-arrow" }))));
  for (const edge of edges) {
    const from = at.get(edge.from);
    const to = at.get(edge.to);
    if (!from || !to) continue;
    chart.append(svg("path", { d: edgePath(from, to), class: "dag-edge",
      "marker-end": `url(#${marker})`, dataset: { from: edge.from, to: edge.to } }));
  }
  for (const node of nodes) chart.append(box(node, at.get(node.name)));
  const legend = h("ul", { class: "wf-legend", "aria-label": "Status colours" },
    LEGEND.map((status) => h("li", {}, h("span", { class: `wf-swatch wf-fill-${status}` }),
      label(status.replace("_", " "), status))));
  return h("div", { class: "dag-wrap" }, chart, legend);
}
