"""The web page, driven in a real headless Chromium against the real function.

The function runs as a subprocess (functions-framework on 127.0.0.1, GrabCut segmenter, a
password, its own temp dir). A person's whole journey is exercised: sign in, upload a scene,
drag a box on the canvas, cut out, upload a product, replace, download.

Needs the Debian `chromium` package (/usr/bin/chromium) and Playwright for Python; the
module is skipped when either is missing. Screenshots of every step go to
test-artifacts/browser/ (gitignored).
"""
from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PIL import Image

from support.function import PASSWORD
from support.paths import REPO, SAMPLES
from support.servers import function_env, running_function

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("browser tests need Chromium at /usr/bin/chromium (apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright for Python")
pytestmark = pytest.mark.slow

ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
ACTION_TIMEOUT_MS = 90_000   # a cut-out or replacement on a slow shared CPU


@dataclass(frozen=True)
class Images:
    """A scene, a product to put into it, and the old product's box.

    box: XYXY in the scene file's own pixels, x1/y1 exclusive.
    """

    scene: Path
    product: Path
    box: tuple[int, int, int, int]


@pytest.fixture(scope="module")
def images() -> Images:
    """The repository's sample scene and product (samples/samples.json names them and the box)."""
    description = json.loads((SAMPLES / "samples.json").read_text())
    return Images(SAMPLES / description["scene"], SAMPLES / description["product"], tuple(description["box"]))


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """The real function (functions-framework) on a free local port; yields its base URL."""
    workdir = tmp_path_factory.mktemp("function")
    with running_function(function_env(workdir), workdir) as running:
        yield running.url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(ACTION_TIMEOUT_MS)
    page.goto(server + "/")
    yield page
    context.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _submit_password(page, password: str) -> None:
    page.fill("#password-input", password)
    page.click("#login-button")


def _sign_in(page) -> None:
    """Signs in with the right password and waits until the tools are shown."""
    _submit_password(page, PASSWORD)
    page.wait_for_selector("#app-section", state="visible")


def _upload_scene(page, scene: Path) -> tuple[int, int]:
    """Uploads the scene; returns the stored image's (width, height), which the canvas uses."""
    page.set_input_files("#scene-input", str(scene))
    page.wait_for_selector("#scene-canvas", state="visible")
    return page.evaluate("() => { const c = document.getElementById('scene-canvas'); return [c.width, c.height]; }")


def _drag_box(page, box_in_stored_px: tuple[float, float, float, float]) -> None:
    """Drags with the mouse from one corner of the box to the other, in screen coordinates."""
    rect = page.locator("#scene-canvas").bounding_box()
    canvas_width = page.evaluate("document.getElementById('scene-canvas').width")
    screen_per_px = rect["width"] / canvas_width
    x0, y0, x1, y1 = (v * screen_per_px for v in box_in_stored_px)
    page.mouse.move(rect["x"] + x0, rect["y"] + y0)
    page.mouse.down()
    page.mouse.move(rect["x"] + x1, rect["y"] + y1, steps=8)
    page.mouse.up()


def _stored_box(images: Images, stored_size: tuple[int, int]) -> tuple[float, float, float, float]:
    with Image.open(images.scene) as scene:
        scale = stored_size[0] / scene.width
    return tuple(v * scale for v in images.box)


def _replace_product(page, images: Images) -> tuple[int, int]:
    """Signs in and runs the whole journey up to the result; returns the stored scene size."""
    _sign_in(page)
    _shot(page, "01-signed-in")
    stored_size = _upload_scene(page, images.scene)
    _shot(page, "02-scene-uploaded")
    _drag_box(page, _stored_box(images, stored_size))
    _shot(page, "03-box-drawn")
    page.click("#cut-button")
    page.wait_for_selector("#cut-preview", state="visible")
    page.wait_for_function("document.getElementById('cut-preview').naturalWidth > 0")
    _shot(page, "04-cut-out")
    page.set_input_files("#product-input", str(images.product))
    page.wait_for_selector("#product-thumb", state="visible")
    page.wait_for_selector("#replace-button:enabled")
    _shot(page, "05-product-uploaded")
    page.click("#replace-button")
    page.wait_for_selector("#result-image", state="visible")
    page.wait_for_function("document.getElementById('result-image').naturalWidth > 0")
    _shot(page, "06-result")
    return stored_size


def _scene_at(images: Images, size: tuple[int, int]) -> np.ndarray:
    with Image.open(images.scene) as scene:
        return np.asarray(scene.convert("RGB").resize(size, Image.Resampling.BILINEAR), dtype=np.int16)


def test_a_person_replaces_the_product_and_downloads_a_png_of_the_scenes_size(page, images):
    width, height = _replace_product(page, images)

    with page.expect_download() as download_info:
        page.click("#download-link")
    download = download_info.value
    assert download.suggested_filename == "drishya-result.png"
    data = Path(download.path()).read_bytes()
    with Image.open(io.BytesIO(data)) as result:
        assert result.format == "PNG"
        assert result.size == (width, height)
        pixels = np.asarray(result.convert("RGB"), dtype=np.int16)

    x0, y0, x1, y1 = (round(v) for v in _stored_box(images, (width, height)))
    scene = _scene_at(images, (width, height))
    change_in_box = np.abs(pixels[y0:y1, x0:x1] - scene[y0:y1, x0:x1]).mean()
    assert change_in_box > 20, "the result looks like the untouched scene inside the product's box"


def test_cut_out_shows_the_segmenter_and_its_score(page, images):
    _sign_in(page)
    stored_size = _upload_scene(page, images.scene)
    _drag_box(page, _stored_box(images, stored_size))
    page.click("#cut-button")
    page.wait_for_selector("#cut-preview", state="visible")
    assert re.search(r"Segmenter grabcut, score \d\.\d\d", page.inner_text("#cut-info"))


def test_shift_click_adds_an_include_point_and_alt_click_an_exclude_point(page, images):
    _sign_in(page)
    _upload_scene(page, images.scene)
    rect = page.locator("#scene-canvas").bounding_box()
    page.keyboard.down("Shift")
    page.mouse.click(rect["x"] + rect["width"] / 2, rect["y"] + rect["height"] / 2)
    page.keyboard.up("Shift")
    page.keyboard.down("Alt")
    page.mouse.click(rect["x"] + 5, rect["y"] + 5)
    page.keyboard.up("Alt")
    assert "1 include, 1 exclude point" in page.inner_text("#box-info")


def test_before_after_toggle_shows_the_original_scene(page, images):
    _replace_product(page, images)
    result_src = page.get_attribute("#result-image", "src")
    page.click("#before-after-button")
    assert page.get_attribute("#before-after-button", "aria-pressed") == "true"
    assert page.get_attribute("#result-image", "src") != result_src
    _shot(page, "07-before")


def test_wrong_password_is_refused_at_once_and_nothing_can_be_uploaded(page):
    _submit_password(page, "not-the-password")
    error = page.locator("#login-error")
    error.wait_for(state="visible")
    assert "Wrong password" in error.inner_text()
    assert page.locator("#app-section").is_hidden()
    assert page.locator("#scene-drop").is_hidden()
    _shot(page, "wrong-password")


def test_the_password_is_kept_for_the_tab_across_a_reload(page):
    _sign_in(page)
    page.reload()
    page.wait_for_selector("#app-section", state="visible")
    assert page.locator("#login-section").is_hidden()


def test_on_a_phone_every_control_fits_the_screen_width(page, images):
    page.set_viewport_size(PHONE)
    _sign_in(page)
    _upload_scene(page, images.scene)
    _shot(page, "phone")

    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    controls = page.locator("#app-section button:visible, #app-section select:visible, "
                            "#app-section input:not([type=file]):visible, #app-section label.button:visible, "
                            "#scene-canvas")
    assert controls.count() > 20
    for index in range(controls.count()):
        box = controls.nth(index).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], controls.nth(index).evaluate(
            "e => e.outerHTML.slice(0, 80)")
