"""The home page in a real headless Chromium, against a real uvicorn API and Celery worker.

Screenshots of each part land in test-output/ (light, dark, phone width) for a person to
look at; the assertions check what a visitor would: images that load, a working embed
URL, and a job started from the form that the progress bar follows to the end.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from playwright.sync_api import Browser, Page, expect, sync_playwright

from digitgan.checkpoints import CheckpointStore
from tests.conftest import private_settings
from tests.support import FAST, TOKEN
from tests.support.checkpoints import publish_trained
from tests.support.processes import ROOT, running_service
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
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1100, "height": 900}
# A job that a busy 2-core machine trains in a few seconds.
TINY_JOB = {"steps": "40", "batch_size": "8", "checkpoint_every": "20", "seed": "1"}


@pytest.fixture(scope="module")
def service(redis_server, tmp_path_factory) -> Iterator[dict]:
    """A uvicorn API and a Celery worker sharing a private Redis, with a tiny conditional
    checkpoint already published."""
    settings = private_settings(redis_server, **FAST)
    logs = tmp_path_factory.mktemp("page")
    client = redis.Redis.from_url(settings.redis_url)
    store = CheckpointStore(client, settings.redis_prefix)
    checkpoint_id = publish_trained(store, "tiny-cmlp", architecture="cmlp")[-1]
    try:
        with running_service(settings, logs) as url:
            yield {"url": url, "store": store, "checkpoint_id": checkpoint_id}
    finally:
        keys = list(client.scan_iter(f"{settings.redis_prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture(autouse=True)
def latest_is_the_cmlp(service: dict) -> None:
    """Each test starts from the same `latest`, whatever the tests before it trained."""
    service["store"].set_latest(service["checkpoint_id"])
    wait_until(lambda: _serves(service["url"], service["checkpoint_id"]), 60, "the cmlp")


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

    def open_(*, dark: bool = False, viewport: dict = DESKTOP) -> Page:
        context = browser.new_context(color_scheme="dark" if dark else "light", viewport=viewport)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(service["url"] + "/")
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
    shoot(page, "gallery-light", "#gallery")

    page.get_by_role("button", name="New seeds").click()
    expect(page.locator("#digit-rows img").first).not_to_have_attribute("src", first)
    images_loaded(page, "#digit-rows img", 10)


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
    form.get_by_label("Number").fill("12a")
    expect(page.locator("#embed-problem")).to_contain_text("1 to 32 digits")


def test_a_job_started_from_the_form_is_followed_to_done(open_page, service):
    page = open_page()
    form = page.locator("#job-form")
    form.get_by_role("button", name="Start training").click()
    expect(page.locator("#job-form-status")).to_contain_text("token")

    form.get_by_label("API token").fill("wrong")
    form.get_by_role("button", name="Start training").click()
    expect(page.locator("#job-form-status")).to_contain_text("refused the token")

    form.get_by_label("API token").fill(TOKEN)
    form.get_by_label("Architecture").select_option("cmlp")
    for name, value in TINY_JOB.items():
        form.locator(f"[name={name}]").fill(value)
    form.get_by_role("button", name="Start training").click()
    expect(page.locator("#job-form-status")).to_contain_text("Started job")
    card = page.locator("#jobs li").first
    expect(card).to_have_attribute("data-state", "succeeded", timeout=90_000)
    assert card.locator("progress").evaluate("p => p.value") == 100
    expect(card.locator(".stats")).to_contain_text("step 40/40")
    images_loaded(page, "#jobs li:first-child details img", 1)

    # Its checkpoints are listed with their samples; the gallery moved to the newest.
    job_id = card.get_attribute("data-id")
    expect(page.locator("#checkpoint-info")).to_contain_text(f"{job_id}-0000040")
    expect(page.locator("#checkpoints")).to_contain_text(f"{job_id}-0000040")
    images_loaded(page, "#checkpoints img", page.locator("#checkpoints img").count())
    images_loaded(page, "#digit-rows img", 10)
    # The token stays in this tab's session, nowhere more lasting.
    assert page.evaluate("sessionStorage.getItem('digitgan.token')") == TOKEN
    assert page.evaluate("localStorage.length") == 0
    shoot(page, "training-light", "#training")
    shoot(page, "light")


def test_cancel_button_stops_a_running_job(open_page):
    page = open_page()
    form = page.locator("#job-form")
    form.get_by_label("API token").fill(TOKEN)
    form.locator("[name=steps]").fill("200000")
    form.get_by_role("button", name="Start training").click()
    card = page.locator("#jobs li").first
    expect(card).to_have_attribute("data-state", "running", timeout=60_000)
    card.get_by_role("button", name="Cancel").click()
    expect(card).to_have_attribute("data-state", "cancelled", timeout=30_000)
    expect(card.get_by_role("button", name="Cancel")).to_be_hidden()


def test_dark_mode_at_phone_width(open_page):
    page = open_page(dark=True, viewport=PHONE)
    images_loaded(page, "#digit-rows img", 10)
    images_loaded(page, "#embed-preview", 1)
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
    for _ in range(60):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.name"))
    for control in ("new-seeds", "number", "embed-reseed", "token", "architecture", "steps"):
        assert control in reached, f"{control} is not reachable with Tab"


def test_an_unconditional_checkpoint_shows_plain_samples_and_its_quality(open_page, service):
    # Quality numbers are shown whatever they are named, where a checkpoint has them.
    evaluation = {"classifier_accuracy": 0.9123, "per_digit": {"0": 0.5}}
    checkpoint_id = publish_trained(service["store"], "tiny-mlp", evaluation=evaluation)[-1]
    wait_until(lambda: _serves(service["url"], checkpoint_id), 30, "the mlp checkpoint")
    page = open_page()
    expect(page.locator("#checkpoint-info")).to_contain_text(checkpoint_id)
    expect(page.locator("#checkpoint-info")).to_contain_text("classifier accuracy0.912")
    expect(page.locator("#checkpoint-info")).to_contain_text("per digit0: 0.500")
    expect(page.locator("#digit-rows")).to_contain_text("unconditional")
    images_loaded(page, "#digit-rows img", 1)
    # A number needs a conditional checkpoint: the embed builder says so in words.
    expect(page.locator("#embed-problem")).to_contain_text("conditional")
    shoot(page, "gallery-unconditional", "#gallery")
