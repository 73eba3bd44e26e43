// One job: every field, the progress bar, the error box, arguments and result, tabs for
// Errors, Logs, Replay history and the dependency graph, and the actions Cancel,
// Force-cancel (a running job) and Replay.

import { ApiError, get, post, segment } from "../api.js";
import { h, fill, formatDuration, shortId } from "../dom.js";
import { dagView } from "../dag.js";
import { actionButton, confirmAction, fields, jobLink, jsonText, section, statusBadge,
  table, tabs, time, toast } from "../ui.js";
import { jobsCrumb } from "./jobs.js";
import { logColumns } from "./logs.js";

const TABS = [
  { id: "errors", label: "Errors" },
  { id: "logs", label: "Logs" },
  { id: "replays", label: "Replay history" },
  { id: "dag", label: "Dependency graph" },
];
const FINISHED = new Set(["complete", "failed", "dead", "cancelled"]);

function metadataText(metadata) {
  try {
    return JSON.stringify(JSON.parse(metadata), null, 2);
  } catch {
    return metadata;
  }
}

function jobFields(job) {
  const ran = job.started_at && job.completed_at ? job.completed_at - job.started_at : null;
  return fields([
    ["Id", h("span", { class: "mono" }, job.id)],
    ["Task", job.task_name],
    ["Queue", job.queue],
    ["Status", statusBadge(job.status)],
    ["Priority", String(job.priority)],
    ["Retries", `${job.retry_count} of ${job.max_retries}`],
    ["Created", time(job.created_at)],
    ["Scheduled", time(job.scheduled_at)],
    ["Started", time(job.started_at)],
    ["Finished", time(job.completed_at)],
    ["Ran for", ran === null ? "—" : formatDuration(ran)],
    ["Timeout", job.timeout_ms ? formatDuration(job.timeout_ms) : "none"],
    ["Unique key", job.unique_key || "—"],
    ["Namespace", job.namespace || "—"],
    ["Metadata", job.metadata ? h("pre", { class: "code" }, metadataText(job.metadata)) : "—"],
  ]);
}

function progressBar(job) {
  const reported = job.progress !== null && job.progress !== undefined;
  if (!reported && FINISHED.has(job.status)) return "";
  const value = job.progress ?? 0;
  return h("div", { class: "progress-row" },
    h("progress", { id: "job-progress", max: 100, value, dataset: { progress: String(value) },
      "aria-label": "Progress" }),
    h("span", { class: "progress-text" },
      reported ? `${value}%` : "no progress reported yet"));
}

const errorColumns = [
  { label: "Attempt", class: "num", cell: (e) => String(e.attempt) },
  { label: "Failed", cell: (e) => time(e.failed_at) },
  { label: "Error", cell: (e) => h("pre", { class: "code small" }, e.error) },
];

const replayColumns = [
  { label: "Replayed", cell: (r) => time(r.replayed_at) },
  { label: "Replay", cell: (r) => jobLink(r.replay_job_id) },
  { label: "Original error", cell: (r) => r.original_error || "—" },
  { label: "Replay error", cell: (r) => r.replay_error || "—" },
];

async function tabContent(tab, jobId) {
  const base = `/api/jobs/${segment(jobId)}`;
  if (tab === "logs") {
    const rows = await get(base + "/logs");
    return table(logColumns.filter((c) => c.label !== "Job"), rows,
      { empty: "This job logged nothing.", label: "Logs" });
  }
  if (tab === "replays") {
    return table(replayColumns, await get(base + "/replay-history"),
      { empty: "This job was never replayed.", label: "Replay history" });
  }
  if (tab === "dag") return dagView(await get(base + "/dag"), jobId);
  return table(errorColumns, await get(base + "/errors"),
    { empty: "No failed attempt.", label: "Errors" });
}

function argumentsView(answer) {
  if (answer.error) return h("p", { class: "warning-text" }, answer.error);
  return fields([
    ["args", h("pre", { class: "code" }, jsonText(answer.args))],
    ["kwargs", h("pre", { class: "code" }, jsonText(answer.kwargs))],
  ]);
}

function resultView(job, answer) {
  if (job.status !== "complete") {
    return h("p", { class: "muted" }, FINISHED.has(job.status) ? "No result." : "Not finished yet.");
  }
  if (answer.result_error) return h("p", { class: "warning-text" }, answer.result_error);
  return h("pre", { class: "code" }, jsonText(answer.result));
}

export function mount(ctx) {
  const jobId = ctx.params.id;
  ctx.setTitle(jobsCrumb(), shortId(jobId));
  let tab = TABS.some((t) => t.id === ctx.query.get("tab")) ? ctx.query.get("tab") : "errors";
  let resultShownFor = null;
  const head = h("div", { class: "job-head" });
  const progress = h("div");
  const errorBox = h("div");
  const details = h("div");
  const args = h("div", { id: "job-arguments" }, h("p", { class: "muted" }, "Loading…"));
  const result = h("div", { id: "job-result" });
  const tabBar = h("div");
  const tabBody = h("div", { class: "tab-body", role: "tabpanel" });
  ctx.root.append(h("section", { class: "panel job-card" }, head, progress, errorBox),
    h("div", { class: "columns" }, section("Fields", details),
      section("Arguments and result", h("div", {}, h("h3", {}, "Arguments"), args,
        h("h3", {}, "Result"), result))),
    h("section", { class: "panel" }, tabBar, tabBody));

  const selectTab = (id) => {
    tab = id;
    ctx.setQuery(id === "errors" ? {} : { tab: id });
    fill(tabBar, tabs(TABS, tab, selectTab));
    fill(tabBody, h("p", { class: "muted" }, "Loading…"));
    ctx.refresh();
  };
  fill(tabBar, tabs(TABS, tab, selectTab));

  const cancel = async (force) => {
    const ok = await confirmAction({
      title: force ? "Force-cancel this job?" : "Cancel this job?",
      message: force
        ? "The worker's pool stops the task even if it never checks for cancellation."
        : "A pending job will not run; a running one stops at its next cancellation check.",
      confirmLabel: force ? "Force-cancel" : "Cancel job", danger: true,
    });
    if (!ok) return;
    const answer = await post(`/api/jobs/${segment(jobId)}/cancel`, { force });
    const said = {
      cancelled: "Job cancelled.",
      requested: "Cancellation requested: the worker stops the job.",
      finished: "The job had already finished.",
    }[answer.outcome] || `Outcome: ${answer.outcome}`;
    toast(said, answer.cancelled ? "success" : "info");
    ctx.refresh();
  };
  const replay = async () => {
    const ok = await confirmAction({ title: "Replay this job?",
      message: "A new job runs with the same task and arguments.", confirmLabel: "Replay" });
    if (!ok) return;
    const answer = await post(`/api/jobs/${segment(jobId)}/replay`);
    toast("Replayed as a new job.", "success", " ", jobLink(answer.replay_job_id));
    ctx.navigate(`/jobs/${encodeURIComponent(answer.replay_job_id)}`);
  };

  const requeue = async () => {
    const ok = await confirmAction({ title: "Requeue this job?",
      message: "For a job stuck on a hung worker: it goes back to pending as a new attempt, " +
        "and the hung attempt's late result is refused. Its retries are kept.",
      confirmLabel: "Requeue" });
    if (!ok) return;
    await post(`/api/jobs/${segment(jobId)}/requeue`);
    toast("Requeued as a new attempt.", "success");
    ctx.refresh();
  };

  function showHead(job) {
    const actions = h("div", { class: "actions" });
    if (job.status === "pending" || job.status === "running") {
      actions.append(actionButton("Cancel", ctx, () => cancel(false), { danger: true }));
    }
    if (job.status === "running") {
      actions.append(actionButton("Force-cancel", ctx, () => cancel(true), { danger: true }));
      actions.append(actionButton("Requeue", ctx, requeue));
    }
    if (FINISHED.has(job.status)) actions.append(actionButton("Replay", ctx, replay));
    fill(head, h("div", {}, h("h2", { class: "job-title" }, job.task_name, " ", statusBadge(job.status)),
      h("p", { class: "muted mono" }, job.id)), actions);
    fill(progress, progressBar(job));
    fill(errorBox, job.error ? h("pre", { class: "error-box", role: "note" }, job.error) : "");
  }

  async function showPayload(job) {
    if (resultShownFor === job.status) return;
    const base = `/api/jobs/${segment(jobId)}`;
    const [argAnswer, resultAnswer] = await Promise.all([get(base + "/arguments"),
      get(base + "/result")]);
    fill(args, argumentsView(argAnswer));
    fill(result, resultView(job, resultAnswer));
    resultShownFor = job.status;
  }

  async function refresh() {
    let job;
    try {
      job = await get(`/api/jobs/${segment(jobId)}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        fill(head, h("h2", {}, "Job not found"), h("p", { class: "muted mono" }, jobId));
        return;
      }
      throw error;
    }
    ctx.setTitle(jobsCrumb(), `${job.task_name} ${shortId(job.id)}`);
    showHead(job);
    fill(details, jobFields(job));
    const shownTab = tab;
    const [content] = await Promise.all([tabContent(shownTab, jobId), showPayload(job)]);
    if (shownTab === tab) fill(tabBody, content);
  }
  return { refresh };
}
