// What the page's three parts share: the API, images in the page's colours, small DOM help.

export const MAX_SEED = 2 ** 31 - 1;
export const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

// The answer and its JSON body (or null); never throws for an HTTP error status.
export async function api(path, options = {}) {
  const response = await fetch(path, options);
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : null;
  return { ok: response.ok, status: response.status, body };
}

export function problemText(answer) {
  const detail = answer.body && answer.body.detail;
  return typeof detail === "string" ? detail : `the API answered ${answer.status}`;
}

export function randomSeed() {
  return crypto.getRandomValues(new Uint32Array(1))[0] & MAX_SEED;
}

// Digits drawn in the page's own ink on clear paper, so they suit light and dark mode.
const darkQuery = matchMedia("(prefers-color-scheme: dark)");
export function pageInk() {
  return darkQuery.matches ? "e8e8f2" : "1a1a2e";
}
export function onThemeChange(callback) {
  darkQuery.addEventListener("change", callback);
}

export function imageURL(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(key, value);
  }
  return `${path}?${query}`;
}

// el("a", {href: "/"}, "text", child): attributes as given; `on*` functions become listeners.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else if (value !== false && value != null) node.setAttribute(name, value);
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

export function when(seconds) {
  return new Date(seconds * 1000).toLocaleString();
}

export function formatNumber(value) {
  if (typeof value !== "number") return String(value);
  return Number.isInteger(value) ? value.toLocaleString() : value.toPrecision(3);
}

// A checkpoint's facts and, where it was measured, its quality numbers (`evaluation`).
export function checkpointFacts(meta, aliases = []) {
  const facts = [
    ["architecture", meta.architecture],
    ["step", formatNumber(meta.step)],
    ["made", meta.created_at ? new Date(meta.created_at).toLocaleString() : null],
    ["names", aliases.length ? aliases.join(", ") : null],
  ];
  for (const [name, value] of Object.entries(meta.evaluation || {})) {
    facts.push([name.replaceAll("_", " "), summarise(value)]);
  }
  return el(
    "dl",
    { class: "facts" },
    ...facts
      .filter(([, value]) => value != null)
      .flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]),
  );
}

function summarise(value) {
  if (value === null || typeof value !== "object") return formatNumber(value);
  return Object.entries(value)
    .map(([key, inner]) => `${key}: ${summarise(inner)}`)
    .join(", ");
}

// Tell the other parts of the page that a new checkpoint may be out.
export function announceCheckpoint() {
  document.dispatchEvent(new CustomEvent("digitgan:checkpoint"));
}
export function onCheckpoint(callback) {
  document.addEventListener("digitgan:checkpoint", callback);
}
