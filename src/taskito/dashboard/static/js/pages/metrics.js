// Metrics: a range (1h, 6h, 24h) and a task, both in the URL; successes and failures per
// interval as stacked bars, latency percentiles (p50, p95, p99) as lines, and a table of
// every task's figures (a row's task name selects it).

import { getOptional } from "../api.js";
import { h, fill, formatCount, formatDuration } from "../dom.js";
import { lines, stackedBars } from "../charts.js";
import { section, table } from "../ui.js";

/** Range -> [seconds, bucket seconds]. */
export const RANGES = { "1h": [3600, 60], "6h": [21600, 300], "24h": [86400, 900] };

function percent(part, whole) {
  return whole ? `${((100 * part) / whole).toFixed(1)}%` : "—";
}

export function mount(ctx) {
  ctx.setTitle("Metrics");
  const state = {
    range: RANGES[ctx.query.get("range")] ? ctx.query.get("range") : "1h",
    task: ctx.query.get("task") || "",
  };
  const rangeSelect = h("select", { name: "range", "aria-label": "Range" },
    Object.keys(RANGES).map((r) => h("option", { value: r, selected: r === state.range }, `last ${r}`)));
  const taskSelect = h("select", { name: "task", "aria-label": "Task" },
    h("option", { value: "" }, "every task"));
  const outcomes = h("div", { class: "chart-box", id: "outcome-chart" });
  const latency = h("div", { class: "chart-box", id: "latency-chart" });
  const perTask = h("div", { id: "metrics-table" });

  const choose = (change) => {
    Object.assign(state, change);
    ctx.setQuery({ range: state.range === "1h" ? "" : state.range, task: state.task }, { push: true });
    ctx.refresh();
  };
  rangeSelect.addEventListener("change", () => choose({ range: rangeSelect.value }));
  taskSelect.addEventListener("change", () => choose({ task: taskSelect.value }));
  ctx.root.append(
    h("div", { class: "toolbar" }, h("label", { class: "field" }, h("span", {}, "Range"), rangeSelect),
      h("label", { class: "field" }, h("span", {}, "Task"), taskSelect)),
    h("div", { class: "columns" }, section("Outcomes", outcomes), section("Latency", latency)),
    section("Per task", perTask));

  const columns = [
    { label: "Task", cell: (r) => h("button", { type: "button", class: "link-button",
      onclick: () => {
        taskSelect.value = r.task;
        choose({ task: r.task });
      } }, r.task) },
    { label: "Runs", class: "num", cell: (r) => formatCount(r.count) },
    { label: "Succeeded", class: "num", cell: (r) => formatCount(r.success_count) },
    { label: "Failed", class: "num", cell: (r) => formatCount(r.failure_count) },
    { label: "Failure rate", class: "num", cell: (r) => percent(r.failure_count, r.count) },
    ...["avg", "p50", "p95", "p99", "min", "max"].map((k) => ({ label: k, class: "num",
      cell: (r) => formatDuration(r[`${k}_ms`]) })),
  ];

  function showTasks(all) {
    const names = Object.keys(all).sort();
    if (state.task && !names.includes(state.task)) names.unshift(state.task);
    fill(taskSelect, h("option", { value: "" }, "every task"),
      names.map((n) => h("option", { value: n, selected: n === state.task }, n)));
    const rows = names.filter((n) => all[n]).map((n) => ({ task: n, ...all[n] }));
    fill(perTask, table(columns, rows, { label: "Per-task metrics",
      empty: "No attempt finished in this range." }));
  }

  function showCharts(series, since, bucket) {
    const bucketMs = bucket * 1000;
    const end = Math.ceil(Date.now() / bucketMs) * bucketMs;
    const start = end - since * 1000;
    const title = state.task || "every task";
    fill(outcomes, stackedBars({
      buckets: series.map((b) => ({ timestamp: b.timestamp, values: [b.success, b.failure] })),
      series: [{ label: "succeeded", class: "series-success" }, { label: "failed", class: "series-failure" }],
      start, end, bucketMs, width: outcomes.clientWidth,
      label: `Succeeded and failed attempts of ${title}, last ${state.range}`,
    }));
    fill(latency, lines({
      points: series.map((b) => ({ timestamp: b.timestamp, values: [b.p50_ms, b.p95_ms, b.p99_ms] })),
      series: [{ label: "p50", class: "series-p50" }, { label: "p95", class: "series-p95" },
        { label: "p99", class: "series-p99" }],
      start, end, width: latency.clientWidth, label: `Latency of ${title}, last ${state.range}`,
    }));
  }

  async function refresh() {
    const [since, bucket] = RANGES[state.range];
    const [all, series] = await Promise.all([
      getOptional("/api/metrics", { since }),
      getOptional("/api/metrics/timeseries", { since, bucket, task: state.task }),
    ]);
    if (all === null || series === null) {
      for (const box of [outcomes, latency, perTask]) {
        fill(box, h("p", { class: "empty" }, "This server does not serve task metrics."));
      }
      return;
    }
    showTasks(all);
    showCharts(series, since, bucket);
  }
  return { refresh };
}
