// Dead letters: grouped by task and by the exception class taken from the traceback's last
// line (retry a whole group, purge a task's letters), the letters themselves (retry or delete
// one), and purging them all (type-to-confirm).

import { del, get, post, segment } from "../api.js";
import { h, fill, formatCount } from "../dom.js";
import { actionButton, confirmAction, jobLink, pager, section, table, time, toast } from "../ui.js";

const PAGE_SIZE = 20;

function errorCell(error) {
  if (!error) return "—";
  const lines = error.trim().split("\n");
  const last = lines[lines.length - 1];
  return h("details", { class: "error-details" }, h("summary", {}, last),
    h("pre", { class: "code small" }, error));
}

export function mount(ctx) {
  ctx.setTitle("Dead letters");
  let page = Math.max(1, Number.parseInt(ctx.query.get("page") || "1", 10) || 1);
  const groups = h("div", { id: "dead-groups" });
  const letters = h("div", { id: "dead-letters" });
  const paging = h("div");
  const total = h("span", { class: "muted" });

  const retryOne = async (letter) => {
    const answer = await post(`/api/dead-letters/${segment(letter.id)}/retry`);
    toast("Retried as a new job.", "success", " ", jobLink(answer.new_job_id));
    await ctx.refresh();
  };
  const deleteOne = async (letter) => {
    const ok = await confirmAction({ title: "Delete this dead letter?",
      message: `The letter of ${letter.task_name} is deleted for good and cannot be retried.`,
      confirmLabel: "Delete", danger: true });
    if (!ok) return;
    await del(`/api/dead-letters/${segment(letter.id)}`);
    toast("Dead letter deleted.", "success");
    await ctx.refresh();
  };
  const purgeTask = async (group) => {
    const ok = await confirmAction({ title: `Purge every dead letter of ${group.task_name}?`,
      message: "Every letter of this task is deleted for good, whatever it died of.",
      confirmLabel: "Purge task", danger: true });
    if (!ok) return;
    const answer = await post("/api/dead-letters/purge-task", { task_name: group.task_name });
    toast(`Purged ${formatCount(answer.purged)} dead letter${answer.purged === 1 ? "" : "s"}.`, "success");
    await ctx.refresh();
  };
  const retryGroup = async (group) => {
    const ok = await confirmAction({
      title: `Retry ${formatCount(group.count)} dead letter${group.count === 1 ? "" : "s"}?`,
      message: `Every letter of ${group.task_name} that died of ${group.exception} becomes a new ` +
        "pending job.", confirmLabel: "Retry all" });
    if (!ok) return;
    const answer = await post("/api/dead-letters/retry-group",
      { task_name: group.task_name, exception: group.exception });
    toast(`Retried ${formatCount(answer.retried)} letter${answer.retried === 1 ? "" : "s"}.`, "success");
    await ctx.refresh();
  };
  const purge = async () => {
    const ok = await confirmAction({ title: "Purge every dead letter?",
      message: "They are deleted for good and cannot be retried afterwards.",
      confirmLabel: "Purge", danger: true, typeToConfirm: "purge" });
    if (!ok) return;
    const answer = await post("/api/dead-letters/purge", { older_than: 0 });
    toast(`Purged ${formatCount(answer.purged)} dead letter${answer.purged === 1 ? "" : "s"}.`, "success");
    page = 1;
    ctx.setQuery({});
    await ctx.refresh();
  };

  const groupColumns = [
    { label: "Task", cell: (g) => g.task_name },
    { label: "Exception", cell: (g) => h("code", {}, g.exception) },
    { label: "Letters", class: "num", cell: (g) => formatCount(g.count) },
    { label: "Latest", cell: (g) => time(g.latest_failed_at) },
    { label: "Sample", class: "wide", cell: (g) => errorCell(g.sample_error) },
    { label: "", cell: (g) => h("div", { class: "actions" },
      actionButton(`Retry all ${formatCount(g.count)}`, ctx, () => retryGroup(g)),
      actionButton("Purge task…", ctx, () => purgeTask(g), { danger: true })) },
  ];
  const letterColumns = [
    { label: "Task", cell: (d) => d.task_name },
    { label: "Queue", cell: (d) => d.queue },
    { label: "Exception", cell: (d) => h("code", {}, d.exception) },
    { label: "Job", cell: (d) => jobLink(d.original_job_id) },
    { label: "Retries", class: "num", cell: (d) => String(d.retry_count) },
    { label: "Auto-retried", class: "num", cell: (d) => String(d.dlq_retry_count ?? 0) },
    { label: "Failed", cell: (d) => time(d.failed_at) },
    { label: "Error", class: "wide", cell: (d) => errorCell(d.error) },
    { label: "", cell: (d) => h("div", { class: "actions" },
      actionButton("Retry", ctx, () => retryOne(d)),
      actionButton("Delete", ctx, () => deleteOne(d), { danger: true })) },
  ];

  ctx.root.append(
    section("Groups", groups, total, actionButton("Purge all…", ctx, purge, { danger: true })),
    section("Dead letters", h("div", {}, letters, paging)));

  async function refresh() {
    const [groupRows, rows] = await Promise.all([
      get("/api/dead-letters/groups"),
      get("/api/dead-letters", { limit: PAGE_SIZE + 1, offset: (page - 1) * PAGE_SIZE }),
    ]);
    const count = groupRows.reduce((sum, g) => sum + g.count, 0);
    total.textContent = `${formatCount(count)} letter${count === 1 ? "" : "s"}`;
    fill(groups, table(groupColumns, groupRows, { label: "Dead-letter groups",
      empty: "No dead letters: every job that ran out of retries would be here." }));
    fill(letters, table(letterColumns, rows.slice(0, PAGE_SIZE), { label: "Dead letters",
      empty: page > 1 ? "No more dead letters." : "No dead letters." }));
    fill(paging, rows.length > PAGE_SIZE || page > 1 ? pager(page, rows.length > PAGE_SIZE, (n) => {
      page = n;
      ctx.setQuery(n > 1 ? { page: n } : {}, { push: true });
      ctx.refresh();
    }) : "");
  }
  return { refresh };
}
