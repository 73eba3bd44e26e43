// Queues: each queue's depth by status, a paused badge, and Pause / Resume.

import { get, post, segment } from "../api.js";
import { h, fill, formatCount } from "../dom.js";
import { href } from "../router.js";
import { actionButton, badge, confirmAction, section, table, toast } from "../ui.js";

// Completed jobs are not counted per queue: on a big table that would visit every one.
export const QUEUE_COUNTS = ["pending", "running", "failed", "dead", "cancelled"];

export function mount(ctx) {
  ctx.setTitle("Queues");
  const box = h("div", { id: "queues-table" });
  ctx.root.append(section("Queues", box),
    h("p", { class: "muted note" }, "A paused queue keeps its jobs; workers take none of them " +
      "until it is resumed. Jobs already running finish."));

  const pause = async (name) => {
    const ok = await confirmAction({ title: `Pause queue ${name}?`,
      message: "Workers stop taking its jobs until it is resumed.", confirmLabel: "Pause" });
    if (!ok) return;
    await post(`/api/queues/${segment(name)}/pause`);
    toast(`Queue ${name} paused.`, "success");
    await ctx.refresh();
  };
  const resume = async (name) => {
    await post(`/api/queues/${segment(name)}/resume`);
    toast(`Queue ${name} resumed.`, "success");
    await ctx.refresh();
  };

  const columns = [
    { label: "Queue", cell: (q) => h("a", { href: href("/jobs", { queue: q.name }) }, q.name) },
    { label: "State", cell: (q) => (q.paused ? badge("paused", "warning") : badge("active", "ok")) },
    ...QUEUE_COUNTS.map((key) => ({ label: key, class: "num", cell: (q) => formatCount(q[key]) })),
    { label: "", cell: (q) => (q.paused
      ? actionButton("Resume", ctx, () => resume(q.name))
      : actionButton("Pause", ctx, () => pause(q.name))) },
  ];

  async function refresh() {
    const rows = await get("/api/queues");
    fill(box, table(columns, rows, { label: "Queues",
      empty: "No queue holds jobs yet: a queue appears with its first job.",
      rowClass: (q) => `queue-row${q.paused ? " paused" : ""}` }));
    for (const [i, row] of [...box.querySelectorAll("tbody tr")].entries()) {
      row.dataset.queue = rows[i].name;
    }
  }
  return { refresh };
}
