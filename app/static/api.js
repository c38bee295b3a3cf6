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

// A checkpoint's facts; its quality is quality.js's part.
export function checkpointFacts(meta, aliases = []) {
  const facts = [
    ["architecture", meta.architecture],
    ["step", meta.step != null ? formatNumber(meta.step) : null],
    ["data set", typeof meta.dataset === "string" ? meta.dataset : null],
    ["made", meta.created_at ? new Date(meta.created_at).toLocaleString() : null],
    ["names", aliases.length ? aliases.join(", ") : null],
  ];
  return el(
    "dl",
    { class: "facts" },
    ...facts
      .filter(([, value]) => value != null)
      .flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]),
  );
}

// The step a checkpoint id names (`<job>-<step, 7 digits>`), or null for other ids.
export function stepOf(checkpointId) {
  const match = /-(\d{7,})$/.exec(checkpointId);
  return match ? Number(match[1]) : null;
}

// Uploaded data sets, newest first ([] when the API cannot say).
export async function uploadedDatasets() {
  const answer = await api("/v1/datasets?limit=100");
  return answer.ok ? answer.body.datasets : [];
}

// A data set's preview as a path on this origin: the API writes absolute URLs, and the
// page's policy loads images from its own origin only.
export function previewPath(dataset) {
  const url = new URL(dataset.preview_url, location.href);
  return url.pathname + url.search;
}

export function datasetLabel(dataset) {
  return `${dataset.name} (${formatNumber(dataset.count)} digits)`;
}

// Tell the other parts of the page that a new checkpoint may be out.
export function announceCheckpoint() {
  document.dispatchEvent(new CustomEvent("digitgan:checkpoint"));
}
export function onCheckpoint(callback) {
  document.addEventListener("digitgan:checkpoint", callback);
}

// ... that a data set was uploaded (`detail`: it), so every list of them is refreshed.
export function announceDataset(dataset) {
  document.dispatchEvent(new CustomEvent("digitgan:dataset", { detail: dataset }));
}
export function onDataset(callback) {
  document.addEventListener("digitgan:dataset", (event) => callback(event.detail));
}

// ... that a person asked to see one checkpoint in the gallery (`null`: follow `latest`).
export function showInGallery(checkpointId) {
  document.dispatchEvent(new CustomEvent("digitgan:show", { detail: checkpointId }));
}
export function onShowInGallery(callback) {
  document.addEventListener("digitgan:show", (event) => callback(event.detail));
}
