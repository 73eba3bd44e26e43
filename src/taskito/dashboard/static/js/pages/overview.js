// Overview: the health banner (/readiness), the six status counts, throughput over the last
// hour (/api/metrics/timeseries), the queues and the ten most recent jobs.

import { ApiError, get, getOptional } from "../api.js";
import { h, fill, formatCount, formatDuration } from "../dom.js";
import { stackedBars } from "../charts.js";
import { href } from "../router.js";
import { jobLink, section, statusBadge, table, time, badge } from "../ui.js";
import { QUEUE_COUNTS } from "./queues.js";

export const STATUSES = ["pending", "running", "completed", "failed", "dead", "cancelled"];
const HOUR_MS = 3600_000;
const BUCKET_S = 60;

const asError = (error) => (error instanceof Error ? error : new Error(String(error)));

async function readiness() {
  try {
    return await getOptional("/readiness");
  } catch (error) {
    // Not ready answers 503 with the same body.
    if (error instanceof ApiError && error.body && error.body.status) return error.body;
    throw error;
  }
}

function healthBanner(box, ready) {
  if (ready instanceof Error) {
    box.className = "health banner banner-warning";
    box.dataset.status = "unknown";
    fill(box, h("strong", {}, "Health unknown"), ` · ${ready.message}`);
    box.hidden = false;
    return;
  }
  if (!ready) {
    box.hidden = true;
    return;
  }
  const checks = ready.checks || {};
  const workers = checks.workers || {};
  const storage = checks.storage || {};
  const kind = { ready: "ok", degraded: "warning" }[ready.status] || "error";
  const title = { ready: "Healthy", degraded: "Degraded" }[ready.status] || "Not ready";
  const details = [];
  if (storage.status === "ok") {
    details.push(`storage answered in ${formatDuration(storage.latency_ms)}`);
  } else if (storage.error) {
    details.push(`storage: ${storage.error}`);
  }
  if (workers.count !== undefined) {
    details.push(`${workers.count} live worker${workers.count === 1 ? "" : "s"}` +
      (workers.stale ? `, ${workers.stale} silent` : ""));
  }
  box.className = `health banner banner-${kind}`;
  box.dataset.status = ready.status;
  fill(box, h("strong", {}, title), details.length ? " · " + details.join(" · ") : "");
  box.hidden = false;
}

function statCards(box, stats) {
  fill(box, STATUSES.map((status) => h("a", {
    class: `stat stat-${status === "completed" ? "complete" : status}`,
    href: href("/jobs", { status }), dataset: { status },
  }, h("span", { class: "stat-label" }, status),
  h("span", { class: "stat-value" }, formatCount(stats[status] ?? 0)))));
}

function throughput(box, series) {
  if (series instanceof Error) {
    fill(box, h("p", { class: "warning-text" }, `Task metrics could not be read: ${series.message}`));
    return;
  }
  if (series === null) {
    fill(box, h("p", { class: "empty" }, "This server does not serve task metrics."));
    return;
  }
  const end = Math.ceil(Date.now() / (BUCKET_S * 1000)) * BUCKET_S * 1000;
  const total = series.reduce((sum, b) => sum + b.count, 0);
  fill(box,
    h("p", { class: "muted chart-note" }, `${formatCount(total)} attempts finished in the last hour`),
    stackedBars({
      buckets: series.map((b) => ({ timestamp: b.timestamp, values: [b.success, b.failure] })),
      series: [{ label: "succeeded", class: "series-success" },
        { label: "failed", class: "series-failure" }],
      start: end - HOUR_MS, end, bucketMs: BUCKET_S * 1000, height: 140,
      width: box.clientWidth, label: "Attempts per minute over the last hour",
    }));
}

const recentColumns = [
  { label: "Job", cell: (j) => jobLink(j.id) },
  { label: "Task", cell: (j) => j.task_name },
  { label: "Queue", cell: (j) => j.queue },
  { label: "Status", cell: (j) => statusBadge(j.status) },
  { label: "Created", cell: (j) => time(j.created_at) },
];

const queueColumns = [
  { label: "Queue", cell: (q) => h("a", { href: href("/jobs", { queue: q.name }) }, q.name) },
  ...QUEUE_COUNTS.map((key) => ({ label: key, class: "num", cell: (q) => formatCount(q[key]) })),
  { label: "", cell: (q) => (q.paused ? badge("paused", "warning") : "") },
];

export function mount(ctx) {
  ctx.setTitle("Overview");
  const health = h("div", { class: "health", hidden: true, role: "status" });
  const cards = h("div", { class: "stats", id: "stat-cards" });
  const chart = h("div", { class: "chart-box", id: "throughput" });
  const queues = h("div");
  const recent = h("div");
  ctx.root.append(health,
    section("Jobs by status", cards),
    section("Throughput, last hour", chart),
    h("div", { class: "columns" },
      section("Queues", queues, h("a", { href: href("/queues") }, "All queues")),
      section("Recent jobs", recent, h("a", { href: href("/jobs") }, "All jobs"))));

  async function refresh() {
    const [stats, queueRows, jobs, series, ready] = await Promise.all([
      get("/api/stats"),
      get("/api/queues"),
      get("/api/jobs", { limit: 10 }),
      // The health banner and the chart are extras: their failure leaves the rest shown.
      getOptional("/api/metrics/timeseries", { since: 3600, bucket: BUCKET_S }).catch(asError),
      readiness().catch(asError),
    ]);
    healthBanner(health, ready);
    statCards(cards, stats);
    throughput(chart, series);
    fill(queues, table(queueColumns, queueRows, { empty: "No queue holds jobs yet." }));
    fill(recent, table(recentColumns, jobs, { empty: "No jobs yet." }));
  }
  return { refresh };
}
