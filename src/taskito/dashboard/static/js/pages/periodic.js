// Periodic schedules: each stored schedule, its cron and time zone, queue, and when it runs
// next and ran last.

import { getOptional } from "../api.js";
import { h, fill, formatRelative } from "../dom.js";
import { badge, section, table, time } from "../ui.js";

function when(ms) {
  if (ms === null || ms === undefined) return "—";
  return h("span", {}, time(ms), " ", h("span", { class: "muted" }, `(${formatRelative(ms)})`));
}

const columns = [
  { label: "Schedule", cell: (p) => p.name },
  { label: "Task", cell: (p) => p.task_name },
  { label: "Cron", cell: (p) => h("code", {}, p.cron_expr) },
  { label: "Time zone", cell: (p) => p.timezone || "UTC" },
  { label: "Queue", cell: (p) => p.queue },
  { label: "State", cell: (p) => (p.enabled ? badge("enabled", "ok") : badge("disabled", "neutral")) },
  { label: "Next run", cell: (p) => when(p.next_run) },
  { label: "Last run", cell: (p) => when(p.last_run) },
];

export function mount(ctx) {
  ctx.setTitle("Periodic schedules");
  const box = h("div", { id: "periodic-table" });
  ctx.root.append(section("Periodic schedules", box));
  async function refresh() {
    const schedules = await getOptional("/api/periodic");
    if (schedules === null) {
      fill(box, h("p", { class: "empty" }, "This server does not list periodic schedules."));
      return;
    }
    fill(box, table(columns, schedules, { label: "Periodic schedules",
      empty: "No periodic schedule is stored: one appears once a worker that declares it starts." }));
  }
  return { refresh };
}
