// The training dashboard: upload data sets, start and cancel jobs, follow them live, see
// their checkpoints.
import {
  FINISHED,
  announceCheckpoint,
  announceDataset,
  api,
  checkpointFacts,
  datasetLabel,
  el,
  formatNumber,
  imageURL,
  onCheckpoint,
  onThemeChange,
  pageInk,
  previewPath,
  problemText,
  showInGallery,
  stepOf,
  uploadedDatasets,
  when,
} from "./api.js";
import { qualitySummary } from "./quality.js";

const TOKEN_KEY = "digitgan.token";
const LIST_EVERY_MS = 10000; // also catches jobs started elsewhere (the CLI)
const LOSSES_EVERY_MS = 3000;
const form = document.getElementById("job-form");
const formStatus = document.getElementById("job-form-status");
const jobList = document.getElementById("jobs");
const checkpointList = document.getElementById("checkpoints");
const cards = new Map(); // job id -> {card, parts, details, job, source, lossesAt, kept}
const datasetNames = new Map(); // "upload:<id>" -> its file name, for the job cards
// Data sets whose jobs move `latest` by default (digitgan/specs.py, PUBLISHED_DATASETS).
const PUBLISHED_DATASETS = new Set(["mnist-5k", "mnist"]);

// The token lives in this tab's sessionStorage only: gone when the tab closes.
const tokenField = document.getElementById("api-token");
tokenField.value = sessionStorage.getItem(TOKEN_KEY) || "";
tokenField.addEventListener("input", () => sessionStorage.setItem(TOKEN_KEY, tokenField.value));

function authorized(options = {}) {
  const token = tokenField.value.trim();
  if (!token) return null;
  return { ...options, headers: { ...options.headers, Authorization: `Bearer ${token}` } };
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = form.elements;
  const spec = { dataset: f.dataset.value, publish: f.publish.checked };
  // Starting from a checkpoint trains its own architecture: the API refuses another.
  const initFrom = f.init_from.value.trim();
  if (initFrom) spec.init_from = initFrom;
  else spec.architecture = f.architecture.value;
  for (const name of ["steps", "batch_size", "checkpoint_every", "seed"]) {
    if (f[name].value !== "") spec[name] = Number(f[name].value);
  }
  const options = authorized({
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(spec),
  });
  if (!options) return say("Type the API token first (`make run` prints it).");
  say("Starting…");
  const answer = await api("/v1/jobs", options);
  if (!answer.ok) return say(refusal(answer));
  say(`Started job ${answer.body.id.slice(0, 8)}.`);
  show(answer.body, true);
});

// `publish` is always sent, so a job does what the box shows. Until a person clicks it,
// the box follows the server's own default for the choices made (true for jobs on
// mnist-5k or mnist that start from scratch); from then on it is theirs.
let publishTouched = false;
const publishHint = document.getElementById("publish-hint");
function followPublishDefault() {
  const f = form.elements;
  const initFrom = f.init_from.value.trim() !== "";
  f.architecture.disabled = initFrom;
  document.getElementById("architecture-hint").hidden = !initFrom;
  if (publishTouched) return;
  f.publish.checked = PUBLISHED_DATASETS.has(f.dataset.value) && !initFrom;
  publishHint.textContent = f.publish.checked
    ? "(the default for a job on MNIST from scratch)"
    : "(off by default for uploaded data or a start from a checkpoint)";
}
form.elements.publish.addEventListener("change", () => {
  publishTouched = true;
  publishHint.textContent = "(your choice)";
});
form.elements.dataset.addEventListener("change", followPublishDefault);
form.elements.init_from.addEventListener("input", followPublishDefault);

// The data set choices: the built-in digits, then every uploaded set, newest first.
async function fillDatasets(selected = null) {
  const select = form.elements.dataset;
  const keep = selected || select.value;
  const datasets = await uploadedDatasets();
  for (const d of datasets) datasetNames.set(d.dataset, d.name);
  select.replaceChildren(
    el("option", { value: "mnist-5k" }, "mnist-5k (built-in MNIST digits)"),
    ...datasets.map((d) => el("option", { value: d.dataset }, datasetLabel(d))),
  );
  select.value = [...select.options].some((o) => o.value === keep) ? keep : "mnist-5k";
  followPublishDefault();
}

// Upload a zip of digit images (folders 0 to 9) as a data set to train on.
const uploadForm = document.getElementById("upload-form");
const uploadStatus = document.getElementById("upload-status");
const uploadPreview = document.getElementById("upload-preview");
uploadForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = uploadForm.elements.file.files[0];
  uploadPreview.hidden = true;
  if (!file) return sayUpload("Choose a .zip of digit images first.", true);
  const body = new FormData();
  body.append("file", file, file.name);
  const options = authorized({ method: "POST", body });
  if (!options) return sayUpload("Type the API token first (`make run` prints it).", true);
  sayUpload(`Uploading ${file.name}…`);
  const answer = await api("/v1/datasets", options);
  if (!answer.ok) return sayUpload(`Not uploaded: ${refusal(answer)}`, true);
  const dataset = answer.body;
  const counts = dataset.per_digit.map((n, digit) => `${digit}: ${formatNumber(n)}`).join(", ");
  const done = answer.status === 201 ? "Uploaded" : "Uploaded before:";
  sayUpload(
    `${done} ${dataset.name}, ${formatNumber(dataset.count)} digits (${counts}). ` +
      "It is now the data set below.",
  );
  uploadPreview.src = previewPath(dataset);
  uploadPreview.alt = `Digits from ${dataset.name}, a row per digit from 0 to 9`;
  uploadPreview.hidden = false;
  await fillDatasets(dataset.dataset);
  announceDataset(dataset);
});

function sayUpload(text, refused = false) {
  uploadStatus.textContent = text;
  uploadStatus.classList.toggle("problem", refused);
}

function say(text) {
  formStatus.textContent = text;
}

function refusal(answer) {
  if (answer.status === 401) return "The API refused the token.";
  return problemText(answer);
}

async function loadJobs() {
  const answer = await api("/v1/jobs?limit=10");
  if (!answer.ok) return;
  answer.body.jobs.forEach((job, index) => show(job, false, index));
  // Jobs pushed off the first page leave it, as they would on a reload.
  const listed = new Set(answer.body.jobs.map((job) => job.id));
  for (const [id, entry] of cards) {
    if (!listed.has(id) && !entry.source) {
      entry.card.remove();
      cards.delete(id);
    }
  }
  document.getElementById("jobs-empty").hidden = answer.body.total > 0;
}

// Add or refresh a job's card, and follow it live while it has not ended.
function show(job, newest = false, index = null) {
  let entry = cards.get(job.id);
  if (!entry) {
    entry = { ...newCard(job, newest), job, source: null, lossesAt: 0, kept: null };
    cards.set(job.id, entry);
  }
  if (newest) jobList.prepend(entry.card);
  else if (index !== null && jobList.children[index] !== entry.card) {
    jobList.insertBefore(entry.card, jobList.children[index] || null);
  }
  document.getElementById("jobs-empty").hidden = true;
  const ended = FINISHED.has(job.state) && !FINISHED.has(entry.job.state);
  const newCheckpoint = job.checkpoint_id && job.checkpoint_id !== entry.job.checkpoint_id;
  entry.job = job;
  drawCard(entry);
  if (!FINISHED.has(job.state) && !entry.source) follow(entry);
  if (ended || newCheckpoint) {
    refreshLosses(entry, true);
    announceCheckpoint();
  }
}

function follow(entry) {
  const source = new EventSource(`/v1/jobs/${entry.job.id}/events`);
  entry.source = source;
  source.addEventListener("state", (event) => {
    const job = JSON.parse(event.data);
    if (FINISHED.has(job.state)) {
      source.close(); // the stream ends with the job; EventSource would reconnect
      entry.source = null;
    }
    show(job);
  });
  source.addEventListener("progress", (event) => {
    entry.job = { ...entry.job, progress: JSON.parse(event.data) };
    drawCard(entry);
    refreshLosses(entry);
  });
}

function newCard(job, startedHere) {
  const short = job.id.slice(0, 8);
  const parts = {
    state: el("span", { class: "state" }),
    about: el("span", { class: "muted" }),
    bar: el("progress", { max: 100, value: 0, "aria-label": `Progress of job ${short}` }),
    stats: el("p", { class: "stats" }),
    error: el("p", { class: "problem", hidden: true }),
    quality: el("div"),
    kept: el("div", { class: "kept" }),
    cancel: el("button", { type: "button", onclick: () => cancel(job.id) }, "Cancel"),
    losses: el("img", { alt: `Discriminator and generator loss curves of job ${short}` }),
  };
  const details = el(
    "details",
    { ontoggle: () => refreshLosses(cards.get(job.id), true) },
    el("summary", {}, "Loss curves"),
    parts.losses,
  );
  const card = el(
    "li",
    { class: "job card", "data-id": job.id },
    el(
      "div",
      { class: "job-head" },
      el("a", { href: `/v1/jobs/${job.id}`, title: job.id }, el("code", {}, short)),
      parts.state,
      parts.about,
      el("span", { class: "muted" }, when(job.created_at)),
      parts.cancel,
    ),
    parts.bar,
    parts.stats,
    parts.error,
    parts.quality,
    parts.kept,
    details,
  );
  // The curves of the newest job on the page, and of one started here, open at once.
  if (cards.size === 0 || startedHere) details.open = true;
  return { card, parts, details };
}

function drawCard(entry) {
  const { card, parts, job } = entry;
  const { state, about, bar, stats, error, quality, cancel } = parts;
  const p = job.progress || {};
  card.dataset.state = job.state;
  state.textContent = job.state;
  state.className = `state ${job.state}`;
  about.textContent = describe(job.spec);
  bar.value = job.state === "succeeded" ? 100 : p.percent || 0;
  bar.setAttribute("aria-valuetext", `${job.state}, ${Math.round(bar.value)}%`);
  stats.textContent = progressText(job, p);
  error.textContent = job.error || "";
  error.hidden = !job.error;
  quality.replaceChildren(qualitySummary(job.evaluation) || "");
  cancel.hidden = FINISHED.has(job.state);
  drawKept(entry);
}

// What a job trains, in a few words: architecture, steps, data set, start, publishing.
function describe(spec) {
  const parts = [`${spec.architecture}, ${formatNumber(spec.steps)} steps`];
  if (spec.dataset && spec.dataset !== "mnist-5k") {
    parts.push(`on ${datasetNames.get(spec.dataset) || spec.dataset}`);
  }
  if (spec.init_from) parts.push(`from ${shortened(spec.init_from)}`);
  parts.push(spec.publish ? "publishes to latest" : "not published");
  return parts.join(", ");
}

function shortened(name) {
  return name.length > 16 ? `${name.slice(0, 8)}…` : name;
}

// The job's kept checkpoints (oldest first), each a thumbnail served by its id: only a
// publishing job's final one becomes `latest`, so this is where the others are seen.
function drawKept(entry) {
  const ids = entry.job.checkpoints || [];
  const key = `${ids.join(" ")}|${pageInk()}`;
  if (key === entry.kept) return;
  entry.kept = key;
  const short = entry.job.id.slice(0, 8);
  const items = ids.map((id) => {
    const step = stepOf(id);
    const name = step === null ? id : `step ${formatNumber(step)}`;
    const thumb = imageURL("/v1/samples.png", {
      n: 8, cols: 4, seed: 1, size: 56, fg: pageInk(), bg: "transparent", checkpoint: id,
    });
    return el(
      "li",
      { "data-checkpoint": id },
      el(
        "a",
        { href: imageURL("/v1/samples.png", { n: 64, cols: 8, seed: 1, checkpoint: id }) },
        el("img", { src: thumb, alt: `Eight digits from job ${short} at ${name}`, title: id }),
      ),
      el("span", {}, name),
      el(
        "button",
        { type: "button", class: "small", onclick: () => showInGallery(id) },
        "Show in gallery",
        el("span", { class: "visually-hidden" }, ` (job ${short}, ${name})`),
      ),
    );
  });
  entry.parts.kept.replaceChildren(
    ...(items.length ? [el("h4", {}, "Kept checkpoints"), el("ol", {}, ...items)] : []),
  );
}

function progressText(job, p) {
  const parts = [`step ${formatNumber(p.step || 0)}/${formatNumber(p.total_steps || job.spec.steps)}`];
  if (p.images_per_second) parts.push(`${formatNumber(Math.round(p.images_per_second))} img/s`);
  if (job.state === "running" && p.eta_s != null) parts.push(`ETA ${duration(p.eta_s)}`);
  if (p.d_loss != null) parts.push(`D ${p.d_loss.toFixed(3)} G ${p.g_loss.toFixed(3)}`);
  if (job.attempt > 1) parts.push(`attempt ${job.attempt}`);
  return parts.join(" · ");
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

// The loss curves of an open card, redrawn at most every few seconds while it trains.
function refreshLosses(entry, now = false) {
  if (!entry || !entry.details.open) return;
  if (!now && Date.now() - entry.lossesAt < LOSSES_EVERY_MS) return;
  entry.lossesAt = Date.now();
  entry.parts.losses.src = `/v1/jobs/${entry.job.id}/losses.png?at=${entry.lossesAt}`;
}

async function cancel(jobId) {
  const options = authorized({ method: "POST" });
  if (!options) return say("Type the API token first to cancel a job.");
  const answer = await api(`/v1/jobs/${jobId}/cancel`, options);
  if (!answer.ok) return say(refusal(answer));
  say(`Cancelling job ${jobId.slice(0, 8)}…`);
  show(answer.body);
}

async function loadCheckpoints() {
  const answer = await api("/v1/checkpoints?limit=12");
  if (!answer.ok) return;
  const items = answer.body.checkpoints.map(({ id, meta, aliases }) =>
    el(
      "li",
      { class: "card" },
      el("img", {
        src: imageURL("/v1/samples.png", {
          n: 16, cols: 8, seed: 1, size: 64, fg: pageInk(), bg: "transparent", checkpoint: id,
        }),
        alt: `Sixteen digits from checkpoint ${id}`,
      }),
      el("p", {}, el("code", {}, id)),
      checkpointFacts(meta, aliases),
      qualitySummary(meta.evaluation, { compact: true }),
    ),
  );
  checkpointList.replaceChildren(...items);
  document.getElementById("checkpoints-empty").hidden = items.length > 0;
}

onCheckpoint(loadCheckpoints);
onThemeChange(() => {
  loadCheckpoints();
  for (const entry of cards.values()) drawKept(entry);
});
fillDatasets().then(loadJobs); // the cards name uploaded data sets
loadCheckpoints();
setInterval(loadJobs, LIST_EVERY_MS);
