// What this browser remembers: the theme (light or dark; the OS setting until chosen) and
// the refresh interval (2, 5 or 10 s, or off; 5 s by default).

const THEME_KEY = "taskito.theme";
const REFRESH_KEY = "taskito.refresh";
export const REFRESH_CHOICES = [0, 2, 5, 10];
export const DEFAULT_REFRESH = 5;

function read(key) {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null; // storage refused (a private window): nothing is remembered
  }
}

function write(key, value) {
  try {
    window.localStorage.setItem(key, value);
  } catch {
    // Not remembered; the choice still holds for this page.
  }
}

export function initialTheme() {
  const saved = read(THEME_KEY);
  if (saved === "light" || saved === "dark") return saved;
  return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function currentTheme() {
  return document.documentElement.dataset.theme || "light";
}

export function nextTheme() {
  return currentTheme() === "dark" ? "light" : "dark";
}

/** Show ``theme``; ``remember`` keeps it for the next visit. */
export function applyTheme(theme, remember) {
  document.documentElement.dataset.theme = theme;
  const button = document.getElementById("theme");
  if (button) {
    const other = theme === "dark" ? "light" : "dark";
    button.textContent = theme === "dark" ? "☀" : "☾";
    button.setAttribute("aria-label", `Switch to the ${other} theme`);
    button.title = `Switch to the ${other} theme`;
  }
  if (remember) write(THEME_KEY, theme);
}

export function refreshSeconds() {
  const saved = Number(read(REFRESH_KEY));
  return read(REFRESH_KEY) !== null && REFRESH_CHOICES.includes(saved) ? saved : DEFAULT_REFRESH;
}

export function saveRefreshSeconds(seconds) {
  if (REFRESH_CHOICES.includes(seconds)) write(REFRESH_KEY, String(seconds));
}
