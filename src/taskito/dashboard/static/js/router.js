// Client-side routes: which page a path shows, links that carry the mount prefix, and the
// query string as the page's state (filters, tabs, ranges), kept in the URL so that a
// reload or a shared link shows the same view.

import { ROOT, queryString } from "./api.js";

/**
 * [pattern, page name]; ``:name`` matches one path segment. No page may take a path the
 * server answers itself (``/metrics`` is the Prometheus text, ``/readiness``, ``/health``).
 */
const ROUTES = [
  ["/", "overview"],
  ["/jobs", "jobs"],
  ["/jobs/:id", "job"],
  ["/task-metrics", "metrics"],
  ["/logs", "logs"],
  ["/workflows", "workflows"],
  ["/workflows/:id", "workflow"],
  ["/queues", "queues"],
  ["/workers", "workers"],
  ["/resources", "resources"],
  ["/dead-letters", "dead-letters"],
  ["/circuit-breakers", "circuit-breakers"],
  ["/system", "system"],
  ["/periodic", "periodic"],
  ["/overrides", "overrides"],
  ["/settings", "settings"],
];

/** The page for ``path`` (without the prefix): ``{name, params}``, or the "not found" page. */
export function match(path) {
  const parts = path.split("/").filter(Boolean);
  for (const [pattern, name] of ROUTES) {
    const wanted = pattern.split("/").filter(Boolean);
    if (wanted.length !== parts.length) continue;
    const params = {};
    const same = wanted.every((piece, i) => {
      if (piece.startsWith(":")) {
        try {
          params[piece.slice(1)] = decodeURIComponent(parts[i]);
        } catch {
          return false;
        }
        return true;
      }
      return piece === parts[i];
    });
    if (same) return { name, params };
  }
  return { name: "not-found", params: {} };
}

/** The current path without the mount prefix. */
export function currentPath() {
  const path = window.location.pathname;
  const local = ROOT && path.startsWith(ROOT) ? path.slice(ROOT.length) : path;
  return local || "/";
}

export function currentQuery() {
  return new URLSearchParams(window.location.search);
}

/** A link to a page of the dashboard: ``href("/jobs", {status: "dead"})``. */
export function href(path, query = {}) {
  return ROOT + path + queryString(query);
}

/** Show another page: ``navigate("/jobs/" + id)``; the shell listens for ``taskito:route``. */
export function navigate(path, query = {}, { replace = false } = {}) {
  const url = href(path, query);
  if (replace) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  window.dispatchEvent(new Event("taskito:route"));
}

/** Change the current page's query (its filters) without showing another page. */
export function setQuery(params, { push = false } = {}) {
  const url = ROOT + currentPath() + queryString(params);
  if (push) window.history.pushState(null, "", url);
  else window.history.replaceState(null, "", url);
}

/** The dashboard path an anchor points to, or null for links that leave the dashboard. */
export function localTarget(anchor) {
  if (anchor.target && anchor.target !== "_self") return null;
  if (anchor.hasAttribute("download")) return null;
  const raw = anchor.getAttribute("href");
  if (!raw) return null;
  const url = new URL(raw, window.location.href);
  if (url.origin !== window.location.origin) return null;
  if (ROOT && !(url.pathname === ROOT || url.pathname.startsWith(ROOT + "/"))) return null;
  const local = url.pathname.slice(ROOT.length) || "/";
  if (local.startsWith("/static/") || local.startsWith("/api/") || local === "/login") {
    return null;
  }
  return url;
}
