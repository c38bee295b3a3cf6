// The embed builder: a number, size, colours and seed become an image URL and an <img> tag.
import { api, el, imageURL, onCheckpoint, problemText, randomSeed } from "./api.js";

const form = document.getElementById("embed-form");
const preview = document.getElementById("embed-preview");
const problem = document.getElementById("embed-problem");
const urlField = document.getElementById("embed-url");
const tagField = document.getElementById("embed-tag");
const copyStatus = document.getElementById("copy-status");
const names = document.getElementById("checkpoint-names");
const NUMBER = /^[0-9]{1,32}$/;

function chosen() {
  const f = form.elements;
  const number = f.number.value.trim();
  const params = {
    seed: f.seed.value,
    size: f.size.value,
    fg: f.fg.value.slice(1),
    bg: f.transparent.checked ? "transparent" : f.bg.value.slice(1),
    smooth: f.smooth.checked ? "true" : "",
    checkpoint: f.checkpoint.value.trim() === "latest" ? "" : f.checkpoint.value.trim(),
  };
  const path = `/v1/numbers/${encodeURIComponent(number)}.png`;
  return { number, url: new URL(imageURL(path, params), location.href).href };
}

function update() {
  const { number, url } = chosen();
  form.elements.bg.disabled = form.elements.transparent.checked;
  preview.parentElement.classList.toggle("clear", form.elements.transparent.checked);
  if (!NUMBER.test(number)) {
    showProblem("The number must be 1 to 32 digits, 0-9.");
    return;
  }
  showProblem("");
  preview.alt = `${number}, handwritten by the GAN`;
  preview.src = url;
  urlField.value = url;
  tagField.value = `<img src="${url.replaceAll("&", "&amp;")}" alt="${preview.alt}">`;
}

function showProblem(text) {
  problem.textContent = text;
  problem.hidden = !text;
  preview.hidden = Boolean(text);
}

// An <img> cannot read why it failed; ask again to show the API's reason (e.g. 409 for
// an unconditional checkpoint, 422 for a size out of bounds).
preview.addEventListener("error", async () => {
  if (!preview.getAttribute("src")) return;
  const answer = await api(preview.src);
  if (!answer.ok) showProblem(problemText(answer));
});

async function fillCheckpointNames() {
  const answer = await api("/v1/checkpoints?limit=20");
  if (!answer.ok) return;
  const known = ["latest", ...Object.keys(answer.body.aliases), ...answer.body.checkpoints.map((c) => c.id)];
  names.replaceChildren(...known.map((value) => el("option", { value })));
}

async function copy(field) {
  try {
    await navigator.clipboard.writeText(field.value);
  } catch {
    // Plain http to another host is not a secure context: no clipboard API there.
    field.select();
    document.execCommand("copy");
  }
  copyStatus.textContent = `Copied the ${field.id === "embed-url" ? "URL" : "HTML"}.`;
}

for (const button of document.querySelectorAll("[data-copy]")) {
  button.addEventListener("click", () => copy(document.getElementById(button.dataset.copy)));
}

let pending;
form.addEventListener("input", () => {
  clearTimeout(pending);
  pending = setTimeout(update, 250);
});
form.addEventListener("submit", (event) => event.preventDefault());
document.getElementById("embed-reseed").addEventListener("click", () => {
  form.elements.seed.value = randomSeed();
  update();
});
onCheckpoint(() => {
  fillCheckpointNames();
  update();
});

form.elements.seed.value = randomSeed();
update();
fillCheckpointNames();
