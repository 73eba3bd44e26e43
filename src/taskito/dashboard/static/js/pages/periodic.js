// Periodic schedules: each stored schedule, its cron and time zone, queue, and when it runs
// next and ran last; an admin pauses, resumes or deletes one.

import { del, getOptional, post, segment } from "../api.js";
import { h, fill, formatRelative } from "../dom.js";
import { actionButton, badge, confirmAction, section, table, time, toast } from "../ui.js";

function when(ms) {
  if (ms === null || ms === undefined) return "—";
  return h("span", {}, time(ms), " ", h("span", { class: "muted" }, `(${formatRelative(ms)})`));
}

export function mount(ctx) {
  ctx.setTitle("Periodic schedules");
  const box = h("div", { id: "periodic-table" });
  ctx.root.append(section("Periodic schedules", box),
    h("p", { class: "muted note" }, "A paused schedule stays paused when workers restart; " +
      "resuming it starts from its next slot. A deleted schedule comes back when a worker " +
      "whose app declares it starts."));

  const pause = async (name) => {
    await post(`/api/periodic/${segment(name)}/pause`);
    toast(`Schedule ${name} paused.`, "success");
    await ctx.refresh();
  };
  const resume = async (name) => {
    await post(`/api/periodic/${segment(name)}/resume`);
    toast(`Schedule ${name} resumed.`, "success");
    await ctx.refresh();
  };
  const remove = async (name) => {
    const ok = await confirmAction({ title: `Delete schedule ${name}?`,
      message: "It stops firing; the jobs it fired stay.", confirmLabel: "Delete",
      danger: true });
    if (!ok) return;
    await del(`/api/periodic/${segment(name)}`);
    toast(`Schedule ${name} deleted.`, "success");
    await ctx.refresh();
  };

  const columns = [
    { label: "Schedule", cell: (p) => p.name },
    { label: "Task", cell: (p) => p.task_name },
    { label: "Cron", cell: (p) => h("code", {}, p.cron_expr) },
    { label: "Time zone", cell: (p) => p.timezone || "UTC" },
    { label: "Queue", cell: (p) => p.queue },
    { label: "State", cell: (p) => (p.enabled ? badge("enabled", "ok") : badge("paused", "warning")) },
    { label: "Next run", cell: (p) => when(p.next_run) },
    { label: "Last run", cell: (p) => when(p.last_run) },
    { label: "", cell: (p) => h("span", { class: "row-actions" },
      p.enabled
        ? actionButton("Pause", ctx, () => pause(p.name))
        : actionButton("Resume", ctx, () => resume(p.name)),
      " ",
      actionButton("Delete", ctx, () => remove(p.name), { danger: true })) },
  ];

  async function refresh() {
    const schedules = await getOptional("/api/periodic");
    if (schedules === null) {
      fill(box, h("p", { class: "empty" }, "This server does not list periodic schedules."));
      return;
    }
    fill(box, table(columns, schedules, { label: "Periodic schedules",
      empty: "No periodic schedule is stored: one appears once a worker that declares it starts." }));
    for (const [i, row] of [...box.querySelectorAll("tbody tr")].entries()) {
      row.dataset.schedule = schedules[i].name;
    }
  }
  return { refresh };
}
