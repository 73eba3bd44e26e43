// Jobs: the filters (status, queue, task, metadata, error, created after/before) kept in the
// URL, the table, and paging (prev/next; one row more than a page is read to know whether
// a next page exists).

import { get } from "../api.js";
import { h, fill, formatCount, fromLocalInput, toLocalInput } from "../dom.js";
import { jobLink, pager, section, statusBadge, table, time } from "../ui.js";

export const PAGE_SIZE = 20;
const FILTERS = ["status", "queue", "task", "metadata", "error", "created_after", "created_before"];
const STATUS_CHOICES = ["pending", "running", "complete", "failed", "dead", "cancelled"];

/** The filters and page number in the URL's query. */
export function readQuery(query) {
  const state = {};
  for (const name of FILTERS) state[name] = query.get(name) || "";
  const page = Number.parseInt(query.get("page") || "1", 10);
  state.page = Number.isFinite(page) && page > 0 ? page : 1;
  return state;
}

function progressCell(job) {
  if (job.progress === null || job.progress === undefined) return "—";
  return h("span", { class: "mini-progress" },
    h("progress", { max: 100, value: job.progress, "aria-label": `${job.progress}%` }),
    ` ${job.progress}%`);
}

const columns = [
  { label: "Job", cell: (j) => jobLink(j.id) },
  { label: "Task", cell: (j) => j.task_name },
  { label: "Queue", cell: (j) => j.queue },
  { label: "Status", cell: (j) => statusBadge(j.status) },
  { label: "Priority", class: "num", cell: (j) => String(j.priority) },
  { label: "Progress", cell: progressCell },
  { label: "Retries", class: "num", cell: (j) => `${j.retry_count} / ${j.max_retries}` },
  { label: "Created", cell: (j) => time(j.created_at) },
];

function field(label, input) {
  return h("label", { class: "field" }, h("span", {}, label), input);
}

function buildForm(state, queues, onSubmit, onClear) {
  const status = h("select", { name: "status" }, h("option", { value: "" }, "any"),
    STATUS_CHOICES.map((s) => h("option", { value: s, selected: state.status === s }, s)));
  const queueList = h("datalist", { id: "queue-names" });
  const input = (name, placeholder, extra = {}) => h("input", { name, value: state[name],
    placeholder, type: "search", autocomplete: "off", ...extra });
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter jobs" },
    field("Status", status),
    field("Queue", input("queue", "any queue", { list: "queue-names" })),
    field("Task", input("task", "task name")),
    field("Metadata", input("metadata", "contains…")),
    field("Error", input("error", "contains…")),
    field("Created after", h("input", { type: "datetime-local", name: "created_after",
      value: toLocalInput(state.created_after) })),
    field("Created before", h("input", { type: "datetime-local", name: "created_before",
      value: toLocalInput(state.created_before) })),
    h("div", { class: "filter-buttons" },
      h("button", { type: "submit", class: "primary" }, "Apply"),
      h("button", { type: "button", onclick: onClear }, "Clear")),
    queueList);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = {};
    for (const name of FILTERS) {
      const value = String(data.get(name) || "").trim();
      next[name] = name.startsWith("created_") ? fromLocalInput(value) : value;
    }
    onSubmit(next);
  });
  queues.then((names) => fill(queueList, names.map((n) => h("option", { value: n }))))
    .catch(() => {});
  return form;
}

export function mount(ctx) {
  ctx.setTitle("Jobs");
  let state = readQuery(ctx.query);
  const results = h("div", { id: "jobs-table" });
  const summary = h("p", { class: "muted", role: "status" });
  const paging = h("div");
  const formBox = h("div");
  const queues = get("/api/queues").then((rows) => rows.map((q) => q.name));

  const apply = (filters, page = 1) => {
    state = { ...filters, page };
    const query = { ...filters, page: page > 1 ? page : "" };
    ctx.setQuery(query, { push: true });
    ctx.refresh();
  };
  const renderForm = () => fill(formBox, buildForm(state, queues, (f) => apply(f),
    () => {
      apply(Object.fromEntries(FILTERS.map((n) => [n, ""])));
      renderForm();
    }));
  renderForm();
  ctx.root.append(section("Filters", formBox), section("Jobs", h("div", {}, summary, results, paging)));

  async function refresh() {
    const { page, ...filters } = state;
    const rows = await get("/api/jobs", { ...filters, limit: PAGE_SIZE + 1,
      offset: (page - 1) * PAGE_SIZE });
    const shown = rows.slice(0, PAGE_SIZE);
    const active = FILTERS.filter((n) => filters[n]).length;
    summary.textContent = shown.length
      ? `Showing ${formatCount((page - 1) * PAGE_SIZE + 1)}–${formatCount((page - 1) * PAGE_SIZE +
        shown.length)}${active ? `, ${active} filter${active > 1 ? "s" : ""} applied` : ""}`
      : "";
    fill(results, table(columns, shown, { label: "Jobs",
      empty: active ? "No job matches these filters." : "No jobs yet." }));
    fill(paging, pager(page, rows.length > PAGE_SIZE, (n) => {
      const { page: _, ...current } = state;
      apply(current, n);
    }));
  }
  // Back and forward show the page again from the URL (the shell remounts it).
  return { refresh };
}
