// Logs: a live tail of the log lines tasks write (``current_job.log``), newest first, with
// task and level filters kept in the URL. Each refresh asks only for lines newer than the
// newest shown (``after=<id>``); the tail can be paused.

import { get } from "../api.js";
import { h, fill, formatCount } from "../dom.js";
import { badge, jobLink, section, table, time } from "../ui.js";

const LEVELS = ["debug", "info", "warning", "error", "critical", "result"];
const MAX_ROWS = 500;
const FIRST_LIMIT = 200;
const LEVEL_KIND = { debug: "neutral", info: "info", warning: "warning", error: "error",
  critical: "error", result: "info" };

function extraText(extra) {
  if (extra === null || extra === undefined || extra === "") return "";
  if (typeof extra === "string") {
    try {
      return JSON.stringify(JSON.parse(extra));
    } catch {
      return extra;
    }
  }
  return JSON.stringify(extra);
}

export const logColumns = [
  { label: "Time", cell: (l) => time(l.logged_at) },
  { label: "Level", cell: (l) => badge(l.level, LEVEL_KIND[l.level] || "neutral") },
  { label: "Task", cell: (l) => l.task_name },
  { label: "Job", cell: (l) => jobLink(l.job_id) },
  { label: "Message", class: "wide", cell: (l) => l.message },
  { label: "Extra", cell: (l) => h("code", { class: "small" }, extraText(l.extra)) },
];

export function mount(ctx) {
  ctx.setTitle("Logs");
  const filters = { task: ctx.query.get("task") || "", level: ctx.query.get("level") || "" };
  let lines = [];
  let paused = false;
  const rows = h("div", { id: "log-lines" });
  const note = h("p", { class: "muted", role: "status" });
  const task = h("input", { type: "search", name: "task", value: filters.task,
    placeholder: "any task", autocomplete: "off" });
  const level = h("select", { name: "level" }, h("option", { value: "" }, "any level"),
    LEVELS.map((l) => h("option", { value: l, selected: filters.level === l }, l)));
  const pause = h("button", { type: "button", "aria-pressed": "false" }, "Pause tail");
  const form = h("form", { class: "filters inline", role: "search", "aria-label": "Filter logs" },
    h("label", { class: "field" }, h("span", {}, "Task"), task),
    h("label", { class: "field" }, h("span", {}, "Level"), level),
    h("div", { class: "filter-buttons" }, h("button", { type: "submit", class: "primary" }, "Apply"),
      pause));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    filters.task = task.value.trim();
    filters.level = level.value;
    ctx.setQuery(filters, { push: true });
    lines = [];
    ctx.refresh();
  });
  level.addEventListener("change", () => form.requestSubmit());
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume tail" : "Pause tail";
    pause.setAttribute("aria-pressed", String(paused));
    if (!paused) ctx.refresh();
  });
  ctx.root.append(section("Filters", form), section("Log lines", h("div", {}, note, rows)));

  async function refresh() {
    if (paused && lines.length) return;
    const newest = lines.length ? lines[0].id : null;
    const fresh = await get("/api/logs", { ...filters, limit: FIRST_LIMIT, after: newest });
    const known = new Set(lines.map((l) => l.id));
    const added = fresh.filter((l) => !known.has(l.id));
    lines = [...added, ...lines].sort((a, b) => b.id - a.id).slice(0, MAX_ROWS);
    note.textContent = `${formatCount(lines.length)} line${lines.length === 1 ? "" : "s"}` +
      ` from the last hour${paused ? " (paused)" : ", newest first, updated live"}`;
    const addedIds = new Set(added.map((l) => l.id));
    fill(rows, table(logColumns, lines, { label: "Log lines", empty: "No log lines in the last hour.",
      rowClass: (l) => (newest !== null && addedIds.has(l.id) ? "fresh" : null) }));
  }
  return { refresh };
}
