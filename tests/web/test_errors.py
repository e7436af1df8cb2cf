"""Errors appear next to the action that caused them (and in the status line), in plain words
with the accepted formats and sizes; a refused file never looks accepted."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from support.function import PASSWORD

pytestmark = pytest.mark.slow   # the fixtures skip, saying why, without Chromium or Playwright


def test_a_wrong_password_is_refused_and_nothing_can_be_uploaded(desktop):
    ui = desktop
    ui.expect_console(r"status of 401")
    ui.page.fill("#password-input", "not-the-" + PASSWORD)
    ui.page.click("#login-button")
    error = ui.page.locator("#login-error")
    error.wait_for(state="visible")
    assert "Wrong password" in error.inner_text()
    assert ui.page.locator("#app-section").is_hidden()


def test_files_are_checked_before_upload_and_refusals_show_beside_the_file_picker(desktop, sample, tmp_path):
    ui = desktop
    ui.sign_in()
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    ui.page.set_input_files("#scene-input", str(notes))
    error = ui.page.locator("#scene-error")
    error.wait_for(state="visible")
    assert "JPEG, PNG, WebP" in error.inner_text()
    assert "not a photo this page accepts" in ui.page.inner_text("#status-text")

    huge = tmp_path / "huge.jpg"   # over the server's 30 MB (tests/web/conftest.py)
    huge.write_bytes(b"\xff\xd8" + bytes(33 * 1024 * 1024))
    ui.page.set_input_files("#scene-input", str(huge))
    ui.page.wait_for_function("document.getElementById('scene-error').textContent.includes('30 MB')")
    assert "up to 30 MB and 24 megapixels; kept for an hour" in ui.page.inner_text("#scene-limits")
    assert ui.page.locator("#empty-state").is_visible()

    ui.upload_scene(sample.scene)
    assert error.is_hidden()
    ui.mark_product(sample)
    ui.upload_product(sample.product)
    ui.wait_idle()

    # a refused product: the error is beside the product, saying the old one is still in use
    ui.page.set_input_files("#product-input", str(notes))
    product_error = ui.page.locator("#product-error")
    product_error.wait_for(state="visible")
    assert "JPEG, PNG" in product_error.inner_text() and "still “product.png”" in product_error.inner_text()
    assert ui.page.input_value("#product-input") == ""
    assert "product.png" in ui.page.inner_text("#product-info")
    ui.shot("refused-product")


def test_the_servers_refusal_of_a_render_shows_beside_the_product(desktop, sample, tmp_path):
    ui = desktop
    ui.expect_console(r"status of 422")
    invisible = tmp_path / "invisible.png"
    Image.fromarray(np.zeros((120, 80, 4), np.uint8)).save(invisible)
    ui.sign_in()
    ui.upload_scene(sample.scene)
    ui.mark_product(sample)
    ui.page.set_input_files("#product-input", str(invisible))
    error = ui.page.locator("#product-error")
    error.wait_for(state="visible")
    assert "opaque" in error.inner_text()
    assert error.inner_text() in ui.page.inner_text("#status-text")
    box = error.bounding_box()
    assert 0 <= box["y"] and box["y"] + box["height"] <= 900, "the error is off-screen"
    ui.shot("render-refused")


def test_a_long_wait_can_be_cancelled(desktop, sample):
    ui = desktop
    ui.sign_in()
    ui.upload_scene(sample.scene)
    # hold the next /process answer back until the test lets it through
    held = []
    ui.page.route("**/process", lambda route: held.append(route))
    scale = ui.js("drishya.scene.width") / 1280
    x0, y0, x1, y1 = (v * scale for v in sample.box)
    ui.drag_image((x0, y0), (x1, y1))
    cancel = ui.page.locator("#cancel-button")
    cancel.wait_for(state="visible")
    assert "Finding the product" in ui.page.inner_text("#status-text")
    cancel.click()
    assert cancel.is_hidden()
    assert "Cancelled" in ui.page.inner_text("#status-text")
    ui.page.unroute("**/process")
    assert held, "the cut-out request never went out"
    assert ui.masks() == 0
    # the next change asks again
    masks = ui.masks()
    ui.drag_image((x0 - 5, y0 - 5), (x1 + 5, y1 + 5))
    ui.wait_masks(masks + 1)
