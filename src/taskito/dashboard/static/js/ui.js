// The page's shared pieces: toasts, the confirmation dialog (with type-to-confirm for what
// cannot be undone), status badges, tables, pagers, tabs, and buttons that the viewer role
// sees disabled.

import { h, fill, formatTime, shortId } from "./dom.js";
import { href } from "./router.js";

const TOAST_MS = 5000;
export const READ_ONLY_HINT = "Read-only: your role (viewer) cannot change anything";

/** A message in the corner for a few seconds; ``kind``: info, success or error. */
export function toast(message, kind = "info", ...extra) {
  const box = document.getElementById("toasts");
  const close = h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss" }, "×");
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", { class: "toast-text" }, message, ...extra), close);
  const remove = () => item.remove();
  close.addEventListener("click", remove);
  box.append(item);
  setTimeout(remove, kind === "error" ? TOAST_MS * 2 : TOAST_MS);
  return item;
}

/**
 * Ask before acting. Resolves to true when confirmed. With ``typeToConfirm`` the button
 * stays disabled until that word is typed.
 */
export function confirmAction({ title, message, confirmLabel = "Confirm", danger = false,
  typeToConfirm = null }) {
  const dialog = document.getElementById("confirm");
  const typed = typeToConfirm
    ? h("input", { type: "text", class: "confirm-input", autocomplete: "off",
      "aria-label": `Type ${typeToConfirm} to confirm` })
    : null;
  const ok = h("button", { type: "submit", value: "ok", class: danger ? "danger" : "primary",
    disabled: Boolean(typeToConfirm) }, confirmLabel);
  const cancel = h("button", { type: "submit", value: "cancel", formnovalidate: true }, "Cancel");
  if (typed) {
    typed.addEventListener("input", () => {
      ok.disabled = typed.value.trim() !== typeToConfirm;
    });
  }
  fill(dialog, h("form", { method: "dialog", class: "confirm-form" },
    h("h3", {}, title),
    h("p", {}, message),
    typed ? h("label", { class: "confirm-label" }, "Type ", h("code", {}, typeToConfirm),
      " to confirm:", typed) : null,
    // The confirming button comes first: Enter in the form presses it (when enabled).
    h("div", { class: "confirm-buttons" }, ok, cancel)));
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    (typed || cancel).focus();
  });
}

/** A button for a mutation: disabled (with the reason) when the user may not change things. */
export function actionButton(label, ctx, onClick, { danger = false, title = null } = {}) {
  const button = h("button", {
    type: "button", class: danger ? "danger" : "primary", dataset: { mutation: "" },
    title: ctx.canWrite ? title : READ_ONLY_HINT, disabled: !ctx.canWrite,
  }, label);
  button.addEventListener("click", async () => {
    if (!ctx.canWrite) return;
    button.disabled = true;
    try {
      await onClick();
    } catch (error) {
      toast(`${label} failed: ${error.message}`, "error");
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/** A status as a coloured badge (``complete`` and ``completed`` look the same). */
export function statusBadge(status) {
  const key = status === "completed" ? "complete" : status;
  return h("span", { class: `badge status-${key}` }, status);
}

export function badge(text, kind = "neutral") {
  return h("span", { class: `badge badge-${kind}` }, text);
}

/** A link to one job's page: its short id, the full id in a title. */
export function jobLink(id) {
  if (!id) return "—";
  return h("a", { href: href(`/jobs/${encodeURIComponent(id)}`), title: id, class: "mono" },
    shortId(id));
}

export function time(ms) {
  return h("time", { datetime: ms ? new Date(ms).toISOString() : "" }, formatTime(ms));
}

/**
 * A table in a scrolling wrapper. ``columns``: [{label, cell: row => node|text, class?}].
 * ``empty``: what to say when there are no rows.
 */
export function table(columns, rows, { empty = "Nothing here.", rowClass = null,
  label = null } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  const head = h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.label)));
  const body = rows.map((row) => h("tr", { class: rowClass ? rowClass(row) : null },
    columns.map((c) => h("td", { class: c.class, "data-label": c.label }, c.cell(row)))));
  return h("div", { class: "table-wrap" },
    h("table", { "aria-label": label }, h("thead", {}, head), h("tbody", {}, body)));
}

/** Previous / page N / next; ``onPage(n)`` is called with the page wanted. */
export function pager(page, hasNext, onPage) {
  const prev = h("button", { type: "button", disabled: page <= 1, onclick: () => onPage(page - 1) },
    "← Previous");
  const next = h("button", { type: "button", disabled: !hasNext, onclick: () => onPage(page + 1) },
    "Next →");
  return h("nav", { class: "pager", "aria-label": "Pages" }, prev,
    h("span", { class: "pager-at" }, `Page ${page}`), next);
}

/** Tabs: [{id, label}]; ``onSelect(id)``. The chosen tab is marked ``aria-selected``. */
export function tabs(items, selected, onSelect) {
  return h("div", { class: "tabs", role: "tablist" }, items.map((item) => h("button", {
    type: "button", role: "tab", class: "tab", "aria-selected": String(item.id === selected),
    dataset: { tab: item.id }, onclick: () => onSelect(item.id),
  }, item.label)));
}

/** A section with a heading and an optional row of controls beside it. */
export function section(title, body, ...controls) {
  return h("section", { class: "panel" },
    h("div", { class: "panel-head" }, h("h2", {}, title),
      controls.length ? h("div", { class: "panel-tools" }, controls) : null),
    body);
}

/** A definition list from [label, value] pairs. */
export function fields(pairs) {
  return h("dl", { class: "fields" },
    pairs.map(([label, value]) => [h("dt", {}, label), h("dd", {}, value ?? "—")]));
}

/** JSON for display (never evaluated): on one line when short, indented otherwise. */
export function jsonText(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "string") return value;
  const line = JSON.stringify(value);
  return line.length <= 72 ? line : JSON.stringify(value, null, 2);
}

/** Ask for a text value in the dialog; resolves to the text, or null when cancelled. */
export function promptText({ title, label, value = "", confirmLabel = "Save", multiline = true }) {
  const dialog = document.getElementById("confirm");
  const input = multiline
    ? h("textarea", { rows: 6, class: "prompt-input", "aria-label": label })
    : h("input", { type: "text", class: "prompt-input", "aria-label": label });
  input.value = value;
  fill(dialog, h("form", { method: "dialog", class: "confirm-form" },
    h("h3", {}, title),
    h("label", { class: "confirm-label" }, label, input),
    h("div", { class: "confirm-buttons" },
      h("button", { type: "submit", value: "ok", class: "primary" }, confirmLabel),
      h("button", { type: "submit", value: "cancel", formnovalidate: true }, "Cancel"))));
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok" ? input.value : null),
      { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    input.focus();
  });
}
