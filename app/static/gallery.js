// The gallery: a row of fresh digits per digit from the latest checkpoint, and its facts.
import {
  api,
  checkpointFacts,
  el,
  imageURL,
  onCheckpoint,
  onThemeChange,
  pageInk,
  problemText,
  randomSeed,
} from "./api.js";

const info = document.getElementById("checkpoint-info");
const rows = document.getElementById("digit-rows");
const seedLabel = document.getElementById("gallery-seed");
const ROW_HEIGHT = 56;

let shown = null; // {checkpoint, picksDigits}
let seed = randomSeed();

async function load() {
  const answer = await api("/v1/checkpoints/latest");
  if (answer.status === 404) {
    shown = null;
    info.replaceChildren("No checkpoint yet: start a training job below and its digits appear here.");
    rows.replaceChildren();
    return;
  }
  if (!answer.ok) {
    info.replaceChildren(`Cannot read the latest checkpoint: ${problemText(answer)}`);
    return;
  }
  const checkpoint = answer.body;
  if (shown && shown.checkpoint.id === checkpoint.id) return;
  shown = { checkpoint, picksDigits: await picksDigits(checkpoint.id) };
  info.replaceChildren(
    el("p", {}, "Checkpoint ", el("code", {}, checkpoint.id)),
    checkpointFacts(checkpoint.meta, checkpoint.aliases),
  );
  draw();
}

// An unconditional checkpoint answers 409 when asked for one digit: ask once, cheaply.
async function picksDigits(checkpointId) {
  const url = imageURL("/v1/digits/0.png", { seed: 0, checkpoint: checkpointId });
  const response = await fetch(url, { method: "HEAD" });
  return response.status !== 409;
}

function draw() {
  if (!shown) return;
  seedLabel.textContent = `seed ${seed}`;
  const common = {
    seed,
    fg: pageInk(),
    bg: "transparent",
    checkpoint: shown.checkpoint.id,
  };
  if (shown.picksDigits) {
    const digitRows = [...Array(10).keys()].map((digit) =>
      row(
        String(digit),
        imageURL("/v1/samples.png", { ...common, n: 10, cols: 10, digit, size: ROW_HEIGHT }),
        `Ten generated handwritten ${digit}s`,
      ),
    );
    rows.replaceChildren(...digitRows);
  } else {
    rows.replaceChildren(
      el(
        "p",
        { class: "muted" },
        "This checkpoint is unconditional (mlp): it cannot be asked for a given digit, " +
          "so these are digits of its own choosing.",
      ),
      row("", imageURL("/v1/samples.png", { ...common, n: 50, cols: 10, size: 5 * ROW_HEIGHT }),
        "Fifty generated handwritten digits"),
    );
  }
}

function row(label, src, alt) {
  return el(
    "div",
    { class: "digit-row" },
    el("span", { class: "digit-label", "aria-hidden": "true" }, label),
    el("img", { src, alt }),
  );
}

document.getElementById("new-seeds").addEventListener("click", () => {
  seed = randomSeed();
  draw();
});
onThemeChange(draw);
onCheckpoint(load);
load();
