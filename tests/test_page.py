"""The home page in a real headless Chromium, against a real uvicorn API and Celery worker.

Screenshots of each part land in test-output/ (light, dark, phone width; readme-*.png for
the README) for a person to look at; the assertions check what a visitor would: images
that load (row by row, whatever the checkpoint can draw), quality in words and figures, a
working embed URL, an upload, and jobs started from the form followed to the end.

Each test sets what it depends on (`latest`, the token, its own uploads), so they pass in
any order.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from playwright.sync_api import Browser, Locator, Page, ViewportSize, expect, sync_playwright

from digitgan.checkpoints import CheckpointStore
from models import bundled
from models.checkpoint import from_bytes, to_bytes
from tests.conftest import private_settings
from tests.support import FAST, TOKEN
from tests.support.checkpoints import publish_trained
from tests.support.processes import ROOT, running_service
from tests.support.uploads import digits_zip
from tests.support.waiting import wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip(
        "Chromium not found: the page tests need Debian's `chromium` package "
        "(apt-get install chromium chromium-driver; .ci/run installs it)",
        allow_module_level=True,
    )

# Debian's Chromium as Playwright drives it; nothing is downloaded (no `playwright install`).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = ROOT / "test-output"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1100, "height": 900}
# A job that a busy 2-core machine trains in a few seconds, keeping three checkpoints.
TINY_JOB = {"steps": "120", "batch_size": "8", "checkpoint_every": "40", "seed": "1"}
# What a page must never show where a figure should be.
RAW = re.compile(r"undefined|NaN|\[object Object\]|[{}]|(?<![\w.])-0(?![\w.])")
# An evaluation as models/evaluation.py writes it, pinned here so the page's figures are
# checked against known numbers, whatever the shipped model's own evaluation says.
EVALUATION = {
    "samples": 1000,
    "frechet_distance": 3.4821,
    "frechet_distance_ratio": 3.591,
    "intra_class_frechet_distance": 16.7906,
    "intra_class_frechet_distance_ratio": 2.343,
    "asked_digit_accuracy": 0.995,
    "recall": 0.779,
    "recall_ratio": 0.842,
    "precision": 0.905,
    "copied_fraction": 0.012,
    "class_entropy_bits": 3.3201,
    "inception_score": 9.61,
    "reference": {
        "samples": 1000,
        "frechet_distance": 0.9697,
        "intra_class_frechet_distance": 7.1666,
        "asked_digit_accuracy": 0.981,
        "recall": 0.925,
        "precision": 0.901,
        "copied_fraction": 0.01,
        "class_entropy_bits": 3.3211,
    },
    "verdict": "good: 3.6x real digits' Frechet distance, recall 0.84x real's, "
    "99.5% drawn as the digit asked for",
}


@pytest.fixture(scope="module")
def service(redis_server, tmp_path_factory) -> Iterator[dict]:
    """A uvicorn API and a Celery worker sharing a private Redis, with a tiny conditional
    checkpoint published as `latest`, and the bundled model's weights (trained, so its
    digits are real ones) published beside it with the pinned EVALUATION."""
    settings = private_settings(redis_server, **FAST)
    logs = tmp_path_factory.mktemp("page")
    client = redis.Redis.from_url(settings.redis_url)
    store = CheckpointStore(client, settings.redis_prefix)
    checkpoint_id = publish_trained(store, "tiny-cmlp", architecture="cmlp")[-1]
    meta, weights = from_bytes(bundled.blob())
    evaluated = meta | {"id": "evaluated-dcgan", "evaluation": EVALUATION}
    evaluated_meta, _ = store.publish(to_bytes(evaluated, weights))
    try:
        with running_service(settings, logs) as url:
            yield {
                "url": url,
                "store": store,
                "checkpoint_id": checkpoint_id,
                "evaluated_id": evaluated_meta["id"],
            }
    finally:
        keys = list(client.scan_iter(f"{settings.redis_prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture(autouse=True)
def latest_is_the_cmlp(service: dict) -> None:
    """Each test starts from the same `latest`, whatever the tests before it trained."""
    make_latest(service, service["checkpoint_id"])


def make_latest(service: dict, checkpoint_id: str) -> None:
    service["store"].set_latest(checkpoint_id)
    wait_until(lambda: _serves(service["url"], checkpoint_id), 60, f"{checkpoint_id} as latest")


def _serves(url: str, checkpoint_id: str) -> bool:
    try:
        answer = httpx.get(f"{url}/v1/samples.png?n=1&seed=0")
    except httpx.TransportError:
        return False
    return answer.headers.get("x-checkpoint-id") == checkpoint_id


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser: Browser, service: dict):
    """Open the home page in a fresh context; fail the test on any uncaught script error."""
    contexts, errors = [], []

    def open_(*, dark: bool = False, viewport: ViewportSize = DESKTOP, path: str = "/") -> Page:
        context = browser.new_context(color_scheme="dark" if dark else "light", viewport=viewport)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(service["url"] + path)
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not errors, f"script errors on the page: {errors}"


def images_loaded(page: Page, selector: str, count: int, timeout: float = 30_000) -> None:
    """Wait until `count` images match `selector` and every one has decoded pixels."""
    page.wait_for_function(
        """([selector, count]) => {
            const images = [...document.querySelectorAll(selector)];
            return images.length === count
                && images.every((i) => i.complete && i.naturalWidth > 0 && i.alt);
        }""",
        arg=[selector, count],
        timeout=timeout,
    )


def quality_row(within: Locator, key: str) -> Locator:
    """The cells (measure, this model, real digits) of one row of a quality table."""
    return within.locator(f'table.quality tr[data-key="{key}"] > *')


def no_raw_values(within: Locator) -> None:
    text = within.inner_text()
    assert text.strip() and not RAW.search(text), text


def shoot(page: Page, name: str, selector: str | None = None) -> Path:
    path = SHOTS / f"page-{name}.png"
    if selector:
        page.locator(selector).screenshot(path=path)
    else:
        page.screenshot(path=path, full_page=True)
    return path


def test_gallery_shows_a_row_per_digit_and_new_seeds(open_page, service):
    page = open_page()
    expect(page.locator("#checkpoint-info")).to_contain_text(service["checkpoint_id"])
    expect(page.locator("#checkpoint-info")).to_contain_text("cmlp")
    images_loaded(page, "#digit-rows img", 10)
    first = page.locator("#digit-rows img").first.get_attribute("src")
    assert "digit=0" in first and f"checkpoint={service['checkpoint_id']}" in first
    assert page.locator("#digit-rows img").nth(7).get_attribute("alt") == (
        "Ten generated handwritten 7s"
    )
    # A conditional checkpoint draws every row as asked: no row falls back.
    expect(page.locator("#digit-rows [data-fallback]")).to_have_count(0)
    expect(page.locator("#gallery-note")).to_be_hidden()
    shoot(page, "gallery-light", "#gallery")

    page.get_by_role("button", name="New seeds").click()
    expect(page.locator("#digit-rows img").first).not_to_have_attribute("src", first)
    images_loaded(page, "#digit-rows img", 10)

    # A seed in the address draws the same digits every time.
    linked = open_page(path="/?seed=42")
    expect(linked.locator("#gallery-seed")).to_have_text("seed 42")
    assert "seed=42&" in linked.locator("#digit-rows img").first.get_attribute("src")


def test_the_home_page_shows_a_checkpoints_quality_at_a_glance(open_page, service):
    make_latest(service, service["evaluated_id"])
    page = open_page()
    info = page.locator("#checkpoint-info")
    expect(info).to_contain_text(service["evaluated_id"])
    # The verdict first, its grade styled; then readable figures beside real digits'.
    grade = info.locator(".verdict .grade")
    expect(grade).to_have_text("good")
    expect(grade).to_have_class(re.compile(r"\bgrade-good\b"))
    expect(info.locator(".verdict")).to_contain_text("3.6x real digits' Frechet distance")
    expect(quality_row(info, "frechet_distance")).to_have_text(
        ["Fréchet distance", "3.48 3.59× real", "0.970"]
    )
    expect(quality_row(info, "intra_class_frechet_distance")).to_have_text(
        ["Fréchet distance within each digit", "16.8 2.34× real", "7.17"]
    )
    expect(quality_row(info, "asked_digit_accuracy")).to_have_text(
        ["Drawn as the digit asked for", "99.5%", "98.1%"]
    )
    expect(quality_row(info, "recall")).to_have_text(
        ["Recall (variety)", "0.779 0.84× real", "0.925"]
    )
    expect(quality_row(info, "copied_fraction")).to_have_text(
        ["Near-copies of training digits", "1.2%", "1.0%"]
    )
    no_raw_values(info)
    images_loaded(page, "#digit-rows img", 10)
    # The page's top as a visitor first sees it (the README's own shots come from a real service).
    bottom = page.locator("#gallery").bounding_box()
    page.screenshot(
        path=SHOTS / "readme-home.png",
        full_page=True,
        clip={"x": 0, "y": 0, "width": DESKTOP["width"], "height": bottom["y"] + bottom["height"]},
    )


# Evaluations as they come from several versions of the service.
EVALUATIONS = {
    "partial": {"frechet_distance": 5.0, "verdict": "fair: 5.0x real digits' Frechet distance"},
    "skipped": {"skipped": "data set 'idx:/data/letters' is not digits"},
    "error": {"error": "RuntimeError: out of memory"},
    "error-object": {"error": {"detail": "the classifier is missing"}},
    "old": {"classifier_accuracy": 0.9123, "per_digit": {"0": 0.5}, "deep": {"a": {"b": 1}}},
    "upload": {
        "frechet_distance": 4.0,
        "frechet_distance_ratio": 4.1,
        "data_frechet_distance": 1.5,
        "data_frechet_ratio": 0.42,
        "data_classifier_accuracy": 0.93,
        "reference": {"frechet_distance": 0.97},
        "verdict": "fair: 4.1x real digits' Frechet distance",
    },
    "odd-verdict": {"verdict": "not graded yet", "recall": "n/a", "precision": None},
    "empty": {},
}


def test_the_quality_summary_reads_any_evaluation(open_page):
    page = open_page()
    shown = page.evaluate(
        """async (cases) => {
            const { qualitySummary } = await import("/static/quality.js");
            const out = {};
            for (const [name, evaluation] of Object.entries(cases)) {
                const node = qualitySummary(evaluation);
                if (node === null) { out[name] = null; continue; }
                document.body.append(node);  // innerText needs a laid-out node
                out[name] = {
                    text: node.innerText,
                    grade: node.querySelector(".grade")?.textContent ?? null,
                    rows: [...node.querySelectorAll("tbody tr")].map((r) => r.dataset.key),
                };
                node.remove();
            }
            out.notAnObject = [null, "good", [1, 2]].map((v) => qualitySummary(v));
            return out;
        }""",
        EVALUATIONS,
    )
    for name, summary in shown.items():
        if summary and name != "notAnObject":
            for raw in ("undefined", "NaN", "[object Object]", "{", "null"):
                assert raw not in summary["text"], (name, summary["text"])
    assert shown["partial"]["grade"] == "fair" and shown["partial"]["rows"] == ["frechet_distance"]
    assert "5 —" in shown["partial"]["text"].replace("\t", " ")  # no real figure: a dash
    assert shown["skipped"]["text"] == (
        "Quality not measured: data set 'idx:/data/letters' is not digits"
    )
    assert shown["error"]["text"] == "Quality could not be measured: RuntimeError: out of memory"
    assert shown["error-object"]["text"].endswith(": the classifier is missing")
    assert "classifier accuracy" in shown["old"]["text"] and "0.912" in shown["old"]["text"]
    assert "0: 0.500" in shown["old"]["text"] and "deep" not in shown["old"]["text"]
    assert shown["upload"]["rows"] == ["frechet_distance", "data_frechet_distance"]
    assert "Style distance to its data set" in shown["upload"]["text"]
    assert "0.42× its distance to MNIST" in shown["upload"]["text"]
    assert "reads 93.0% of the uploaded digits" in shown["upload"]["text"]
    assert shown["odd-verdict"] == {"text": "not graded yet", "grade": None, "rows": []}
    assert shown["empty"] is None and shown["notAnObject"] == [None, None, None]


# An unconditional model's evaluation, as the evaluation writes it (-0.0: one class only),
# with two figures from an older evaluation.
UNCONDITIONAL = {
    "samples": 1000,
    "frechet_distance": 80.5,
    "frechet_distance_ratio": 83.0,
    "intra_class_frechet_distance": None,
    "intra_class_frechet_distance_ratio": None,
    "asked_digit_accuracy": None,
    "recall": 0.0,
    "recall_ratio": 0.0,
    "precision": 0.012,
    "class_entropy_bits": -0.0,
    "class_histogram": [0, 0, 0, 0, 0, 0, 0, 0, 1.0, 0],
    "copied_fraction": 0.0,
    "reference": {
        "frechet_distance": 0.9697,
        "intra_class_frechet_distance": 7.1666,
        "asked_digit_accuracy": 0.981,
        "recall": 0.925,
        "precision": 0.901,
        "class_entropy_bits": 3.3211,
        "copied_fraction": 0.01,
    },
    "verdict": "poor: 83.0x real digits' Frechet distance, recall 0.00x real's",
    "classifier_accuracy": 0.9123,
    "per_digit": {"0": 0.5},
}


def test_an_unconditional_checkpoint_falls_back_row_by_row_and_shows_its_quality(
    open_page, service
):
    checkpoint_id = publish_trained(service["store"], "tiny-mlp", evaluation=UNCONDITIONAL)[-1]
    make_latest(service, checkpoint_id)
    # What the API answers for each row at the seed the page is given.
    answers = {
        digit: httpx.get(
            f"{service['url']}/v1/samples.png",
            params={"seed": 0, "checkpoint": checkpoint_id, "n": 10, "digit": digit},
        ).status_code
        for digit in range(10)
    }
    assert set(answers.values()) == {200, 409}, answers  # some rows draw, some cannot
    page = open_page(path="/?seed=0")
    info = page.locator("#checkpoint-info")
    expect(info).to_contain_text(checkpoint_id)
    images_loaded(page, "#digit-rows img", 10)
    for digit, status in answers.items():
        row = page.locator(f'#digit-rows [data-digit="{digit}"]')
        image = row.locator("img")
        if status == 200:
            expect(row).not_to_have_attribute("data-fallback", re.compile(".*"))
            expect(image).to_have_attribute("src", re.compile(f"digit={digit}&"))
        else:
            # Each row on its own: plain samples in place of the digit it could not draw.
            expect(row).to_have_attribute("data-fallback", "samples")
            expect(row).to_contain_text(f"No clear {digit} among its samples")
            expect(image).not_to_have_attribute("src", re.compile("digit="))
            expect(image).to_have_attribute("alt", re.compile(f"in place of {digit}s"))
    expect(page.locator("#gallery-note")).to_be_visible()

    # Its quality, readable: the verdict, no row for figures it has none of, no "-0".
    expect(info.locator(".verdict .grade")).to_have_text("poor")
    expect(quality_row(info, "class_entropy_bits")).to_have_text(
        ["Spread over the digits (bits; even: 3.32)", "0", "3.32"]
    )
    expect(quality_row(info, "asked_digit_accuracy")).to_have_count(0)
    expect(quality_row(info, "intra_class_frechet_distance")).to_have_count(0)
    expect(info.locator(".other-figures")).to_have_text(
        re.compile(r"classifier accuracy\s*0\.912\s*per digit\s*0: 0\.500")
    )
    no_raw_values(info)
    shoot(page, "gallery-unconditional", "#gallery")

    # A number needs digits on demand: the embed builder says what failed, in words, and
    # offers a checkpoint that it has checked can draw the number.
    problem = page.locator("#embed-problem")
    expect(problem).to_contain_text("could not draw 2026")
    expect(problem).to_contain_text("conditional")
    offer = page.locator("#embed-alternatives button")
    expect(offer).to_contain_text("Draw it with", timeout=30_000)
    shoot(page, "embed-problem", "#embed")
    offer.click()
    chosen = page.locator("#embed-form [name=checkpoint]").input_value()
    assert chosen not in ("", "latest", checkpoint_id)
    images_loaded(page, "#embed-preview", 1)
    assert f"checkpoint={chosen}" in page.locator("#embed-url").input_value()
    expect(problem).to_be_hidden()
    shoot(page, "embed-alternative", "#embed")


def test_embed_builder_makes_a_url_that_serves_the_preview(open_page, service):
    page = open_page()
    form = page.locator("#embed-form")
    form.get_by_label("Number").fill("2026")
    form.get_by_label("Height (px)").fill("40")
    form.get_by_label("Seed", exact=True).fill("7")
    form.get_by_label("Transparent paper").check()
    url_field = page.locator("#embed-url")
    expect(url_field).to_have_value(
        f"{service['url']}/v1/numbers/2026.png?seed=7&size=40&fg=1a1a2e&bg=transparent"
    )
    images_loaded(page, "#embed-preview", 1)
    assert page.locator("#embed-preview").evaluate("i => i.naturalHeight") == 40

    url = url_field.input_value()
    answer = httpx.get(url)
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    tag = page.locator("#embed-tag").input_value()
    assert tag == f'<img src="{url.replace("&", "&amp;")}" alt="2026, handwritten by the GAN">'
    page.get_by_role("button", name="Copy the URL").click()
    expect(page.locator("#copy-status")).to_have_text("Copied the URL.")
    shoot(page, "embed-light", "#embed")

    # What the API refuses is said in words, not as a broken image.
    form.get_by_label("Height (px)").fill("5000")
    expect(page.locator("#embed-problem")).to_contain_text("size")
    expect(page.locator("#embed-alternatives")).to_be_hidden()  # nothing else would help
    form.get_by_label("Number").fill("12a")
    expect(page.locator("#embed-problem")).to_contain_text("1 to 32 digits")


def test_a_job_started_from_the_form_is_followed_to_done(open_page, service):
    page = open_page()
    form = page.locator("#job-form")
    form.get_by_role("button", name="Start training").click()
    expect(page.locator("#job-form-status")).to_contain_text("token")

    page.get_by_label("API token").fill("wrong")
    form.get_by_role("button", name="Start training").click()
    expect(page.locator("#job-form-status")).to_contain_text("refused the token")

    page.get_by_label("API token").fill(TOKEN)
    form.get_by_label("Architecture").select_option("cmlp")
    # On the built-in digits from scratch, publishing is the default.
    expect(form.get_by_label("Data set")).to_have_value("mnist-5k")
    expect(form.locator("[name=publish]")).to_be_checked()
    for name, value in TINY_JOB.items():
        form.locator(f"[name={name}]").fill(value)
    form.get_by_role("button", name="Start training").click()
    expect(page.locator("#job-form-status")).to_contain_text("Started job")
    card = page.locator("#jobs li.job").first
    expect(card).to_have_attribute("data-state", "succeeded", timeout=120_000)
    assert card.locator("progress").evaluate("p => p.value") == 100
    expect(card.locator(".stats")).to_contain_text("step 120/120")
    expect(card).to_contain_text("cmlp, 120 steps, publishes to latest")
    images_loaded(page, "#jobs li.job:first-child details img", 1)

    # Its quality at a glance, as the API recorded it.
    job_id = card.get_attribute("data-id")
    record = httpx.get(f"{service['url']}/v1/jobs/{job_id}").json()
    grade = record["evaluation"]["verdict"].split(":")[0]
    expect(card.locator(".verdict .grade")).to_have_text(grade)
    expect(quality_row(card, "frechet_distance")).to_have_count(3)
    no_raw_values(card.locator(".quality-summary"))

    # Every checkpoint it kept, as a thumbnail served by id; any can be shown in the gallery.
    kept = record["checkpoints"]
    assert kept == [f"{job_id}-{step:07d}" for step in (40, 80, 120)]
    thumbnails = card.locator(".kept li")
    expect(thumbnails).to_have_count(3)
    for index, checkpoint in enumerate(kept):
        expect(thumbnails.nth(index)).to_have_attribute("data-checkpoint", checkpoint)
        link = thumbnails.nth(index).locator("a").get_attribute("href")
        assert f"checkpoint={checkpoint}" in link and httpx.get(service["url"] + link).is_success
    expect(thumbnails.first).to_contain_text("step 40")
    images_loaded(page, "#jobs li.job:first-child .kept img", 3)
    card.screenshot(path=SHOTS / "readme-training.png")
    shoot(page, "training-light", "#training")

    # The gallery moved to its final checkpoint, and shows an earlier one when asked.
    expect(page.locator("#checkpoint-info")).to_contain_text(kept[-1])
    expect(page.locator("#checkpoints")).to_contain_text(kept[-1])
    images_loaded(page, "#checkpoints img", page.locator("#checkpoints img").count())
    thumbnails.first.get_by_role("button", name="Show in gallery").click()
    expect(page.locator("#checkpoint-info")).to_contain_text(kept[0])
    images_loaded(page, "#digit-rows img", 10)
    assert f"checkpoint={kept[0]}" in page.locator("#digit-rows img").first.get_attribute("src")
    page.locator("#checkpoint-info").get_by_role("button", name="Back to latest").click()
    expect(page.locator("#checkpoint-info")).to_contain_text(kept[-1])
    images_loaded(page, "#digit-rows img", 10)
    # The token stays in this tab's session, nowhere more lasting.
    assert page.evaluate("sessionStorage.getItem('digitgan.token')") == TOKEN
    assert page.evaluate("localStorage.length") == 0
    shoot(page, "light")


def test_upload_a_data_set_and_fine_tune_on_it(open_page, service):
    page = open_page()
    upload = page.locator("#upload-form")
    status = page.locator("#upload-status")
    page.get_by_label("API token").fill(TOKEN)
    # What the API refuses is said in its words.
    page.get_by_label("Zip of digit images").set_input_files(
        files=[{"name": "notes.zip", "mimeType": "application/zip", "buffer": b"not a zip"}]
    )
    upload.get_by_role("button", name="Upload").click()
    expect(status).to_contain_text("Not uploaded: the upload is not a zip file")

    page.get_by_label("Zip of digit images").set_input_files(
        files=[{"name": "mine.zip", "mimeType": "application/zip", "buffer": digits_zip(3)}]
    )
    upload.get_by_role("button", name="Upload").click()
    expect(status).to_contain_text("mine.zip, 30 digits (0: 3, 1: 3, 2: 3")
    images_loaded(page, "#upload-preview", 1)
    dataset = next(
        d
        for d in httpx.get(f"{service['url']}/v1/datasets").json()["datasets"]
        if d["name"] == "mine.zip"
    )

    # It is now the data set to train on, off `latest` by default, and in the gallery.
    form = page.locator("#job-form")
    expect(form.get_by_label("Data set")).to_have_value(dataset["dataset"])
    expect(form.get_by_label("Data set").locator("option:checked")).to_have_text(
        "mine.zip (30 digits)"
    )
    expect(form.locator("[name=publish]")).not_to_be_checked()
    expect(page.locator("#compare-dataset")).to_have_value(dataset["id"])
    images_loaded(page, "#dataset-preview img", 1)
    expect(page.locator("#dataset-preview figcaption")).to_contain_text("mine.zip")
    shoot(page, "gallery-with-dataset", "#gallery")

    # Fine-tune the published cmlp on it: the checkpoint's own architecture.
    form.get_by_label("Start from").fill(service["checkpoint_id"])
    expect(form.get_by_label("Architecture")).to_be_disabled()
    for name, value in {"steps": "20", "batch_size": "8", "seed": "1"}.items():
        form.locator(f"[name={name}]").fill(value)
    form.get_by_role("button", name="Start training").click()
    expect(page.locator("#job-form-status")).to_contain_text("Started job")
    card = page.locator("#jobs li.job").first
    expect(card).to_have_attribute("data-state", "succeeded", timeout=120_000)
    expect(card).to_contain_text("cmlp, 20 steps, on mine.zip")
    expect(card).to_contain_text("not published")
    spec = httpx.get(f"{service['url']}/v1/jobs/{card.get_attribute('data-id')}").json()["spec"]
    assert spec["dataset"] == dataset["dataset"] and spec["publish"] is False
    assert spec["init_from"] == service["checkpoint_id"] and spec["architecture"] == "cmlp"
    # Its quality includes how near it drew the uploaded style.
    expect(quality_row(card, "data_frechet_distance")).to_have_text(
        ["Style distance to its data set", re.compile(r"× its distance to MNIST"), "—"]
    )
    no_raw_values(card.locator(".quality-summary"))
    # Not published: `latest` stayed where it was.
    expect(page.locator("#checkpoint-info")).to_contain_text(service["checkpoint_id"])
    shoot(page, "training-upload", "#training")


def test_cancel_button_stops_a_running_job(open_page):
    page = open_page()
    page.get_by_label("API token").fill(TOKEN)
    form = page.locator("#job-form")
    form.locator("[name=steps]").fill("200000")
    form.get_by_role("button", name="Start training").click()
    card = page.locator("#jobs li.job").first
    expect(card).to_have_attribute("data-state", "running", timeout=60_000)
    card.get_by_role("button", name="Cancel").click()
    expect(card).to_have_attribute("data-state", "cancelled", timeout=30_000)
    expect(card.get_by_role("button", name="Cancel")).to_be_hidden()


def test_dark_mode_at_phone_width(open_page, service):
    make_latest(service, service["evaluated_id"])  # with its quality table, the widest part
    page = open_page(dark=True, viewport=PHONE)
    images_loaded(page, "#digit-rows img", 10)
    images_loaded(page, "#embed-preview", 1)
    expect(page.locator("#checkpoint-info table.quality")).to_be_visible()
    # Digits are drawn in the dark theme's light ink, on clear paper.
    assert "fg=e8e8f2" in page.locator("#digit-rows img").first.get_attribute("src")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(18, 18, 26)"
    # Nothing is wider than the phone's screen.
    too_wide = page.evaluate(
        """width => [...document.querySelectorAll("body *")]
            .filter((e) => e.getBoundingClientRect().right > width)
            .map((e) => `${e.tagName}#${e.id}.${e.className}`)""",
        PHONE["width"],
    )
    assert not too_wide, f"wider than a phone: {too_wide}"
    shoot(page, "dark-phone")
    shoot(page, "gallery-dark-phone", "#gallery")


def test_keyboard_reaches_every_control(open_page):
    page = open_page()
    reached = set()
    for _ in range(80):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.name"))
    for control in (
        "new-seeds",
        "number",
        "embed-reseed",
        "api-token",
        "upload-file",
        "job-architecture",
        "dataset",
        "job-init-from",
        "steps",
        "publish",
    ):
        assert control in reached, f"{control} is not reachable with Tab"
