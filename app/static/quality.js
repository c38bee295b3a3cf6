// A checkpoint's quality (`evaluation`, models/evaluation.py) as a person reads it: the
// one-line verdict with its grade, and a few figures beside real digits' figures.
//
// Evaluations come from several versions of the service: any key may be missing, the
// whole may be {"skipped": reason} or {"error": ...}, and old checkpoints carry figures
// under names of their own. Nothing here may print "undefined", "NaN" or raw JSON.
import { el, formatNumber } from "./api.js";

const GRADES = new Set(["excellent", "good", "fair", "poor", "copying"]);

// What each row shows: the model's figure (`key`) beside real held-out digits' figure
// (`reference[key]`), and for distances the model's figure as a multiple of real's.
const ROWS = [
  {
    key: "frechet_distance",
    ratio: "frechet_distance_ratio",
    name: "Fréchet distance",
    kind: "number",
  },
  {
    key: "intra_class_frechet_distance",
    ratio: "intra_class_frechet_distance_ratio",
    name: "Fréchet distance within each digit",
    kind: "number",
  },
  { key: "asked_digit_accuracy", name: "Drawn as the digit asked for", kind: "percent" },
  { key: "recall", ratio: "recall_ratio", name: "Recall (variety)", kind: "number" },
  { key: "precision", name: "Precision (realism)", kind: "number" },
  { key: "copied_fraction", name: "Near-copies of training digits", kind: "percent" },
  { key: "class_entropy_bits", name: "Spread over the digits (bits; even: 3.32)", kind: "number" },
];

// Everything the current evaluation writes; any other key is an old figure, shown apart.
const KNOWN = new Set([
  ...ROWS.flatMap((row) => [row.key, row.ratio]),
  "samples",
  "inception_score",
  "class_histogram",
  "nearest_training_distance",
  "nearest_training_distance_ratio",
  "data_frechet_distance",
  "data_frechet_ratio",
  "data_classifier_accuracy",
  "reference",
  "verdict",
  "skipped",
  "error",
]);

function isRecord(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function finite(value) {
  return typeof value === "number" && Number.isFinite(value);
}

// A figure as text, or null when there is none to show.
function figure(value, kind) {
  if (!finite(value)) return null;
  const v = Object.is(value, -0) ? 0 : value; // -0 would print as "-0"
  if (kind === "percent") return `${(v * 100).toFixed(1)}%`;
  if (kind === "ratio") return `${v.toFixed(v < 10 ? 2 : 1)}×`;
  return formatNumber(v);
}

// The verdict line, its grade (the word before the first colon) styled.
function verdictLine(verdict) {
  const match = /^([a-z]+):\s*(.*)$/s.exec(verdict);
  if (!match || !GRADES.has(match[1])) return el("p", { class: "verdict" }, verdict);
  return el(
    "p",
    { class: "verdict" },
    el("strong", { class: `grade grade-${match[1]}` }, match[1]),
    " ",
    match[2],
  );
}

function ratioNote(ratio, of) {
  return ratio ? el("span", { class: "ratio" }, ` ${ratio} ${of}`) : null;
}

function qualityTable(evaluation) {
  const reference = isRecord(evaluation.reference) ? evaluation.reference : {};
  const rows = [];
  for (const row of ROWS) {
    const mine = figure(evaluation[row.key], row.kind);
    if (mine === null) continue; // e.g. within-digit figures of an unconditional model
    const ratio = row.ratio ? figure(evaluation[row.ratio], "ratio") : null;
    rows.push(
      el(
        "tr",
        { "data-key": row.key },
        el("th", { scope: "row" }, row.name),
        el("td", {}, mine, ratioNote(ratio, "real")),
        el("td", {}, figure(reference[row.key], row.kind) ?? "—"),
      ),
    );
  }
  const style = figure(evaluation.data_frechet_distance, "number");
  if (style !== null) {
    // An upload job: how close the samples are to the uploaded style, against MNIST.
    const ratio = figure(evaluation.data_frechet_ratio, "ratio");
    rows.push(
      el(
        "tr",
        { "data-key": "data_frechet_distance" },
        el("th", { scope: "row" }, "Style distance to its data set"),
        el("td", {}, style, ratioNote(ratio, "its distance to MNIST")),
        el("td", {}, "—"),
      ),
    );
  }
  if (!rows.length) return null;
  return el(
    "table",
    { class: "quality" },
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", { scope: "col" }, "Measure"),
        el("th", { scope: "col" }, "This model"),
        el("th", { scope: "col" }, "Real digits"),
      ),
    ),
    el("tbody", {}, ...rows),
  );
}

// Figures under names this page does not know (older checkpoints): scalars, and short
// flat lists or mappings of scalars; anything deeper is left out rather than dumped.
function otherFigures(evaluation) {
  const items = [];
  for (const [key, value] of Object.entries(evaluation)) {
    if (KNOWN.has(key)) continue;
    const text = plain(value);
    if (text !== null) items.push(el("dt", {}, key.replaceAll("_", " ")), el("dd", {}, text));
  }
  return items.length ? el("dl", { class: "facts other-figures" }, ...items) : null;
}

// A single figure as text: a number, a short string, yes/no; null for anything else.
function scalar(value) {
  if (finite(value)) return figure(value, "number");
  if (typeof value === "string" && value.length <= 200) return value;
  if (typeof value === "boolean") return value ? "yes" : "no";
  return null;
}

function plain(value) {
  const single = scalar(value);
  if (single !== null) return single;
  let entries = [];
  if (Array.isArray(value)) entries = value.map((inner) => [null, inner]);
  else if (isRecord(value)) entries = Object.entries(value);
  if (!entries.length || entries.length > 10) return null;
  const parts = entries.map(([key, inner]) => {
    const text = scalar(inner);
    if (text === null) return null;
    return key === null ? text : `${key.replaceAll("_", " ")}: ${text}`;
  });
  return parts.includes(null) ? null : parts.join(", ");
}

// "what: reason" when the reason is a string (or {detail: string}), else "what."
function because(what, reason) {
  const text = isRecord(reason) ? reason.detail : reason;
  return typeof text === "string" && text ? `${what}: ${text}` : `${what}.`;
}

// The summary element for an evaluation, or null when there is nothing to say.
// `compact`: the verdict alone (for lists of many checkpoints).
export function qualitySummary(evaluation, { compact = false } = {}) {
  if (!isRecord(evaluation)) return null;
  const box = el("div", { class: "quality-summary" });
  if ("skipped" in evaluation) {
    box.append(el("p", { class: "muted" }, because("Quality not measured", evaluation.skipped)));
    return box;
  }
  if ("error" in evaluation) {
    const text = because("Quality could not be measured", evaluation.error);
    box.append(el("p", { class: "problem" }, text));
    return box;
  }
  const verdict = typeof evaluation.verdict === "string" ? evaluation.verdict : "";
  if (verdict) box.append(verdictLine(verdict));
  if (compact) return verdict ? box : null;

  const table = qualityTable(evaluation);
  if (table) {
    box.append(table);
    const notes = ["Distances: lower is better; the rest: the nearer real digits' the better."];
    const bar = figure(evaluation.data_classifier_accuracy, "percent");
    if (bar) {
      notes.push(
        `The classifier reads ${bar} of the uploaded digits as labelled: ` +
          "the bar for “drawn as asked”.",
      );
    }
    if (finite(evaluation.samples)) {
      notes.push(`Measured on ${formatNumber(evaluation.samples)} samples.`);
    }
    box.append(el("p", { class: "muted small" }, notes.join(" ")));
  }
  const others = otherFigures(evaluation);
  if (others) box.append(others);
  return box.childElementCount ? box : null;
}
