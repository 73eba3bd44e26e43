// Jobs: the filters (status, queue, task, metadata, error, created after/before) kept in the
// URL, the table, and paging by key: Next asks for the rows after the last one shown (its
// ``created_at,id``), so a deep page costs what the first one does and rows that arrive
// meanwhile shift nothing; Previous goes back through the cursors of the pages before,
// kept in the URL (``after`` and ``trail``) so that a reload or the back button keeps the
// place. One row more than a page is read to know whether a next page exists.

import { get } from "../api.js";
import { h, fill, formatCount, fromLocalInput, toLocalInput } from "../dom.js";
import { jobLink, pager, section, statusBadge, table, time } from "../ui.js";

export const PAGE_SIZE = 20;
const FILTERS = ["status", "queue", "task", "metadata", "error", "created_after", "created_before"];
const STATUS_CHOICES = ["pending", "running", "complete", "failed", "dead", "cancelled"];
const CURSOR = /^\d+,.+$/;
// The cursors kept in the URL: about 60 characters each, so the URL stays well under what a
// server takes in a request line. Further back than that, Previous starts at the first page.
export const MAX_TRAIL = 100;

/** The cursor after ``job``: where the page that follows it starts. */
const cursorOf = (job) => `${job.created_at},${job.id}`;

/**
 * The filters and the place in the URL's query: ``after`` (the cursor this page starts
 * after; none on the first page), ``trail`` (the cursors of the pages between the first and
 * this one, the last MAX_TRAIL of them) and ``page`` (its number, for the "Showing" line).
 * A cursor that is not ``<time>,<id>`` starts again at the first page.
 */
export function readQuery(query) {
  const state = {};
  for (const name of FILTERS) state[name] = query.get(name) || "";
  const after = query.get("after") || "";
  const trail = query.getAll("trail");
  const valid = CURSOR.test(after) && trail.every((c) => CURSOR.test(c));
  state.after = valid ? after : "";
  state.trail = valid ? trail.slice(-MAX_TRAIL) : [];
  const page = Number.parseInt(query.get("page") || "", 10);
  // Never fewer pages than the cursors say (a page number edited down is not believed).
  const least = state.after ? state.trail.length + 2 : 1;
  state.page = state.after && Number.isSafeInteger(page) && page > least ? page : least;
  return state;
}

const LAST_LIST_KEY = "taskito.jobs-list";

/**
 * The breadcrumb back to the jobs list: the filters and the page last shown in this tab,
 * so a job opened from page 3 of a filtered list leads back there.
 */
export function jobsCrumb() {
  let search = "";
  try {
    search = window.sessionStorage.getItem(LAST_LIST_KEY) || "";
  } catch {
    // Storage refused: the crumb leads to the first page.
  }
  const params = new URLSearchParams(search);
  const query = {};
  for (const key of new Set(params.keys())) query[key] = params.getAll(key);
  return { label: "Jobs", path: "/jobs", query };
}

function rememberList() {
  try {
    window.sessionStorage.setItem(LAST_LIST_KEY, window.location.search);
  } catch {
    // Not remembered: the crumb leads to the first page.
  }
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
  let lastShown = null;
  rememberList();
  const results = h("div", { id: "jobs-table" });
  const summary = h("p", { class: "muted", role: "status" });
  const paging = h("div");
  const formBox = h("div");
  const queues = get("/api/queues").then((rows) => rows.map((q) => q.name));

  const filtersOf = () => Object.fromEntries(FILTERS.map((n) => [n, state[n]]));
  const go = (filters, after = "", trail = [], page = 1) => {
    state = { ...filters, after, trail, page };
    ctx.setQuery({ ...filters, page: page > 1 ? page : "", after, trail }, { push: true });
    rememberList();
    ctx.refresh();
  };
  const next = () => {
    if (!lastShown) return;
    const trail = state.after ? [...state.trail, state.after].slice(-MAX_TRAIL) : [];
    go(filtersOf(), cursorOf(lastShown), trail, state.page + 1);
  };
  const previous = () => {
    const trail = [...state.trail];
    const after = trail.pop();
    // Past the cursors kept (more than MAX_TRAIL pages deep), back to the first page.
    if (after) go(filtersOf(), after, trail, state.page - 1);
    else go(filtersOf());
  };
  const renderForm = () => fill(formBox, buildForm(state, queues, (f) => go(f),
    () => {
      go(Object.fromEntries(FILTERS.map((n) => [n, ""])));
      renderForm();
    }));
  renderForm();
  ctx.root.append(section("Filters", formBox), section("Jobs", h("div", {}, summary, results, paging)));

  async function refresh() {
    const filters = filtersOf();
    const { page } = state;
    const rows = await get("/api/jobs", { ...filters, limit: PAGE_SIZE + 1,
      after: state.after });
    const shown = rows.slice(0, PAGE_SIZE);
    lastShown = shown.at(-1) || null;
    const active = FILTERS.filter((n) => filters[n]).length;
    const first = (page - 1) * PAGE_SIZE + 1;
    summary.textContent = shown.length
      ? `Showing ${formatCount(first)}–${formatCount(first + shown.length - 1)}` +
        `${active ? `, ${active} filter${active > 1 ? "s" : ""} applied` : ""}`
      : "";
    fill(results, table(columns, shown, { label: "Jobs",
      empty: page > 1 ? "No more jobs on this page." : active ? "No job matches these filters."
        : "No jobs yet." }));
    fill(paging, pager(page, rows.length > PAGE_SIZE, (n) => (n > page ? next() : previous())));
  }
  // Back and forward show the page again from the URL (the shell remounts it).
  return { refresh };
}
