// Circuit breakers: each task's breaker, its state, failures against the threshold, its
// window and cooldown, and when it last opened or saw a failure.

import { get } from "../api.js";
import { h, fill, formatDuration } from "../dom.js";
import { badge, section, table, time } from "../ui.js";

const STATE_KIND = { closed: "ok", open: "error", half_open: "warning" };

const columns = [
  { label: "Task", cell: (b) => b.task_name },
  { label: "State", cell: (b) => badge(b.state.replace("_", "-"), STATE_KIND[b.state] || "neutral") },
  { label: "Failures", class: "num", cell: (b) => `${b.failure_count} / ${b.threshold}` },
  { label: "Window", cell: (b) => formatDuration(b.window_ms) },
  { label: "Cooldown", cell: (b) => formatDuration(b.cooldown_ms) },
  { label: "Opened", cell: (b) => time(b.opened_at) },
  { label: "Last failure", cell: (b) => time(b.last_failure_at) },
];

export function mount(ctx) {
  ctx.setTitle("Circuit breakers");
  const box = h("div", { id: "breakers-table" });
  ctx.root.append(section("Circuit breakers", box), h("p", { class: "muted note" },
    "A breaker opens after its threshold of failures within its window; while open, jobs of " +
    "its task wait. After the cooldown a few probe jobs run (half-open) and close it again."));
  async function refresh() {
    fill(box, table(columns, await get("/api/circuit-breakers"), { label: "Circuit breakers",
      empty: "No breaker yet: a task declared with circuit_breaker= gets one when its first job runs." }));
  }
  return { refresh };
}
