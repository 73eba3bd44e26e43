// The dashboard's page shell: who is signed in, the navigation, the theme, the refresh
// loop (every 2, 5 or 10 s, or off) with its "updated" note and the "backend offline"
// banner, and showing the page a path asks for without reloading.

import { ApiError, OfflineError, ROOT, connection, get, post } from "./js/api.js";
import { h, fill, formatClock } from "./js/dom.js";
import { currentPath, currentQuery, href, localTarget, match, navigate, setQuery } from "./js/router.js";
import { applyTheme, initialTheme, nextTheme, refreshSeconds, saveRefreshSeconds } from "./js/prefs.js";
import { PAGES } from "./js/pages/index.js";
import { setUpPalette } from "./js/palette.js";

const $ = (id) => document.getElementById(id);

const shell = {
  auth: { role: "admin", user: null, auth_enabled: false },
  run: null, // the mounted page ({refresh, dispose}) and its refresh state
  timer: null,
  title: null,
};

// --- the refresh loop ---------------------------------------------------------------------

function showOffline(reason) {
  const banner = $("offline");
  fill(banner, h("strong", {}, "Backend offline: "), reason,
    ". The page retries on its own and updates as soon as it answers.");
  banner.hidden = false;
}

connection.addEventListener("offline", (event) => showOffline(event.detail));
connection.addEventListener("online", () => {
  $("offline").hidden = true;
});

function showPageError(error) {
  const box = $("page-error");
  if (!error) {
    box.hidden = true;
    return;
  }
  fill(box, error.message || String(error));
  box.hidden = false;
}

/**
 * Refresh the shown page. One refresh runs at a time; asked again meanwhile (an action
 * just changed something), it runs once more right after.
 */
async function refresh() {
  const run = shell.run;
  if (!run) return;
  if (run.busy) {
    run.again = true;
    return;
  }
  run.busy = true;
  try {
    await run.page.refresh();
    if (run !== shell.run) return;
    showPageError(null);
    const now = Date.now();
    const note = $("refreshed");
    note.textContent = "Updated " + formatClock(now, true);
    note.dataset.at = String(now);
  } catch (error) {
    if (run !== shell.run) return;
    if (!(error instanceof OfflineError)) showPageError(error);
    if (!(error instanceof ApiError || error instanceof OfflineError)) console.error(error);
  } finally {
    if (run === shell.run) $("page").removeAttribute("aria-busy"); // the skeletons go
    run.busy = false;
    if (run.again && run === shell.run) {
      run.again = false;
      refresh();
    }
  }
}

function schedule() {
  clearInterval(shell.timer);
  const seconds = refreshSeconds();
  shell.timer = seconds ? setInterval(() => {
    if (!document.hidden) refresh();
  }, seconds * 1000) : null;
  $("refresh").value = String(seconds);
}

// --- pages --------------------------------------------------------------------------------

function setTitle(...crumbs) {
  const trail = $("crumbs");
  fill(trail, crumbs.map((crumb, i) => {
    const last = i === crumbs.length - 1;
    const text = typeof crumb === "string" ? crumb : crumb.label;
    const node = !last && crumb.path ? h("a", { href: href(crumb.path, crumb.query) }, text)
      : h("span", { "aria-current": last ? "page" : null }, text);
    return i ? [h("span", { class: "crumb-sep", "aria-hidden": "true" }, "/"), node] : node;
  }));
  const brand = shell.title || "taskito";
  document.title = [...crumbs.map((c) => (typeof c === "string" ? c : c.label)).reverse(), brand]
    .join(" · ");
}

// A detail page marks the list it belongs to.
const LIST_OF = { job: "jobs", workflow: "workflows" };

function markNav(name) {
  for (const link of document.querySelectorAll("#nav a[data-page]")) {
    const active = link.dataset.page === name || LIST_OF[name] === link.dataset.page;
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function show() {
  const { name, params } = match(currentPath());
  shell.run?.page.dispose?.();
  shell.run = null;
  const root = $("page");
  root.replaceChildren();
  root.setAttribute("aria-busy", "true"); // until its first refresh: boxes show skeletons
  delete $("refreshed").dataset.at; // set again when this page's first refresh is done
  showPageError(null);
  document.body.classList.remove("nav-open");
  markNav(name);
  const mount = PAGES[name] || PAGES["not-found"];
  const ctx = {
    root,
    params,
    get query() {
      return currentQuery();
    },
    canWrite: shell.auth.role === "admin",
    role: shell.auth.role,
    setTitle,
    setQuery,
    navigate,
    refresh,
  };
  shell.run = { page: mount(ctx), busy: false, again: false };
  refresh();
  root.focus({ preventScroll: true });
}

// --- the header's controls ----------------------------------------------------------------

function setUpControls() {
  $("refresh").addEventListener("change", (event) => {
    saveRefreshSeconds(Number(event.target.value));
    schedule();
    refresh();
  });
  $("theme").addEventListener("click", () => applyTheme(nextTheme(), true));
  $("menu").addEventListener("click", () => document.body.classList.toggle("nav-open"));
  $("logout").addEventListener("click", async () => {
    try {
      await post("/api/auth/logout");
    } finally {
      window.location.assign(ROOT + "/login");
    }
  });
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const anchor = event.target.closest("a");
    const url = anchor && localTarget(anchor);
    if (!url) return;
    event.preventDefault();
    window.history.pushState(null, "", url.pathname + url.search);
    show();
  });
  window.addEventListener("popstate", show);
  window.addEventListener("taskito:route", show);
}

async function showWho() {
  const auth = await get("/api/auth/status");
  if (auth.auth_enabled && !auth.authenticated) {
    window.location.assign(ROOT + "/login");
    return false;
  }
  shell.auth = auth;
  document.body.dataset.role = auth.role || "admin";
  if (auth.auth_enabled) {
    $("who").textContent = `${auth.user} (${auth.role})`;
    $("logout").hidden = false;
  } else {
    $("who").textContent = "open: this machine only";
  }
  return true;
}

/** ``dashboard.title`` and ``dashboard.accent`` from the settings, when set. */
async function applyBranding() {
  try {
    const settings = await get("/api/settings");
    const title = settings["dashboard.title"];
    if (title) {
      shell.title = title.slice(0, 100);
      $("brand").textContent = shell.title;
    }
    const accent = settings["dashboard.accent"];
    if (accent && /^#[0-9a-fA-F]{6}$/.test(accent)) {
      document.documentElement.style.setProperty("--accent", accent);
    }
  } catch {
    // Branding is cosmetic: the page works without it.
  }
}

async function start() {
  try {
    if (!(await showWho())) return;
  } catch (error) {
    if (!(error instanceof OfflineError)) showOffline(error.message);
    setTimeout(start, 5000);
    return;
  }
  await applyBranding();
  schedule();
  show();
}

applyTheme(initialTheme(), false);
setUpControls();
const palette = setUpPalette({ canWrite: () => shell.auth.role === "admin", refresh });
$("palette-open").addEventListener("click", () => palette.open());
start();
