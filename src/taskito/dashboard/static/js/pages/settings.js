// Settings: this browser's preferences (refresh interval, theme), the dashboard's branding
// (``dashboard.title``, ``dashboard.accent``), every stored setting, which an admin may add,
// edit and delete, and the retention windows with what a sweep would delete now.

import { del, get, put, segment } from "../api.js";
import { h, fill } from "../dom.js";
import { applyTheme, currentTheme, REFRESH_CHOICES, refreshSeconds, saveRefreshSeconds }
  from "../prefs.js";
import { actionButton, confirmAction, promptText, section, table, toast, READ_ONLY_HINT } from "../ui.js";

const MAX_SHOWN = 200;

function preferences() {
  const refresh = h("select", { id: "pref-refresh" }, REFRESH_CHOICES.map((s) =>
    h("option", { value: s, selected: s === refreshSeconds() }, s ? `every ${s} s` : "off")));
  refresh.addEventListener("change", () => {
    saveRefreshSeconds(Number(refresh.value));
    const header = document.getElementById("refresh");
    header.value = refresh.value;
    header.dispatchEvent(new Event("change"));
  });
  const theme = h("select", { id: "pref-theme" }, ["light", "dark"].map((t) =>
    h("option", { value: t, selected: t === currentTheme() }, t)));
  theme.addEventListener("change", () => applyTheme(theme.value, true));
  return h("div", { class: "filters inline" },
    h("label", { class: "field" }, h("span", {}, "Refresh"), refresh),
    h("label", { class: "field" }, h("span", {}, "Theme"), theme));
}

function addForm(ctx, save) {
  const key = h("input", { name: "key", required: true, maxlength: 256, placeholder: "key",
    autocomplete: "off", disabled: !ctx.canWrite });
  const value = h("input", { name: "value", placeholder: "value", autocomplete: "off",
    disabled: !ctx.canWrite });
  const submit = h("button", { type: "submit", class: "primary", disabled: !ctx.canWrite,
    dataset: { mutation: "" }, title: ctx.canWrite ? null : READ_ONLY_HINT }, "Add");
  const form = h("form", { class: "filters inline add-form", "aria-label": "Add a setting" },
    h("label", { class: "field" }, h("span", {}, "Key"), key),
    h("label", { class: "field grow" }, h("span", {}, "Value"), value),
    h("div", { class: "filter-buttons" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!ctx.canWrite) return;
    try {
      await save(key.value.trim(), value.value);
      form.reset();
    } catch (error) {
      toast(`Could not save: ${error.message}`, "error");
    }
  });
  return form;
}

const KINDS = ["completed_jobs", "dead_letters", "job_errors", "task_logs", "task_metrics"];

function retentionView(windows, preview) {
  const days = (ms) => `${(ms / 86400000).toLocaleString(undefined, { maximumFractionDigits: 2 })} d`;
  const rows = KINDS.map((kind) => ({ kind, window: windows.windows[kind],
    count: preview.counts[kind] }));
  const note = windows.enabled ? (windows.reported
    ? `Last sweep reported at ${new Date(windows.reported.reported_at).toLocaleString()}.`
    : "No worker has swept yet.")
    : "Retention is off: history is kept forever. Queue(retention=Retention(...)) sets windows.";
  return h("div", {},
    table([
      { label: "History", cell: (r) => h("code", {}, r.kind) },
      { label: "Window", cell: (r) => r.window === undefined ? "keep forever" : days(r.window) },
      { label: "A sweep now deletes", class: "num",
        cell: (r) => r.count === undefined ? "—" : String(r.count) },
    ], rows, { label: "Retention windows" }),
    h("p", { class: "muted note" }, note));
}

export function mount(ctx) {
  ctx.setTitle("Settings");
  const box = h("div", { id: "settings-table" });
  const save = async (key, value) => {
    await put(`/api/settings/${segment(key)}`, { value });
    toast(`Saved ${key}.`, "success");
    await ctx.refresh();
  };
  const edit = async (key, value) => {
    const next = await promptText({ title: `Edit ${key}`, label: "Value", value });
    if (next !== null) await save(key, next);
  };
  const remove = async (key) => {
    const ok = await confirmAction({ title: `Delete ${key}?`, message: "The setting is removed.",
      confirmLabel: "Delete", danger: true });
    if (!ok) return;
    await del(`/api/settings/${segment(key)}`);
    toast(`Deleted ${key}.`, "success");
    await ctx.refresh();
  };
  const columns = [
    { label: "Key", cell: (s) => h("code", {}, s.key) },
    { label: "Value", class: "wide", cell: (s) => h("code", { class: "small value-text" },
      s.value.length > MAX_SHOWN ? s.value.slice(0, MAX_SHOWN) + "…" : s.value) },
    { label: "", cell: (s) => h("span", { class: "actions" },
      actionButton("Edit", ctx, () => edit(s.key, s.value)),
      actionButton("Delete", ctx, () => remove(s.key), { danger: true })) },
  ];
  const retentionBox = h("div", { id: "retention" });
  ctx.root.append(
    section("This browser", preferences()),
    section("Retention", retentionBox),
    section("Stored settings", h("div", {}, addForm(ctx, save), box)),
    h("p", { class: "muted note" }, "dashboard.title names the dashboard in its header; " +
      "dashboard.accent (a colour such as #2f6fdb) is its accent colour. Both apply on the " +
      "next page load."));

  async function refresh() {
    const [windows, preview] = await Promise.all([
      get("/api/retention"), get("/api/retention/dry-run")]);
    fill(retentionBox, retentionView(windows, preview));
    const settings = await get("/api/settings");
    const rows = Object.keys(settings).sort().map((key) => ({ key, value: String(settings[key]) }));
    fill(box, table(columns, rows, { label: "Settings", empty: "No settings are stored." }));
  }
  return { refresh };
}
