// The gallery: a row of fresh digits per digit from the latest checkpoint (or one a person
// picked from a job), its facts and quality, and beside it an uploaded data set's digits.
import {
  MAX_SEED,
  api,
  checkpointFacts,
  datasetLabel,
  el,
  imageURL,
  onCheckpoint,
  onDataset,
  onShowInGallery,
  onThemeChange,
  pageInk,
  previewPath,
  problemText,
  randomSeed,
  uploadedDatasets,
} from "./api.js";
import { qualitySummary } from "./quality.js";

const info = document.getElementById("checkpoint-info");
const rows = document.getElementById("digit-rows");
const note = document.getElementById("gallery-note");
const seedLabel = document.getElementById("gallery-seed");
const compare = document.getElementById("compare-dataset");
const figure = document.getElementById("dataset-preview");
const ROW_HEIGHT = 56;

let shown = null; // the checkpoint drawn: {id, meta, aliases}
let pinned = null; // a checkpoint id a person chose to look at; null: follow `latest`
let drawing = 0; // bumped on every redraw, so a late answer for old rows changes nothing
let compareChosen = false; // once a person picks a data set, the page stops picking one
let seed = seedFromAddress() ?? randomSeed();

// `/?seed=42` shows the same digits every time: a gallery one can link to.
function seedFromAddress() {
  const value = new URLSearchParams(location.search).get("seed");
  if (value === null || !/^[0-9]{1,19}$/.test(value)) return null;
  const number = Number(value);
  return number <= MAX_SEED ? number : null;
}

async function load() {
  const ref = pinned || "latest";
  const answer = await api(`/v1/checkpoints/${encodeURIComponent(ref)}`);
  if (answer.status === 404) {
    shown = null;
    drawing += 1;
    info.replaceChildren(
      pinned
        ? el("p", {}, `Checkpoint ${pinned} is no longer kept. `, followButton())
        : "No checkpoint yet: start a training job below and its digits appear here.",
    );
    rows.replaceChildren();
    note.hidden = true;
    return;
  }
  if (!answer.ok) {
    info.replaceChildren(`Cannot read the checkpoint: ${problemText(answer)}`);
    return;
  }
  const checkpoint = answer.body;
  if (shown && shown.id === checkpoint.id) return;
  shown = checkpoint;
  const heading = el("p", {}, "Checkpoint ", el("code", {}, checkpoint.id));
  if (pinned) heading.append(" (picked from a job, not `latest`) ", followButton());
  info.replaceChildren(
    heading,
    el(
      "div",
      { class: "about" },
      checkpointFacts(checkpoint.meta, checkpoint.aliases),
      qualitySummary(checkpoint.meta.evaluation),
    ),
  );
  draw();
  pickDatasetOf(checkpoint.meta);
}

function followButton() {
  return el("button", { type: "button", onclick: () => show(null) }, "Back to latest");
}

function show(checkpointId) {
  pinned = checkpointId;
  shown = null;
  load();
}

// A row per digit, each asked for on its own: a checkpoint that cannot draw some digit
// (an unconditional one whose samples hold no clear 3: 409) loses that row only.
function draw() {
  if (!shown) return;
  drawing += 1;
  seedLabel.textContent = `seed ${seed}`;
  note.hidden = true;
  rows.replaceChildren(...[...Array(10).keys()].map((digit) => digitRow(digit, drawing)));
}

function common() {
  return { seed, fg: pageInk(), bg: "transparent", checkpoint: shown.id };
}

function digitRow(digit, generation) {
  const url = imageURL("/v1/samples.png", {
    ...common(), n: 10, cols: 10, digit, size: ROW_HEIGHT,
  });
  const image = el("img", { src: url, alt: `Ten generated handwritten ${digit}s` });
  const row = el(
    "div",
    { class: "digit-row", "data-digit": digit },
    el("span", { class: "digit-label", "aria-hidden": "true" }, String(digit)),
    image,
  );
  image.addEventListener("error", () => replaceRow(row, digit, url, generation), { once: true });
  return row;
}

// An <img> cannot read why it failed: ask again for the API's reason, then show what can
// be shown instead.
async function replaceRow(row, digit, url, generation) {
  const answer = await api(url);
  if (generation !== drawing) return;
  if (answer.ok) {
    // It works now (a passing hiccup): one more try with a fresh image, then a message.
    const again = el("img", { src: url, alt: `Ten generated handwritten ${digit}s` });
    again.addEventListener("error", () => rowProblem(row, digit, "it failed twice"), {
      once: true,
    });
    row.querySelector("img").replaceWith(again);
    return;
  }
  if (answer.status !== 409) {
    rowProblem(row, digit, problemText(answer));
    return;
  }
  // Digits of the checkpoint's own choosing, which every checkpoint can draw; each row
  // its own seed, so that the rows differ.
  const rowSeed = (seed + digit + 1) % (MAX_SEED + 1);
  const plain = imageURL("/v1/samples.png", {
    ...common(), seed: rowSeed, n: 10, cols: 10, size: ROW_HEIGHT,
  });
  const image = el("img", {
    src: plain,
    alt: `Ten generated digits of the checkpoint's own choosing, in place of ${digit}s`,
  });
  image.addEventListener("error", () => rowProblem(row, digit, "its samples failed too"), {
    once: true,
  });
  row.dataset.fallback = "samples";
  row.replaceChildren(
    el("span", { class: "digit-label", "aria-hidden": "true" }, String(digit)),
    el(
      "div",
      { class: "row-body" },
      el("p", { class: "row-note" }, `No clear ${digit} among its samples; any digits instead:`),
      image,
    ),
  );
  note.hidden = false;
}

function rowProblem(row, digit, reason) {
  row.dataset.fallback = "message";
  row.replaceChildren(
    el("span", { class: "digit-label", "aria-hidden": "true" }, String(digit)),
    el("p", { class: "row-note problem" }, `The ${digit}s could not be drawn: ${reason}`),
  );
}

// Beside the samples, an uploaded data set's own digits: the one the checkpoint was
// trained on unless a person picked another.
async function fillDatasets(selectId = null) {
  const datasets = await uploadedDatasets();
  const current = selectId || compare.value;
  compare.replaceChildren(
    el("option", { value: "" }, "nothing"),
    ...datasets.map((d) =>
      el("option", { value: d.id, "data-preview": previewPath(d) }, datasetLabel(d)),
    ),
  );
  compare.value = datasets.some((d) => d.id === current) ? current : "";
  compare.closest("label").hidden = datasets.length === 0;
  showDataset();
}

function pickDatasetOf(meta) {
  if (compareChosen || typeof meta.dataset !== "string") return;
  const id = meta.dataset.startsWith("upload:") ? meta.dataset.slice("upload:".length) : "";
  if ([...compare.options].some((o) => o.value === id)) {
    compare.value = id;
    showDataset();
  }
}

function showDataset() {
  const option = compare.selectedOptions[0];
  figure.hidden = !option || !option.value;
  if (figure.hidden) return;
  const image = figure.querySelector("img");
  image.src = option.dataset.preview;
  image.alt = `Digits from the data set ${option.textContent}, a row per digit from 0 to 9`;
  figure.querySelector("figcaption").textContent =
    `Data set ${option.textContent}: up to ten of each digit, as the GAN sees them.`;
}

compare.addEventListener("change", () => {
  compareChosen = true;
  showDataset();
});
document.getElementById("new-seeds").addEventListener("click", () => {
  seed = randomSeed();
  draw();
});
onThemeChange(draw);
onCheckpoint(load);
onDataset((dataset) => fillDatasets(compareChosen ? null : dataset.id));
onShowInGallery((checkpointId) => {
  show(checkpointId);
  const title = document.getElementById("gallery-title");
  title.scrollIntoView();
  title.focus({ preventScroll: true });
});
fillDatasets().then(() => load());
