// The command palette (⌘K or Ctrl+K): a search field over every page of the sidebar, the
// header's settings (theme, refresh interval) and, for an admin, the actions that change
// things. A job id typed opens that job with Enter (or, one down, the workflow run of that id);
// a full one pasted opens the job at once.
// Arrows move, Enter runs, Escape closes; focus stays in the dialog while it is open and
// goes back where it was afterwards.

import { post } from "./api.js";
import { h, fill, formatCount } from "./dom.js";
import { localTarget, navigate } from "./router.js";
import { REFRESH_CHOICES, nextTheme, applyTheme, refreshSeconds } from "./prefs.js";
import { confirmAction, toast } from "./ui.js";

// A job id: a UUID (any version) or another id with no spaces that holds a digit.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const OTHER_ID = /^(?=.*\d)[A-Za-z0-9_.:-]{6,200}$/;

/** The job id ``text`` names (quotes and spaces around a paste dropped), or null. */
export function jobIdIn(text) {
  const id = text.trim().replace(/^["'`]+|["'`]+$/g, "");
  if (UUID.test(id)) return id.toLowerCase();
  return OTHER_ID.test(id) ? id : null;
}

function go(url) {
  window.history.pushState(null, "", url.pathname + url.search);
  window.dispatchEvent(new Event("taskito:route"));
}

function pageCommands() {
  return [...document.querySelectorAll("#nav a[data-page]")].map((anchor) => ({
    id: `page-${anchor.dataset.page}`,
    label: anchor.textContent.trim(),
    group: "Page",
    run: () => {
      const url = localTarget(anchor);
      if (url) go(url);
    },
  }));
}

function setRefresh(seconds) {
  const select = document.getElementById("refresh");
  select.value = String(seconds);
  select.dispatchEvent(new Event("change", { bubbles: true }));
}

function settingCommands() {
  const theme = nextTheme();
  const current = refreshSeconds();
  return [
    { id: "theme", label: `Switch to the ${theme} theme`, group: "Setting",
      run: () => applyTheme(theme, true) },
    ...REFRESH_CHOICES.filter((s) => s !== current).map((s) => ({
      id: `refresh-${s}`, label: s ? `Refresh every ${s} s` : "Stop refreshing",
      group: "Setting", run: () => setRefresh(s) })),
  ];
}

async function purgeDeadLetters(shell) {
  const ok = await confirmAction({ title: "Purge every dead letter?",
    message: "They are deleted for good and cannot be retried afterwards.",
    confirmLabel: "Purge", danger: true, typeToConfirm: "purge" });
  if (!ok) return;
  try {
    const answer = await post("/api/dead-letters/purge", { older_than: 0 });
    toast(`Purged ${formatCount(answer.purged)} dead letter${answer.purged === 1 ? "" : "s"}.`,
      "success");
    shell.refresh();
  } catch (error) {
    toast(`Purge failed: ${error.message}`, "error");
  }
}

/** What changes things: only offered to a user who may (the server refuses the others). */
function mutationCommands(shell) {
  return [{ id: "purge-dead-letters", label: "Purge every dead letter…", group: "Action",
    mutation: true, run: () => purgeDeadLetters(shell) }];
}

function matches(command, words) {
  const text = `${command.label} ${command.group}`.toLowerCase();
  return words.every((word) => text.includes(word));
}

/**
 * Set up the palette. ``shell``: ``canWrite()`` (whether mutations are offered) and
 * ``refresh()`` (the shown page's). Returns ``{open, close}``.
 */
export function setUpPalette(shell) {
  const input = h("input", { type: "text", class: "palette-input", role: "combobox",
    autocomplete: "off", spellcheck: "false", "aria-expanded": "true",
    "aria-controls": "palette-list", "aria-autocomplete": "list",
    "aria-label": "Page, action or job id",
    placeholder: "Go to a page, run an action, or paste a job id…" });
  const list = h("ul", { id: "palette-list", class: "palette-list", role: "listbox",
    "aria-label": "Commands" });
  const dialog = h("dialog", { id: "palette", class: "palette", "aria-label": "Command palette" },
    input, list,
    h("p", { class: "palette-keys muted small", "aria-hidden": "true" },
      "↑↓ choose · Enter run · Esc close"));
  document.body.append(dialog);

  let shown = [];
  let active = 0;
  let returnTo = null;

  const select = (index) => {
    if (!shown.length) return;
    active = (index + shown.length) % shown.length;
    for (const [i, item] of [...list.children].entries()) {
      item.setAttribute("aria-selected", String(i === active));
    }
    const chosen = list.children[active];
    input.setAttribute("aria-activedescendant", chosen.id);
    chosen.scrollIntoView({ block: "nearest" });
  };

  const render = () => {
    const text = input.value;
    const words = text.toLowerCase().split(/\s+/).filter(Boolean);
    const commands = [...pageCommands(), ...settingCommands(),
      ...(shell.canWrite() ? mutationCommands(shell) : [])];
    shown = commands.filter((c) => matches(c, words));
    const jobId = jobIdIn(text);
    if (jobId) {
      const open = { id: "job", label: `Open job ${jobId}`, group: "Job",
        run: () => navigate(`/jobs/${encodeURIComponent(jobId)}`) };
      // Workflow run ids look the same: offered right after the job.
      const openRun = { id: "workflow-run", label: `Open workflow run ${jobId}`,
        group: "Workflow", run: () => navigate(`/workflows/${encodeURIComponent(jobId)}`) };
      shown = UUID.test(jobId) || !shown.length ? [open, openRun, ...shown]
        : [...shown, open, openRun];
    }
    fill(list, shown.length ? shown.map((c, i) => h("li", {
      id: `palette-${c.id}`, role: "option", class: "palette-item", "aria-selected": "false",
      dataset: { command: c.id, ...(c.mutation ? { mutation: "" } : {}) },
      onclick: () => runAt(i),
    }, h("span", { class: "palette-label" }, c.label),
    h("span", { class: "palette-group muted small" }, c.group)))
      : h("li", { class: "palette-empty muted", role: "presentation" }, "Nothing matches."));
    input.removeAttribute("aria-activedescendant");
    select(0);
  };

  const close = () => {
    if (!dialog.open) return;
    dialog.close();
  };
  dialog.addEventListener("close", () => {
    returnTo?.focus?.({ preventScroll: true });
    returnTo = null;
  });

  function runAt(index) {
    const command = shown[index];
    if (!command) return;
    returnTo = null; // the command decides where focus goes (a new page, a dialog)
    close();
    command.run();
  }

  const open = () => {
    if (dialog.open || document.getElementById("confirm")?.open) return;
    returnTo = document.activeElement;
    input.value = "";
    render();
    dialog.showModal();
    input.focus();
  };

  input.addEventListener("input", render);
  // A job's full id pasted into the empty field opens that job at once.
  input.addEventListener("paste", (event) => {
    const jobId = jobIdIn(event.clipboardData?.getData("text") || "");
    if (input.value || !jobId || !UUID.test(jobId)) return;
    event.preventDefault();
    returnTo = null;
    close();
    navigate(`/jobs/${encodeURIComponent(jobId)}`);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      select(active + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Enter") {
      event.preventDefault();
      runAt(active);
    }
  });
  // Focus stays in the dialog: Tab has nowhere else to go than the search field.
  dialog.addEventListener("keydown", (event) => {
    if (event.key === "Tab") {
      event.preventDefault();
      input.focus();
    }
  });
  // A click on the backdrop (outside the dialog's box) closes it.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) {
      const box = dialog.getBoundingClientRect();
      const inside = event.clientX >= box.left && event.clientX <= box.right &&
        event.clientY >= box.top && event.clientY <= box.bottom;
      if (!inside) close();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key.toLowerCase() !== "k" || !(event.ctrlKey || event.metaKey) || event.altKey) {
      return;
    }
    event.preventDefault();
    if (dialog.open) close();
    else open();
  });
  return { open, close };
}
