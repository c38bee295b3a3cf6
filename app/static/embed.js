// The embed builder: a number, size, colours and seed become an image URL and an <img> tag.
import { api, el, formatNumber, imageURL, onCheckpoint, problemText, randomSeed } from "./api.js";

const form = document.getElementById("embed-form");
const preview = document.getElementById("embed-preview");
const problem = document.getElementById("embed-problem");
const alternatives = document.getElementById("embed-alternatives");
const urlField = document.getElementById("embed-url");
const tagField = document.getElementById("embed-tag");
const copyStatus = document.getElementById("copy-status");
const names = document.getElementById("checkpoint-names");
const NUMBER = /^[0-9]{1,32}$/;

let asked = 0; // bumped on every change, so a late answer about an old URL changes nothing

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
  return { number, params, url: new URL(imageURL(path, params), location.href).href };
}

function update() {
  asked += 1;
  const { number, url } = chosen();
  form.elements.bg.disabled = form.elements.transparent.checked;
  preview.parentElement.classList.toggle("clear", form.elements.transparent.checked);
  if (!NUMBER.test(number)) {
    showProblem("The number must be 1 to 32 digits, 0-9.");
    return;
  }
  showProblem("");
  showURL(url, number);
}

function showProblem(text) {
  problem.textContent = text;
  problem.hidden = !text;
  preview.hidden = Boolean(text);
  alternatives.hidden = true;
  alternatives.replaceChildren();
}

// An <img> cannot read why it failed; ask again to show the API's reason (e.g. 409 for
// an unconditional checkpoint, 422 for a size out of bounds).
preview.addEventListener("error", async () => {
  if (!preview.getAttribute("src")) return;
  const mine = asked;
  const { number } = chosen();
  const answer = await api(preview.src);
  if (answer.ok || mine !== asked) return;
  showProblem(`The API could not draw ${number}: ${problemText(answer)}`);
  if (answer.status === 409) offerAlternative(mine);
});

// A checkpoint that cannot draw the number (an unconditional one, which only finds given
// digits among its samples): offer one that can, tried first, or else the digits it
// does draw of its own choosing.
async function offerAlternative(mine) {
  const { number, params } = chosen();
  const failing = await api(`/v1/checkpoints/${encodeURIComponent(params.checkpoint || "latest")}`);
  const listed = await api("/v1/checkpoints?limit=20");
  if (mine !== asked) return;
  const failingId = failing.ok ? failing.body.id : null;
  const failingKind = failing.ok ? failing.body.meta.architecture : null;
  const candidates = listed.ok ? alternativesFrom(listed.body, failingId, failingKind) : [];
  for (const candidate of candidates.slice(0, 3)) {
    const path = `/v1/numbers/${number}.png`;
    const url = imageURL(path, { ...params, checkpoint: candidate.name });
    const probe = await fetch(url, { method: "HEAD" });
    if (mine !== asked) return;
    if (probe.ok) {
      const use = el(
        "button",
        {
          type: "button",
          onclick: () => {
            form.elements.checkpoint.value = candidate.name;
            update();
          },
        },
        `Draw it with ${candidate.label} instead`,
      );
      const can = `Checkpoint ${candidate.label} can draw ${number}. `;
      return showAlternatives(el("p", {}, can, use));
    }
  }
  // No checkpoint here can: the digits this one draws of its own choosing still embed.
  const samples = new URL(
    imageURL("/v1/samples.png", { ...params, n: number.length, cols: number.length }),
    location.href,
  ).href;
  const use = el(
    "button",
    { type: "button", onclick: () => showURL(samples, "digits") },
    "Use these instead",
  );
  showAlternatives(
    el("p", {}, "No checkpoint here can draw it. This one's digits of its own choosing do embed: "),
    el("img", { src: samples, alt: "Digits the checkpoint chose itself" }),
    use,
  );
}

// Checkpoints to try instead: aliases first (chosen by a person), then the newest, of
// another architecture than the failing one's (another of its kind would fail alike).
function alternativesFrom(list, failingId, failingKind) {
  const kinds = new Map(list.checkpoints.map((c) => [c.id, c.meta]));
  const picks = [
    ...Object.entries(list.aliases).map(([name, id]) => ({ name, id })),
    ...list.checkpoints.map((c) => ({ name: c.id, id: c.id })),
  ];
  const seen = new Set();
  return picks
    .filter(({ id }) => {
      const meta = kinds.get(id);
      const another = id !== failingId && !seen.has(id);
      seen.add(id);
      return another && (!meta || meta.architecture !== failingKind);
    })
    .map(({ name, id }) => {
      const meta = kinds.get(id);
      const about = meta ? ` (${meta.architecture}, step ${formatNumber(meta.step)})` : "";
      return { name, label: `${name === id ? id.slice(0, 8) + "…" : name}${about}` };
    });
}

function showAlternatives(...children) {
  alternatives.replaceChildren(...children);
  alternatives.hidden = false;
}

function showURL(url, what) {
  preview.alt = `${what}, handwritten by the GAN`;
  preview.src = url;
  preview.hidden = false;
  urlField.value = url;
  tagField.value = `<img src="${url.replaceAll("&", "&amp;")}" alt="${preview.alt}">`;
  problem.hidden = true;
  alternatives.hidden = true;
}

// The names a checkpoint field suggests (this form's and the training form's init_from):
// `latest`, the aliases, the newest checkpoints, each labelled with what it is.
async function fillCheckpointNames() {
  const answer = await api("/v1/checkpoints?limit=20");
  if (!answer.ok) return;
  const { aliases, checkpoints, latest } = answer.body;
  const about = new Map(checkpoints.map((c) => [c.id, c.meta]));
  const label = (id) => {
    const meta = about.get(id);
    return meta ? `${meta.architecture}, step ${formatNumber(meta.step)}` : id;
  };
  const options = [
    latest ? ["latest", `latest: ${label(latest)}`] : null,
    ...Object.entries(aliases).map(([name, id]) => [name, `alias: ${label(id)}`]),
    ...checkpoints.map((c) => [c.id, label(c.id)]),
  ].filter(Boolean);
  names.replaceChildren(...options.map(([value, text]) => el("option", { value, label: text })));
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
