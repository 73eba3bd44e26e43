// The page shell: who is signed in, and the job counts from /api/stats, refreshed every 5 s.
"use strict";

const ROOT = document.querySelector('meta[name="taskito-root"]').content;
const STATUSES = ["pending", "running", "completed", "failed", "dead", "cancelled"];

function csrfToken() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("taskito_csrf="));
  return found ? decodeURIComponent(found.slice("taskito_csrf=".length)) : "";
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (options.method && options.method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  const response = await fetch(ROOT + path, { credentials: "same-origin", ...options, headers });
  if (response.status === 401) {
    window.location.assign(ROOT + "/login");
    throw new Error("not signed in");
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function showStats(stats) {
  const list = document.getElementById("stats");
  list.replaceChildren(
    ...STATUSES.map((status) => {
      const item = document.createElement("li");
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = status;
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = String(stats[status] ?? 0);
      item.append(label, value);
      return item;
    })
  );
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    showStats(await api("/api/stats"));
    status.textContent = "Updated " + new Date().toLocaleTimeString();
  } catch (error) {
    status.textContent = "Could not load the counts: " + error.message;
  }
}

async function start() {
  const auth = await api("/api/auth/status");
  if (auth.auth_enabled && auth.user) {
    document.getElementById("who").textContent = auth.user + " (" + auth.role + ")";
    const logout = document.getElementById("logout");
    logout.hidden = false;
    logout.addEventListener("click", async () => {
      await api("/api/auth/logout", { method: "POST" });
      window.location.assign(ROOT + "/login");
    });
  }
  await refresh();
  setInterval(refresh, 5000);
}

start();
