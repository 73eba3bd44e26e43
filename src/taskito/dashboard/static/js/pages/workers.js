// Workers: every registered worker with a liveness dot (from its heartbeat's age), the pool,
// the queues it consumes, its host and process, and when it started.

import { get } from "../api.js";
import { h, fill, formatDuration, formatRelative } from "../dom.js";
import { badge, section, table, time } from "../ui.js";

// Workers heartbeat every second; one silent for 10 s is taken for dead by the others.
const LATE_MS = 3000;
const STALE_MS = 10_000;
const STATUS_KIND = { active: "ok", draining: "warning" };

export function liveness(worker, now = Date.now()) {
  const age = now - worker.last_heartbeat;
  if (age < LATE_MS) return { kind: "live", text: "alive" };
  if (age < STALE_MS) return { kind: "late", text: "late heartbeat" };
  return { kind: "stale", text: "silent" };
}

const columns = [
  { label: "", cell: (w) => {
    const state = liveness(w);
    return h("span", { class: `dot dot-${state.kind}`, title: state.text, role: "img",
      "aria-label": state.text });
  } },
  { label: "Worker", cell: (w) => h("span", { class: "mono", title: w.worker_id }, w.worker_id) },
  { label: "Status", cell: (w) => badge(w.status || "—", STATUS_KIND[w.status] || "neutral") },
  { label: "Heartbeat", cell: (w) => h("span", { title: new Date(w.last_heartbeat).toLocaleString() },
    formatRelative(w.last_heartbeat)) },
  { label: "Pool", cell: (w) => w.pool_type || "thread" },
  { label: "Slots", class: "num", cell: (w) => String(w.threads ?? "—") },
  { label: "Queues", cell: (w) => (w.queues === "*" ? "every queue" : w.queues) },
  { label: "Host", cell: (w) => `${w.hostname || "?"} · pid ${w.pid ?? "?"}` },
  { label: "Started", cell: (w) => h("span", {}, time(w.started_at), " ",
    h("span", { class: "muted" }, `(up ${formatDuration(Date.now() - w.started_at)})`)) },
  { label: "Tags", cell: (w) => w.tags || "—" },
];

export function mount(ctx) {
  ctx.setTitle("Workers");
  const box = h("div", { id: "workers-table" });
  ctx.root.append(section("Workers", box));
  async function refresh() {
    const workers = await get("/api/workers");
    fill(box, table(columns, workers, { label: "Workers",
      empty: "No worker is registered. Start one with: taskito worker --app module:queue" }));
  }
  return { refresh };
}
