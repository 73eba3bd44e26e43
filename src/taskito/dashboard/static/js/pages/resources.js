// Resources: each worker resource with its scope, health, how long it took to build, how
// often it was rebuilt, what it depends on, and its pool's figures (task-scoped ones).

import { get } from "../api.js";
import { h, fill } from "../dom.js";
import { badge, section, table } from "../ui.js";

const HEALTH_KIND = { healthy: "ok", unhealthy: "error", degraded: "warning" };

function poolCell(r) {
  const p = r.pool;
  if (!p) return h("span", { class: "muted" }, "—");
  return h("div", { class: "pool-stats" },
    h("div", {}, `${p.active} active · ${p.idle} idle · max ${p.size}`),
    h("div", { class: "muted" },
      `${p.total_acquisitions} acquired · ${p.total_timeouts} timed out · ` +
      `${Number(p.avg_acquire_ms).toFixed(2)} ms avg wait`));
}

const columns = [
  { label: "Resource", cell: (r) => h("span", { class: "mono" }, r.name) },
  { label: "Scope", cell: (r) => r.scope },
  { label: "Health", cell: (r) => badge(r.health.replace("_", " "), HEALTH_KIND[r.health] || "neutral") },
  { label: "Init", class: "num", cell: (r) => `${Number(r.init_duration_ms || 0).toFixed(2)} ms` },
  { label: "Recreations", class: "num", cell: (r) => String(r.recreations ?? 0) },
  { label: "Depends on", cell: (r) => (r.depends_on && r.depends_on.length ? r.depends_on.join(", ") : "—") },
  { label: "Pool", cell: poolCell },
];

export function mount(ctx) {
  ctx.setTitle("Resources");
  const box = h("div", { id: "resources-table" });
  const note = h("p", { class: "muted note" });
  ctx.root.append(section("Resources", box), note);
  async function refresh() {
    const rows = await get("/api/resources");
    fill(box, table(columns, rows, { label: "Resources",
      empty: "No resources. Define one with @queue.worker_resource(\"name\")." }));
    const fromHeartbeats = rows.some((r) => "workers" in r);
    fill(note, fromHeartbeats
      ? "Health as the workers' heartbeats report it: healthy on every worker, unhealthy on " +
        "any, degraded when they disagree. Build times and pools show where a worker runs in " +
        "the dashboard's process."
      : "A worker rebuilds a resource whose health check fails, and marks it unhealthy after " +
        "max_recreation_attempts; reloadable ones are rebuilt by taskito reload --pid N.");
  }
  return { refresh };
}
