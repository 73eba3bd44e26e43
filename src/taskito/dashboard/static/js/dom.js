// Building the page from data without ever parsing data as HTML: every value becomes a text
// node or an attribute set through the DOM, so nothing a job, a log line or a setting holds
// can turn into markup or script. Also the formatting of times, durations and counts.

const SVG_NS = "http://www.w3.org/2000/svg";

function setAttributes(element, attributes) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) {
      if (typeof value !== "function") throw new TypeError(`${name} must be a function`);
      element.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (name === "style") {
      throw new TypeError("style attributes are refused by the page's CSP: use a class");
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

function appendChildren(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An HTML element: ``h("a", {href, class: "x", onclick}, "text", otherNode, [more])``. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  setAttributes(element, attributes);
  appendChildren(element, children);
  return element;
}

/** An SVG element, built the same way. */
export function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  setAttributes(element, attributes);
  appendChildren(element, children);
  return element;
}

/** Replace everything inside ``element`` with ``children``. */
export function fill(element, ...children) {
  element.replaceChildren();
  appendChildren(element, children);
  return element;
}

// --- formatting ---------------------------------------------------------------------------

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** ``2026-01-31 14:05:09`` in local time; an em dash for no time. */
export function formatTime(ms) {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(ms);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** ``14:05`` (or ``14:05:09`` with seconds) in local time. */
export function formatClock(ms, seconds = false) {
  const d = new Date(ms);
  const base = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return seconds ? `${base}:${pad(d.getSeconds())}` : base;
}

/** A duration in milliseconds as people read it: ``850 ms``, ``4.2 s``, ``3 min 5 s``, ``2 h 1 min``. */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  const abs = Math.abs(ms);
  if (abs < 10 && !Number.isInteger(ms)) return `${ms.toFixed(1)} ms`;
  if (abs < 1000) return `${Math.round(ms)} ms`;
  if (abs < 60_000) return `${(ms / 1000).toFixed(abs < 10_000 ? 1 : 0)} s`;
  const s = Math.round(abs / 1000);
  const two = (big, bigUnit, small, smallUnit) =>
    small ? `${big} ${bigUnit} ${small} ${smallUnit}` : `${big} ${bigUnit}`;
  if (s < 3600) return two(Math.floor(s / 60), "min", s % 60, "s");
  if (s < 86400) return two(Math.floor(s / 3600), "h", Math.floor((s % 3600) / 60), "min");
  return two(Math.floor(s / 86400), "d", Math.floor((s % 86400) / 3600), "h");
}

/** ``12 s ago`` or ``in 3 min``, from ``now`` (ms). */
export function formatRelative(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return "—";
  const delta = ms - now;
  if (Math.abs(delta) < 1000) return "now";
  const text = formatDuration(Math.abs(delta)).replace(/ \d+ (s|min)$/, "");
  return delta < 0 ? `${text} ago` : `in ${text}`;
}

/** ``1,234`` in the reader's locale. */
export function formatCount(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString();
}

/**
 * The last 8 characters of an id, for tables (the full id goes in a title). Job ids are
 * UUIDv7: they begin with their creation time, so their tails tell them apart.
 */
export function shortId(id) {
  return String(id).slice(-8);
}

/** A local ``datetime-local`` input value for ``ms``, and back. */
export function toLocalInput(ms) {
  if (ms === null || ms === undefined || ms === "") return "";
  const d = new Date(Number(ms));
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}` +
    `T${pad(d.getHours())}:${pad(d.getMinutes())}`
  );
}

export function fromLocalInput(value) {
  if (!value) return "";
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? "" : String(ms);
}
