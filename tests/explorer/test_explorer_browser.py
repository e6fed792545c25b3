"""End to end in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright loads the page,
moves a slider and sees the picture change, starts from an input, scrubs an interpolation, uploads an image, and
saves a screenshot; empty picture slots show no broken-image icon, and a failed upload replaces the previous one's
pictures with its error. Skips, saying why, when Playwright or a Chromium executable is missing; Playwright's own
browser download is never used (``SHADOWPLAY_CHROMIUM`` may name another executable)."""

from __future__ import annotations

import io
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import pytest
import torch
from PIL import Image

from shadowplay.data import Dataset
from shadowplay.explorer import Explorer, ExplorerServer
from shadowplay.model import ModelSpec, build_model


def chromium_path() -> str | None:
    for candidate in (os.environ.get("SHADOWPLAY_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e .[dev])")
    exe = chromium_path()
    if exe is None:
        pytest.skip("no Chromium executable: install Debian's `chromium` (apt-get install chromium) or set "
                    "SHADOWPLAY_CHROMIUM")
    with sync_api.sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium refuses its sandbox
        b = p.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def open_page(browser, url: str, edit_info: Callable[[dict], None] | None = None):
    """A fresh page at ``url``, ready; ``page.errors`` collects uncaught exceptions and console errors.
    ``edit_info`` changes the ``/api/info`` document on its way to the page."""
    pg = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    if edit_info is not None:
        def route(r):
            doc = r.fetch().json()
            edit_info(doc)
            r.fulfill(json=doc)
        pg.route("**/api/info", route)
    pg.goto(url)
    pg.wait_for_selector("body[data-ready='1']", timeout=30_000)
    pg.errors = errors
    return pg


@pytest.fixture
def page(browser, server):
    """A fresh page of the explorer on the module's digits run."""
    pg = open_page(browser, server.url)
    yield pg
    pg.close()


def decoded_code(page) -> str:
    return page.get_attribute("#decoded", "data-code") or ""


def wait_new_code(page, old: str) -> str:
    page.wait_for_function("old => (document.getElementById('decoded').dataset.code || '') !== old", arg=old,
                           timeout=30_000)
    page.wait_for_function("() => document.getElementById('decoded').complete")
    return decoded_code(page)


def test_slider_upload_interpolation_and_screenshot(page, server, tmp_path):
    info = page.evaluate("() => fetch('/api/info').then(r => r.json())")
    sliders = page.locator("#sliders input[type=range]")
    assert sliders.count() == info["latent_dim"]
    assert [int(s) for s in sliders.evaluate_all("els => els.map(e => e.dataset.dim)")] == info["order"]
    assert page.locator("#sliders .slider.inactive").count() == info["active"].count(False)

    # a slider move changes the picture
    page.wait_for_function("() => (document.getElementById('decoded').dataset.code || '') !== ''")
    code0 = decoded_code(page)
    before = page.locator("#decoded").screenshot()
    first = sliders.first
    first.focus()
    first.press("End")  # to the slider's maximum, firing the input event a drag fires
    code1 = wait_new_code(page, code0)
    assert code1.split(",")[info["order"][0]] == f"{info['high'][info['order'][0]]:.4f}"
    after = page.locator("#decoded").screenshot()
    assert Image.open(io.BytesIO(before)).tobytes() != Image.open(io.BytesIO(after)).tobytes()

    # a burst of moves ends on the newest code (requests are coalesced, never answered out of order)
    for key in ["Home"] + ["ArrowRight"] * 15:
        first.press(key)
    page.wait_for_function("v => document.getElementById('decoded').dataset.code.split(',')[v.d] === v.want",
                           arg={"d": info["order"][0], "want": f"{float(first.input_value()):.4f}"}, timeout=30_000)

    # start from two inputs and scrub between them
    page.locator("#gallery img").nth(0).click()
    page.wait_for_function("() => document.getElementById('a-numbers').textContent.includes('ELBO')")
    assert f"among the {info['reference_size']} test inputs" in page.text_content("#a-numbers")
    page.locator("#gallery img").nth(3).click()
    page.wait_for_function("() => document.getElementById('b-numbers').textContent.includes('ELBO')")
    assert page.is_enabled("#t")
    code_b = wait_new_code(page, "") if not decoded_code(page) else decoded_code(page)
    page.locator("#t").focus()
    page.locator("#t").press("Home")
    wait_new_code(page, code_b)

    # upload an image of the right kind
    img = Image.new("L", (32, 32), 0)
    img.paste(255, (12, 2, 20, 30))
    upload = tmp_path / "bar.png"
    img.save(upload)
    page.set_input_files("#upload", str(upload))
    page.wait_for_function("() => document.getElementById('up-numbers').textContent.includes('ELBO')",
                           timeout=30_000)
    assert page.locator("#up-recon").get_attribute("src").startswith("data:image/png;base64,")

    shot = tmp_path / "explorer.png"
    page.screenshot(path=str(shot), full_page=True)
    assert Image.open(shot).size[0] >= 1000
    assert not page.errors, page.errors


# an <img> the browser shows (not hidden by CSS or an ancestor) whose load finished without a picture: Chromium draws
# its broken-image icon over the alt text
BROKEN = """() => [...document.querySelectorAll("img")]
  .filter((i) => i.checkVisibility({visibilityProperty: true}) && i.complete && i.naturalWidth === 0)
  .map((i) => i.id)"""


def test_empty_picture_slots_show_no_broken_image(page):
    assert page.locator("#a-input").get_attribute("src") is None  # nothing chosen yet
    assert page.evaluate(BROKEN) == []  # the A/B slots used to show four broken-image icons
    box = page.locator("#b-recon").bounding_box()
    assert (box["width"], box["height"]) == (96, 96)  # the empty frame keeps the size of the picture to come
    page.locator("#gallery img").nth(2).click()
    page.wait_for_function("() => document.getElementById('a-numbers').textContent.includes('ELBO')")
    page.wait_for_function("() => ['a-input', 'a-recon'].every((id) => document.getElementById(id).naturalWidth > 0)")
    assert page.locator("#a-input").is_visible() and page.evaluate(BROKEN) == []
    assert not page.errors, page.errors


def test_a_failed_upload_replaces_the_previous_pictures_with_its_error(page, tmp_path):
    good, bad = tmp_path / "bar.png", tmp_path / "bad.png"
    Image.new("L", (32, 32), 255).save(good)
    bad.write_bytes(b"not a picture")
    page.set_input_files("#upload", str(good))
    page.wait_for_function("() => document.getElementById('up-numbers').textContent.includes('ELBO')",
                           timeout=30_000)
    assert page.locator("#up-recon").is_visible()

    page.set_input_files("#upload", str(bad))
    page.wait_for_selector("#up-numbers.error", timeout=30_000)
    assert page.locator("#up-numbers").text_content() == \
        "bad.png: the upload is not a readable image (PNG, JPEG, GIF, BMP, WEBP)"
    assert page.locator("#upload-result").is_hidden()  # the previous upload's pictures used to stay
    assert page.locator("#up-input").get_attribute("src") is None and page.evaluate(BROKEN) == []

    page.set_input_files("#upload", str(good))  # the next good upload shows again, without the error style
    page.wait_for_function("() => document.getElementById('up-numbers').textContent.includes('ELBO')",
                           timeout=30_000)
    assert page.locator("#up-recon").is_visible() and page.get_attribute("#up-numbers", "class") == "numbers"
    # the refusal (415) is the one console error; nothing was thrown
    assert page.errors == ["Failed to load resource: the server responded with a status of 415 (Unsupported Media "
                           "Type)"], page.errors


@contextmanager
def slow_model(server):
    """A slow model, made by holding the explorer's model lock: every request that needs the model waits (the page
    stays responsive) until the block ends, so answers arrive after whatever the test does inside the block."""
    server.explorer.lock.acquire()
    try:
        yield
    finally:
        server.explorer.lock.release()


def settled(page) -> None:
    """Wait until the page has acted on the answers it got (a moment), no decode is waiting or running and the
    picture is loaded."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.getElementById('decoded').classList.contains('busy') && "
                           "document.getElementById('decoded').complete", timeout=30_000)


def test_a_late_answer_never_moves_the_sliders_back(page, server):
    info = page.evaluate("() => fetch('/api/info').then(r => r.json())")
    d = info["order"][0]
    first = page.locator("#sliders input[type=range]").first
    page.locator("#gallery img").nth(0).click()
    page.wait_for_function("() => document.getElementById('a-numbers').textContent.includes('ELBO')")
    page.locator("#gallery img").nth(3).click()
    page.wait_for_function("() => document.getElementById('b-numbers').textContent.includes('ELBO')")
    settled(page)

    with page.expect_response(lambda r: "/api/interpolate?" in r.url):
        with slow_model(server):  # scrub t, then move a slider before the interpolation is answered
            page.locator("#t").focus()
            page.locator("#t").press("Home")
            first.focus()
            first.press("End")
    settled(page)
    want = f"{info['high'][d]:.4f}"
    # the interpolation's answer used to reset the slider (and the picture) to the interpolated code
    assert f"{float(first.input_value()):.4f}" == want
    assert decoded_code(page).split(",")[d] == want

    page.locator("input[name=target][value=a]").check()
    with page.expect_response(lambda r: "/api/input?" in r.url):
        with slow_model(server):  # start from an input, then move the slider while that input is scored
            page.locator("#gallery img").nth(5).click()
            first.press("Home")
    page.wait_for_function("() => document.getElementById('a-numbers').textContent.startsWith('test #5: ELBO')")
    settled(page)
    want = f"{info['low'][d]:.4f}"
    assert f"{float(first.input_value()):.4f}" == want and decoded_code(page).split(",")[d] == want
    assert not page.errors, page.errors


def test_the_page_says_what_it_is_waiting_for(page, server, tmp_path):
    upload = tmp_path / "bar.png"
    Image.new("L", (16, 16), 255).save(upload)
    first = page.locator("#sliders input[type=range]").first
    settled(page)
    assert page.locator("#decode-status").text_content() == ""
    with slow_model(server):
        first.focus()
        first.press("End")
        page.wait_for_function("() => document.getElementById('decode-status').textContent === 'decoding…'")
        assert "busy" in page.get_attribute("#decoded", "class")  # the picture is dimmed: it lags the sliders
        page.locator("#gallery img").nth(2).click()
        page.wait_for_function("() => document.getElementById('a-numbers').textContent === 'loading test #2…'")
        page.set_input_files("#upload", str(upload))
        page.wait_for_function("() => document.getElementById('up-numbers').textContent === 'scoring bar.png…'")
    page.wait_for_function("() => document.getElementById('up-numbers').textContent.includes('ELBO')")
    page.wait_for_function("() => document.getElementById('a-numbers').textContent.startsWith('test #2: ELBO')")
    settled(page)
    assert page.locator("#decode-status").text_content() == ""
    assert not page.errors, page.errors


def test_kl_bars_of_collapsed_latents_stay_empty(browser, server):
    def collapse(info):
        info["kl"] = [3e-4 * (i + 1) for i in range(info["latent_dim"])]
    pg = open_page(browser, server.url, collapse)
    try:
        widths = pg.locator("#sliders .bar").evaluate_all("els => els.map(e => parseFloat(e.style.width))")
        # every bar used to be scaled to the largest KL, so 0.0012 nats filled its box like an informative latent
        assert len(widths) == 4 and max(widths) <= 1, widths
        assert not pg.errors, pg.errors
    finally:
        pg.close()


@pytest.fixture(scope="module")
def rows_server():
    """An explorer of a model of tabular rows (6 numbers each)."""
    torch.manual_seed(0)
    model = build_model(ModelSpec(data_shape=(6,), latent_dim=3, net="mlp", hidden=(16,), likelihood="gaussian"))
    with ExplorerServer(Explorer(model, {"test": Dataset("rows", torch.randn(40, 6), value_range="real")})) as s:
        yield s


def test_the_gallery_pager_disables_the_arrow_that_leads_nowhere(page):
    """◀ on the first page and ▶ on the last are disabled (both stayed enabled, ▶ on "1 / 1" too)."""
    pages = int(page.locator("#page").text_content().split("/")[1])
    assert page.locator("#prev").is_disabled() and page.locator("#next").is_disabled() == (pages == 1)
    for _ in range(pages - 1):
        page.locator("#next").click()
    assert page.locator("#page").text_content().strip() == f"{pages} / {pages}"
    assert page.locator("#next").is_disabled() and page.locator("#prev").is_disabled() == (pages == 1)
    assert not page.errors, page.errors


def test_a_tabular_run_offers_no_upload_and_draws_its_lines_smoothly(browser, rows_server):
    pg = open_page(browser, rows_server.url)
    try:
        assert pg.locator("#upload").is_hidden()  # the server refuses every upload of a tabular run
        pg.locator("#gallery img").nth(1).click()
        pg.wait_for_function("() => document.getElementById('a-numbers').textContent.includes('ELBO')")
        for sel in ("#decoded", "#a-recon", "#gallery img"):
            style = pg.locator(sel).first.evaluate("e => [getComputedStyle(e).imageRendering, "
                                                   "getComputedStyle(e).backgroundColor]")
            # a line plot shrunk pixelated loses pixels of its line, and its letterbox was black
            assert style == ["auto", "rgb(255, 255, 255)"], (sel, style)
        assert not pg.errors, pg.errors
    finally:
        pg.close()


def test_the_page_names_its_estimator_and_how_to_fit_an_outlier_detector(page):
    # the page showed "log p(x) ≥ … (K=64)" beside `evaluate`'s K = 1000 numbers, and nothing about outliers
    assert "shadowplay outliers fit --data digits" in page.text_content("#outlier-status")
    page.locator("#gallery img").nth(1).click()
    page.wait_for_function("() => document.getElementById('a-numbers').textContent.includes('ELBO')")
    assert "(importance-weighted, K=1000, as `shadowplay evaluate`)" in page.text_content("#a-numbers")
    assert not page.errors, page.errors


def test_the_page_shows_the_detectors_threshold_and_verdict(browser, server):
    from shadowplay.explorer import OutlierCheck
    ex = server.explorer
    check = OutlierCheck(lambda x: float(x.sum()), float(ex.datasets["test"].x[1].sum()) - 0.5, "sum", 0.1, "det/")
    with ExplorerServer(Explorer(ex.model, ex.datasets, outliers=check, max_stats=50, click_seconds=1e-12)) as s:
        pg = open_page(browser, s.url)
        try:
            assert "sum score, flagged above" in pg.text_content("#outlier-status")
            pg.locator("#gallery img").nth(1).click()
            pg.wait_for_function("() => document.getElementById('a-numbers').textContent.includes('ELBO')")
            text = pg.text_content("#a-numbers")
            assert f"> threshold {check.threshold:.3f}: flagged as an outlier" in text
            assert "K=1; evaluate's default is K=1000, over 1e-12 s a click here" in text  # the automatic K
            assert not pg.errors, pg.errors
        finally:
            pg.close()
