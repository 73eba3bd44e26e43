// A job's dependency graph drawn as SVG: jobs in columns by depth (a job stands right of
// every job it waits for), arrows from a dependency to its dependent, each box a link to
// that job, coloured by status; the job being viewed is outlined.

import { svg, h, shortId } from "./dom.js";
import { href } from "./router.js";

const BOX = { width: 180, height: 46 };
const GAP = { x: 56, y: 14 };
const MARGIN = 8;
// Room below the boxes for the arcs of edges that skip a column.
const ARC = 30;
const MAX_LABEL = 24;

/** Depth of every node: 0 for a job with no dependency, else 1 + its deepest dependency. */
export function depths(nodes, edges) {
  const incoming = new Map(nodes.map((n) => [n.id, []]));
  for (const edge of edges) {
    if (incoming.has(edge.to) && incoming.has(edge.from)) incoming.get(edge.to).push(edge.from);
  }
  const depth = new Map();
  const visiting = new Set();
  const walk = (id) => {
    if (depth.has(id)) return depth.get(id);
    if (visiting.has(id)) return 0; // a cycle cannot be stored; draw it anyway
    visiting.add(id);
    const parents = incoming.get(id) || [];
    const value = parents.length ? 1 + Math.max(...parents.map(walk)) : 0;
    visiting.delete(id);
    depth.set(id, value);
    return value;
  };
  nodes.forEach((n) => walk(n.id));
  return depth;
}

function place(nodes, edges) {
  const depth = depths(nodes, edges);
  const columns = [];
  const ordered = [...nodes].sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
  for (const node of ordered) {
    const d = depth.get(node.id);
    (columns[d] ||= []).push(node);
  }
  const at = new Map();
  columns.forEach((column, c) => column.forEach((node, r) => at.set(node.id, {
    column: c,
    x: MARGIN + c * (BOX.width + GAP.x),
    y: MARGIN + r * (BOX.height + GAP.y),
  })));
  const rows = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
  return {
    at,
    width: MARGIN * 2 + columns.length * BOX.width + (columns.length - 1) * GAP.x,
    height: MARGIN * 2 + rows * BOX.height + (rows - 1) * GAP.y + ARC,
  };
}

/** The path of an edge: a curve to the next column, or an arc under the boxes between. */
function edgePath(from, to) {
  const x1 = from.x + BOX.width;
  const y1 = from.y + BOX.height / 2;
  const x2 = to.x;
  const y2 = to.y + BOX.height / 2;
  if (to.column - from.column <= 1) {
    const bend = (x2 - x1) / 2;
    return `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`;
  }
  const under = Math.max(from.y, to.y) + BOX.height + ARC - 4;
  return `M${x1 - 16},${from.y + BOX.height} C${x1},${under} ${x2},${under} ${x2 + 16},` +
    `${to.y + BOX.height}`;
}

const cut = (text) => (text.length > MAX_LABEL ? text.slice(0, MAX_LABEL - 1) + "…" : text);

/** The graph of ``dag`` ({nodes, edges: [{from, to}]}), ``currentId`` outlined. */
export function dagView(dag, currentId) {
  const nodes = dag.nodes || [];
  const edges = dag.edges || [];
  if (nodes.length <= 1 && !edges.length) {
    return h("p", { class: "empty" }, "This job has no dependencies and no dependents.");
  }
  const { at, width, height } = place(nodes, edges);
  const marker = "arrow-" + Math.random().toString(36).slice(2, 8);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "dag",
    role: "img", "aria-label": `Dependency graph of ${nodes.length} jobs` },
  svg("defs", {}, svg("marker", { id: marker, viewBox: "0 0 10 10", refX: 10, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
  svg("path", { d: "M0,0 L10,5 L0,10 z", class: "dag-arrow" }))));
  for (const edge of edges) {
    const from = at.get(edge.from);
    const to = at.get(edge.to);
    if (!from || !to) continue;
    chart.append(svg("path", { d: edgePath(from, to), class: "dag-edge",
      "marker-end": `url(#${marker})` }));
  }
  for (const node of nodes) {
    const { x, y } = at.get(node.id);
    const status = node.status === "completed" ? "complete" : node.status;
    chart.append(svg("a", { href: href(`/jobs/${encodeURIComponent(node.id)}`),
      class: "dag-node" + (node.id === currentId ? " current" : ""), dataset: { job: node.id } },
    svg("title", {}, `${node.task_name} · ${node.status} · ${node.id}`),
    svg("rect", { x, y, width: BOX.width, height: BOX.height, rx: 6, class: `status-fill-${status}` }),
    svg("text", { x: x + 10, y: y + 19, class: "dag-task" }, cut(node.task_name)),
    svg("text", { x: x + 10, y: y + 36, class: "dag-meta" }, `${node.status} · ${shortId(node.id)}`)));
  }
  return h("div", { class: "dag-wrap" }, chart);
}
