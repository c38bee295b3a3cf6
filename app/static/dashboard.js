// The training dashboard: start and cancel jobs, follow them live, see their checkpoints.
import {
  FINISHED,
  announceCheckpoint,
  api,
  checkpointFacts,
  el,
  formatNumber,
  imageURL,
  onCheckpoint,
  onThemeChange,
  pageInk,
  problemText,
  when,
} from "./api.js";

const TOKEN_KEY = "digitgan.token";
const LIST_EVERY_MS = 10000; // also catches jobs started elsewhere (the CLI)
const LOSSES_EVERY_MS = 3000;
const form = document.getElementById("job-form");
const formStatus = document.getElementById("job-form-status");
const jobList = document.getElementById("jobs");
const checkpointList = document.getElementById("checkpoints");
const cards = new Map(); // job id -> {card, job, source, lossesAt}

// The token lives in this tab's sessionStorage only: gone when the tab closes.
const tokenField = form.elements.token;
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
  const spec = { architecture: f.architecture.value };
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
    entry = { ...newCard(job), job, source: null, lossesAt: 0 };
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

function newCard(job) {
  const short = job.id.slice(0, 8);
  const parts = {
    state: el("span", { class: "state" }),
    bar: el("progress", { max: 100, value: 0, "aria-label": `Progress of job ${short}` }),
    stats: el("p", { class: "stats" }),
    error: el("p", { class: "problem", hidden: true }),
    quality: el("div"),
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
      el("span", { class: "muted" }, `${job.spec.architecture}, ${formatNumber(job.spec.steps)} steps`),
      el("span", { class: "muted" }, when(job.created_at)),
      parts.cancel,
    ),
    parts.bar,
    parts.stats,
    parts.error,
    parts.quality,
    details,
  );
  if (cards.size === 0) details.open = true; // the newest job's curves, open from the start
  return { card, parts, details };
}

function drawCard({ card, parts, job }) {
  const { state, bar, stats, error, quality, cancel } = parts;
  const p = job.progress || {};
  card.dataset.state = job.state;
  state.textContent = job.state;
  state.className = `state ${job.state}`;
  bar.value = job.state === "succeeded" ? 100 : p.percent || 0;
  bar.setAttribute("aria-valuetext", `${job.state}, ${Math.round(bar.value)}%`);
  stats.textContent = progressText(job, p);
  error.textContent = job.error || "";
  error.hidden = !job.error;
  quality.replaceChildren(job.evaluation ? checkpointFacts({ evaluation: job.evaluation }) : "");
  cancel.hidden = FINISHED.has(job.state);
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
    ),
  );
  checkpointList.replaceChildren(...items);
  document.getElementById("checkpoints-empty").hidden = items.length > 0;
}

onCheckpoint(loadCheckpoints);
onThemeChange(loadCheckpoints);
loadJobs();
loadCheckpoints();
setInterval(loadJobs, LIST_EVERY_MS);
