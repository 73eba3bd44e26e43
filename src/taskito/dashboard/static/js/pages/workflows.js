// Workflows: the runs of durable workflows, newest first, filtered by state (kept in the
// URL), a page at a time by key: Next asks for the runs after the last one shown (the
// ``next_cursor`` the API gave), Previous goes back through the cursors of the pages before,
// kept in the URL (``cursor`` and ``trail``) so that a reload or the back button keeps the
// place.

import { get } from "../api.js";
import { h, fill, formatCount, shortId } from "../dom.js";
import { href } from "../router.js";
import { pager, section, statusBadge, table, time } from "../ui.js";

export const PAGE_SIZE = 20;
export const STATES = [
  "pending", "running", "completed", "failed", "cancelled", "paused", "cancelling",
];
const CURSOR = /^-?\d+:.+$/;
const MAX_TRAIL = 100;

/** A link to one run's page: its short id, the full id in a title. */
export function runLink(id) {
  if (!id) return "—";
  return h("a", { href: href(`/workflows/${encodeURIComponent(id)}`), title: id,
    class: "mono" }, shortId(id));
}

/** ``completed 2 · pending 1`` from a run's node counts. */
export function countsText(counts) {
  const parts = Object.entries(counts || {}).map(([status, n]) => `${status} ${n}`);
  return parts.length ? parts.join(" · ") : "—";
}

function lastLine(error) {
  if (!error) return "—";
  const lines = error.trim().split("\n");
  return h("span", { title: error }, lines[lines.length - 1]);
}

export const runColumns = [
  { label: "Run", cell: (r) => runLink(r.id) },
  { label: "Workflow", cell: (r) => r.name },
  { label: "Version", class: "num", cell: (r) => String(r.version) },
  { label: "State", cell: (r) => statusBadge(r.state) },
  { label: "Nodes", cell: (r) => countsText(r.node_counts) },
  { label: "Started", cell: (r) => time(r.started_at) },
  { label: "Finished", cell: (r) => time(r.completed_at) },
  { label: "Error", class: "wide", cell: (r) => lastLine(r.error) },
];

function readQuery(query) {
  const state = STATES.includes(query.get("state")) ? query.get("state") : "";
  const cursor = query.get("cursor") || "";
  const trail = query.getAll("trail");
  const valid = CURSOR.test(cursor) && trail.every((c) => CURSOR.test(c));
  return {
    state,
    cursor: valid ? cursor : "",
    trail: valid ? trail.slice(-MAX_TRAIL) : [],
    page: valid ? trail.length + 2 : 1,
  };
}

export function mount(ctx) {
  ctx.setTitle("Workflows");
  let place = readQuery(ctx.query);
  let nextCursor = null;
  const summary = h("p", { class: "muted", role: "status" });
  const results = h("div", { id: "workflow-runs" });
  const paging = h("div");
  const select = h("select", { name: "state", id: "workflow-state" },
    h("option", { value: "" }, "any"),
    STATES.map((s) => h("option", { value: s, selected: place.state === s }, s)));

  const go = (next) => {
    place = next;
    ctx.setQuery({ state: place.state, cursor: place.cursor, trail: place.trail }, { push: true });
    ctx.refresh();
  };
  select.addEventListener("change", () => go({ state: select.value, cursor: "", trail: [],
    page: 1 }));
  const forward = () => {
    if (!nextCursor) return;
    const trail = place.cursor ? [...place.trail, place.cursor].slice(-MAX_TRAIL) : [];
    go({ ...place, cursor: nextCursor, trail, page: place.page + 1 });
  };
  const back = () => {
    const trail = [...place.trail];
    const cursor = trail.pop() || "";
    go({ ...place, cursor, trail, page: cursor ? place.page - 1 : 1 });
  };

  ctx.root.append(
    section("Filters", h("form", { class: "filters inline", role: "search",
      "aria-label": "Filter workflow runs", onsubmit: (e) => e.preventDefault() },
    h("label", { class: "field" }, h("span", {}, "State"), select))),
    section("Workflow runs", h("div", {}, summary, results, paging)));

  async function refresh() {
    const answer = await get("/api/workflows/runs", { state: place.state, limit: PAGE_SIZE,
      cursor: place.cursor });
    nextCursor = answer.next_cursor;
    const runs = answer.runs;
    const first = (place.page - 1) * PAGE_SIZE + 1;
    summary.textContent = runs.length
      ? `Showing ${formatCount(first)}–${formatCount(first + runs.length - 1)}` +
        (place.state ? `, state ${place.state}` : "")
      : "";
    fill(results, table(runColumns, runs, { label: "Workflow runs",
      empty: place.page > 1 ? "No more runs." : place.state ? `No ${place.state} runs.`
        : "No workflow runs yet: submit one with queue.submit_workflow(...)." }));
    fill(paging, place.page > 1 || nextCursor
      ? pager(place.page, Boolean(nextCursor), (n) => (n > place.page ? forward() : back()))
      : "");
  }
  return { refresh };
}
