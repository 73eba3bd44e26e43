// Runtime overrides: each task's own limits and its override (running workers apply a
// change within a second), with Pause / Resume and Clear; the middleware and where it is off.

import { del, get, put, segment } from "../api.js";
import { h, fill } from "../dom.js";
import { actionButton, badge, section, table, toast } from "../ui.js";

const shown = (value) => (value === null || value === undefined ? "—" : String(value));

function describe(override) {
  if (!override) return "—";
  const parts = ["rate_limit", "max_concurrent", "timeout"]
    .filter((key) => override[key] !== null)
    .map((key) => `${key}=${override[key]}`);
  return parts.length ? parts.join(", ") : "—";
}

export function mount(ctx) {
  ctx.setTitle("Overrides");
  const tasksBox = h("div", { id: "overrides-tasks" });
  const middlewareBox = h("div", { id: "overrides-middleware" });
  ctx.root.append(section("Tasks", tasksBox), section("Middleware", middlewareBox),
    h("p", { class: "muted note" }, "Running workers apply an override within a second. A " +
      "paused task's jobs stay pending (no retry spent) until it is resumed."));

  const setPaused = async (name, paused) => {
    await put(`/api/tasks/${segment(name)}/override`, { paused });
    toast(`Task ${name} ${paused ? "paused" : "resumed"}.`, "success");
    await ctx.refresh();
  };
  const clear = async (name) => {
    await del(`/api/tasks/${segment(name)}/override`);
    toast(`Overrides of ${name} cleared.`, "success");
    await ctx.refresh();
  };

  const taskColumns = [
    { label: "Task", cell: (t) => t.name },
    { label: "Queue", cell: (t) => t.queue },
    { label: "State", cell: (t) => (t.paused ? badge("paused", "warning") : badge("active", "ok")) },
    { label: "Rate limit", cell: (t) => shown(t.defaults.rate_limit) },
    { label: "Max concurrent", cell: (t) => shown(t.defaults.max_concurrent) },
    { label: "Timeout (s)", cell: (t) => shown(t.defaults.timeout) },
    { label: "Override", cell: (t) => describe(t.override) },
    { label: "Middleware off", cell: (t) => t.disabled_middleware.join(", ") || "—" },
    { label: "", cell: (t) => h("span", { class: "row-actions" },
      t.paused
        ? actionButton("Resume", ctx, () => setPaused(t.name, false))
        : actionButton("Pause", ctx, () => setPaused(t.name, true)),
      " ",
      actionButton("Clear", ctx, () => clear(t.name))) },
  ];
  const middlewareColumns = [
    { label: "Middleware", cell: (m) => h("code", {}, m.name) },
    { label: "Runs for", cell: (m) => (m.scope === "global" ? "every task" : m.scope) },
  ];

  async function refresh() {
    const [tasks, middleware] = await Promise.all([get("/api/tasks"), get("/api/middleware")]);
    fill(tasksBox, table(taskColumns, tasks, { label: "Tasks",
      empty: "This queue registers no task." }));
    for (const [i, row] of [...tasksBox.querySelectorAll("tbody tr")].entries()) {
      row.dataset.task = tasks[i].name;
    }
    fill(middlewareBox, table(middlewareColumns, middleware, { label: "Middleware",
      empty: "No middleware runs on this queue." }));
  }
  return { refresh };
}
