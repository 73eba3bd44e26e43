// System: what the process serving this dashboard did with task arguments. The interception
// table counts each strategy applied at enqueue; the proxy table shows, per handler, the
// objects its workers rebuilt from a recipe (a dashboard embedded in a thread or async worker
// shows that worker's figures; a separate server shows its own).

import { get } from "../api.js";
import { h, fill, formatCount, formatDuration } from "../dom.js";
import { section, table } from "../ui.js";

/** The strategies in the order an argument meets them, with what each does. */
export const STRATEGIES = [
  ["pass", "stored as it is"],
  ["convert", "turned into a plain value and back (dates, decimals, UUIDs…)"],
  ["redirect", "replaced by a reference the worker resolves (a resource)"],
  ["proxy", "sent as a recipe and rebuilt in the worker (loggers, files, clients…)"],
  ["reject", "refused at enqueue: the call raised InterceptionError"],
];

const share = (count, total) => (total ? `${((100 * count) / total).toFixed(1)} %` : "—");

function interceptionView(box, stats) {
  if (!stats || stats.total_intercepts === undefined) {
    fill(box, h("p", { class: "empty" }, "Argument interception is off for this queue: " +
      "Queue(interception=\"strict\" or \"lenient\") turns it on."));
    return;
  }
  const counts = stats.strategy_counts || {};
  const total = STRATEGIES.reduce((sum, [name]) => sum + (counts[name] || 0), 0);
  const rows = STRATEGIES.map(([name, meaning]) => ({ name, meaning, count: counts[name] || 0 }));
  fill(box,
    h("p", { class: "muted", id: "interception-summary" },
      `${formatCount(stats.total_intercepts)} calls intercepted, ` +
      `${formatDuration(stats.avg_duration_ms)} each on average ` +
      `(${formatDuration(stats.total_duration_ms)} in all); deepest nesting walked: ` +
      `${formatCount(stats.max_depth_reached)}.`),
    table([
      { label: "Strategy", cell: (r) => h("code", {}, r.name) },
      { label: "Arguments", class: "num", cell: (r) => formatCount(r.count) },
      { label: "Share", class: "num", cell: (r) => share(r.count, total) },
      { label: "What it does", cell: (r) => r.meaning },
    ], rows, { label: "Interception strategies", rowClass: (r) => `strategy-${r.name}` }));
}

const proxyColumns = [
  { label: "Handler", cell: (p) => h("code", {}, p.handler) },
  { label: "Rebuilt", class: "num", cell: (p) => formatCount(p.total_reconstructions) },
  { label: "Errors", class: "num", cell: (p) => formatCount(p.total_errors) },
  { label: "Checksum failures", class: "num", cell: (p) => formatCount(p.total_checksum_failures) },
  { label: "Clean-up errors", class: "num", cell: (p) => formatCount(p.total_cleanup_errors) },
  { label: "Average", class: "num", cell: (p) => formatDuration(p.avg_duration_ms) },
  { label: "p95", class: "num", cell: (p) => formatDuration(p.p95_duration_ms) },
  { label: "Longest", class: "num", cell: (p) => formatDuration(p.max_duration_ms) },
];

export function mount(ctx) {
  ctx.setTitle("System");
  const interception = h("div", { id: "interception-table" });
  const proxies = h("div", { id: "proxy-table" });
  ctx.root.append(
    section("Argument interception", interception),
    section("Proxy reconstruction", proxies),
    h("p", { class: "muted note" }, "These figures belong to the process that serves this " +
      "dashboard since it started: its enqueues, and the jobs its own workers ran."));
  async function refresh() {
    const [stats, rebuilt] = await Promise.all([get("/api/interception-stats"),
      get("/api/proxy-stats")]);
    interceptionView(interception, stats);
    fill(proxies, table(proxyColumns, rebuilt, { label: "Proxy reconstruction",
      empty: "No proxy rebuilt in this process yet: a task whose arguments include a proxied " +
        "object (a logger, an open file, a client) gets one when a worker here runs it." }));
  }
  return { refresh };
}
