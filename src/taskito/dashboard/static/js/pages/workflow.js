// One workflow run: its state and fields, the gates waiting for a decision (Approve, and
// Reject with a reason), the DAG drawn with each node's status, every node in a table
// (fan-out children included, with their jobs and child runs), the sub-workflow runs it
// started, and Cancel while the run is not finished.

import { ApiError, get, post, segment } from "../api.js";
import { h, fill, shortId } from "../dom.js";
import { workflowDagView } from "../workflow_dag.js";
import { actionButton, confirmAction, fields, jobLink, promptText, section, statusBadge,
  table, time, toast } from "../ui.js";
import { countsText, runColumns, runLink } from "./workflows.js";

const FINISHED = new Set(["completed", "failed", "cancelled"]);
// A gate not decided yet: waiting at the run, or not reached (a decision is kept for it).
const UNDECIDED = new Set(["pending", "ready", "waiting_approval"]);

const nodeColumns = [
  { label: "Node", cell: (n) => h("span", { class: "mono" }, n.name) },
  { label: "Kind", cell: (n) => n.kind },
  { label: "Status", cell: (n) => statusBadge(n.status) },
  { label: "Job", cell: (n) => jobLink(n.job_id) },
  { label: "Child run", cell: (n) => runLink(n.child_run_id) },
  { label: "Gate deadline", cell: (n) => (n.gate_deadline_at ? time(n.gate_deadline_at) : "—") },
  { label: "Finished", cell: (n) => time(n.completed_at) },
  { label: "Error", class: "wide", cell: (n) => n.error || "—" },
];

function runFields(run) {
  return fields([
    ["Id", h("span", { class: "mono" }, run.id)],
    ["Workflow", `${run.name} (version ${run.version})`],
    ["State", statusBadge(run.state)],
    ["Started", time(run.started_at)],
    ["Finished", time(run.completed_at)],
    ["Nodes", countsText(run.node_counts)],
    ["Parent run", run.parent_run_id ? h("span", {}, runLink(run.parent_run_id),
      ` (step ${run.parent_node_name})`) : "—"],
    ["Base run", run.base_run_id ? runLink(run.base_run_id) : "—"],
  ]);
}

export function mount(ctx) {
  const runId = ctx.params.id;
  const crumb = { label: "Workflows", path: "/workflows" };
  ctx.setTitle(crumb, shortId(runId));
  const head = h("div", { class: "job-head" });
  const errorBox = h("div");
  const gates = h("div", { id: "workflow-gates", class: "wf-gates" });
  const gatePanel = section("Waiting for a decision", gates);
  const graph = h("div", { id: "workflow-dag" });
  const details = h("div");
  const nodes = h("div", { id: "workflow-nodes" });
  const children = h("div", { id: "workflow-children" });
  gatePanel.hidden = true;
  ctx.root.append(h("section", { class: "panel job-card" }, head, errorBox), gatePanel,
    section("Graph", graph), section("Fields", details), section("Nodes", nodes),
    section("Sub-workflow runs", children));

  const base = `/api/workflows/runs/${segment(runId)}`;
  const approve = async (gate) => {
    const ok = await confirmAction({ title: `Approve gate ${gate.name}?`,
      message: "The steps after it run.", confirmLabel: "Approve" });
    if (!ok) return;
    await post(base + "/approve", { node: gate.name });
    toast(`Gate ${gate.name} approved.`, "success");
    ctx.refresh();
  };
  const reject = async (gate) => {
    const reason = await promptText({ title: `Reject gate ${gate.name}?`,
      label: "Why (the gate's error)", value: "rejected", confirmLabel: "Reject",
      multiline: false });
    if (reason === null) return;
    await post(base + "/reject", { node: gate.name, error: reason.trim() || "rejected" });
    toast(`Gate ${gate.name} rejected.`, "success");
    ctx.refresh();
  };
  const cancel = async () => {
    const ok = await confirmAction({ title: "Cancel this workflow run?",
      message: "Its steps not finished are skipped, running jobs are asked to stop, and its " +
        "sub-workflow runs are cancelled too.", confirmLabel: "Cancel run", danger: true });
    if (!ok) return;
    const answer = await post(base + "/cancel");
    toast(answer.cancelled ? "Workflow run cancelled." : `The run had already ended (${answer.state}).`,
      answer.cancelled ? "success" : "info");
    ctx.refresh();
  };

  function showHead(run) {
    const actions = h("div", { class: "actions" });
    if (!FINISHED.has(run.state)) {
      actions.append(actionButton("Cancel run", ctx, cancel, { danger: true }));
    }
    fill(head, h("div", {}, h("h2", { class: "job-title" }, run.name, " ", statusBadge(run.state)),
      h("p", { class: "muted mono" }, run.id)), actions);
    fill(errorBox, run.error ? h("pre", { class: "error-box", role: "note" }, run.error) : "");
  }

  function showGates(run) {
    const open = FINISHED.has(run.state) ? []
      : run.nodes.filter((n) => n.kind === "gate" && UNDECIDED.has(n.status) && !n.gate_decision);
    gatePanel.hidden = !open.length;
    fill(gates, open.map((gate) => h("div", { class: "wf-gate", dataset: { gate: gate.name } },
      h("p", {}, h("strong", { class: "mono" }, gate.name), " ", statusBadge(gate.status),
        gate.status === "waiting_approval" ? "" : " (not reached yet: a decision is kept for it)",
        gate.gate_deadline_at ? [" · times out ", time(gate.gate_deadline_at)] : ""),
      h("div", { class: "actions" },
        actionButton("Approve", ctx, () => approve(gate)),
        actionButton("Reject", ctx, () => reject(gate), { danger: true })))));
  }

  // Which fan-out steps' children are unfolded, kept across refreshes.
  const unfolded = new Set();
  function showNodes(all) {
    const children = new Map();
    for (const node of all) {
      const step = node.kind === "fan_out_child" ? node.name.slice(0, node.name.indexOf("[")) : null;
      if (step !== null) (children.get(step) || children.set(step, []).get(step)).push(node);
    }
    const steps = all.filter((n) => n.kind !== "fan_out_child");
    const folds = [...children].map(([step, kids]) => {
      const fold = h("details", { class: "wf-children", dataset: { step }, open: unfolded.has(step) },
        h("summary", {}, `${step}: ${kids.length} fan-out child${kids.length === 1 ? "" : "ren"}`),
        table(nodeColumns, kids.sort((a, b) => a.fan_out_index - b.fan_out_index),
          { label: `Children of ${step}` }));
      fold.addEventListener("toggle", () => {
        if (fold.open) unfolded.add(step);
        else unfolded.delete(step);
      });
      return fold;
    });
    fill(nodes, table(nodeColumns, steps, { label: "Nodes", empty: "No nodes." }), folds);
  }

  async function refresh() {
    let run;
    try {
      run = await get(base);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        fill(head, h("h2", {}, "Workflow run not found"), h("p", { class: "muted mono" }, runId));
        return;
      }
      throw error;
    }
    ctx.setTitle(crumb, `${run.name} ${shortId(run.id)}`);
    showHead(run);
    showGates(run);
    fill(graph, workflowDagView(run.dag));
    fill(details, runFields(run));
    showNodes(run.nodes);
    const childRuns = await get(base + "/children");
    fill(children, table(runColumns, childRuns, { label: "Sub-workflow runs",
      empty: "This run started no sub-workflow." }));
  }
  return { refresh };
}
