// Talking to the dashboard's REST API: the mount prefix, the CSRF header on every mutation,
// errors as ApiError, and the connection state the shell shows as the "backend offline"
// banner (the server did not answer, or answered that storage is unreachable).

export const ROOT = document.querySelector('meta[name="taskito-root"]')?.content ?? "";
const CSRF_COOKIE = "taskito_csrf";
const MUTATIONS = new Set(["POST", "PUT", "DELETE"]);

/** ``online`` and ``offline`` events (``detail``: the reason) for the banner. */
export const connection = new EventTarget();

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

export class OfflineError extends Error {
  constructor(message) {
    super(message);
    this.name = "OfflineError";
  }
}

function csrfToken() {
  const prefix = CSRF_COOKIE + "=";
  const found = document.cookie.split("; ").find((c) => c.startsWith(prefix));
  return found ? decodeURIComponent(found.slice(prefix.length)) : "";
}

/**
 * ``?a=1&b=x`` from an object; empty, null and undefined values are left out, and an array
 * repeats its key once per item (``{t: [1, 2]}`` is ``?t=1&t=2``).
 */
export function queryString(params = {}) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item === undefined || item === null || item === "") continue;
      search.append(key, String(item));
    }
  }
  const text = search.toString();
  return text ? "?" + text : "";
}

function offline(reason) {
  connection.dispatchEvent(new CustomEvent("offline", { detail: reason }));
  return new OfflineError(reason);
}

async function readBody(response) {
  const type = response.headers.get("content-type") || "";
  if (type.includes("application/json")) {
    try {
      return await response.json();
    } catch {
      return null;
    }
  }
  return await response.text();
}

/**
 * ``method path`` with an optional JSON ``body``; resolves to the decoded answer.
 * Rejects with OfflineError when the server does not answer (or storage is down),
 * ApiError otherwise; a 401 sends the browser to the sign-in page.
 */
export async function api(path, { method = "GET", body, query } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (MUTATIONS.has(method)) headers["X-CSRF-Token"] = csrfToken();
  let response;
  try {
    response = await fetch(ROOT + path + queryString(query), init);
  } catch {
    throw offline("the dashboard server did not answer");
  }
  const data = await readBody(response);
  if (response.status === 401) {
    window.location.assign(ROOT + "/login");
    throw new ApiError(401, "not signed in", data);
  }
  const message = data && typeof data === "object" && data.error;
  if ([502, 504].includes(response.status) || (response.status === 503 && message)) {
    throw offline(message || `the server answered ${response.status}`);
  }
  connection.dispatchEvent(new Event("online"));
  if (!response.ok) {
    throw new ApiError(response.status, message || response.statusText || "request failed", data);
  }
  return data;
}

export const get = (path, query) => api(path, { query });
export const post = (path, body) => api(path, { method: "POST", body });
export const put = (path, body) => api(path, { method: "PUT", body });
export const del = (path) => api(path, { method: "DELETE" });

/** ``get``, but a route this server does not serve resolves to ``null``. */
export async function getOptional(path, query) {
  try {
    const answer = await get(path, query);
    // Without the route, a path outside /api/ is answered with the page shell (HTML).
    return answer !== null && typeof answer === "object" ? answer : null;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

/** An id or name as one path segment. */
export const segment = (value) => encodeURIComponent(String(value));
