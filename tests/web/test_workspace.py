"""A person at a desktop (1440×900) works on one photo: marks the old product with a box,
handles, points and the brush, undoes, places the new product by hand, changes the look,
compares, downloads, reloads; and zooms into a 4000×3000 photo."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

DESKTOP = {"width": 1440, "height": 900}   # the desktop fixture's viewport
pytestmark = pytest.mark.slow   # the fixtures skip, saying why, without Chromium or Playwright


def test_box_handles_points_brush_and_undo_on_one_canvas(desktop, sample):
    ui = desktop
    ui.sign_in()
    ui.shot("01-empty")
    assert ui.page.locator("#settings-card").is_hidden(), "settings are shown before there is anything to set"
    ui.upload_scene(sample.scene)
    canvas_before = ui.page.locator("#editor-canvas").bounding_box()

    ui.mark_product(sample)
    caption = ui.page.inner_text("#mask-caption")
    assert caption.startswith("Cut-out ready —") and "% of the photo" in caption
    assert "grabcut" not in caption.lower() and "score" not in caption.lower()
    assert ui.page.locator("#editor-canvas").bounding_box() == canvas_before, "the canvas moved after the cut-out"
    box = ui.doc()["box"]
    ui.shot("02-cut-out")

    # the right edge's handle widens the box (it does not start a new one) and re-segments
    masks = ui.masks()
    mid_y = (box[1] + box[3]) / 2
    ui.drag_image((box[2], mid_y), (box[2] + 40, mid_y))
    ui.wait_masks(masks + 1)
    moved = ui.doc()["box"]
    assert moved[0] == box[0] and moved[1] == box[1] and moved[3] == box[3]
    assert moved[2] >= box[2] + 30

    # inside the box: the whole box moves
    masks = ui.masks()
    ui.drag_image(((moved[0] + moved[2]) / 2, mid_y), ((moved[0] + moved[2]) / 2 - 20, mid_y))
    ui.wait_masks(masks + 1)
    shifted = ui.doc()["box"]
    assert shifted[2] - shifted[0] == moved[2] - moved[0] and shifted[0] < moved[0]

    # a point on the product, then a click on it removes it (the earlier mask comes back at once)
    ui.tool("points")
    masks = ui.masks()
    area_before_point = ui.mask_area()
    ui.click_image((shifted[0] + shifted[2]) / 2, (shifted[1] + shifted[3]) / 2)
    ui.wait_masks(masks + 1)
    assert len(ui.doc()["points"]) == 1 and ui.doc()["points"][0]["label"] == 1
    ui.shot("03-point")
    point = ui.doc()["points"][0]
    ui.click_image(point["x"], point["y"])
    assert ui.doc()["points"] == []
    assert ui.mask_area() == area_before_point
    assert ui.masks() == masks + 1, "removing the point asked the server again instead of using the earlier mask"

    # a brush stroke beside the product adds to the cut-out; Ctrl+Z takes it back; Redo again
    ui.tool("brush")
    area = ui.mask_area()
    y = shifted[3] - 60
    ui.drag_image((shifted[2] + 10, y), (shifted[2] + 90, y), steps=12)
    assert ui.doc()["edited"]
    painted = ui.mask_area()
    assert painted > area + 500
    ui.page.wait_for_function("drishya.history.current.editedMask && drishya.history.current.editedMask.id")
    assert ui.page.inner_text("#mask-caption").startswith("Your cut-out")
    ui.shot("04-brush")
    ui.page.locator("#editor-canvas").focus()
    ui.page.keyboard.press("Control+z")
    assert not ui.doc()["edited"] and ui.mask_area() == area
    ui.page.click("#redo-button")
    assert ui.doc()["edited"] and ui.mask_area() == painted

    # shrink by a few px makes the cut-out smaller; undo twice restores the segmented mask
    ui.page.fill("#grow-px", "3")
    ui.page.click("#shrink-button")
    assert ui.mask_area() < painted
    ui.page.click("#undo-button")
    ui.page.click("#undo-button")
    assert not ui.doc()["edited"] and ui.mask_area() == area
    ui.wait_idle()


def test_the_product_is_placed_by_hand_and_every_change_re_renders_without_a_button(desktop, sample):
    ui = desktop
    ui.replace(sample)
    assert ui.js("drishya.editor.tool") == "product"
    assert ui.page.locator("#result-card").is_visible()
    assert ui.page.locator("#advanced-settings").get_attribute("open") is None, "advanced settings start open"
    ui.shot("01-result")
    auto_box = ui.js("drishya.rendered.answer.placement.box")

    # drag the product 120 screen px to the right
    layer = ui.js("drishya.editor.layer")
    renders = ui.renders()
    start = ui.to_screen(layer["cx"], layer["cy"])
    ui.drag(start, (start[0] + 120, start[1] + 10))
    assert ui.page.locator("#stale-badge").is_visible(), "the old result is not marked while the new one is made"
    ui.wait_renders(renders + 1)
    ui.wait_idle()
    placed = ui.js("drishya.rendered.answer.placement")
    assert placed["anchor"] == "box"
    assert placed["box"][0] > auto_box[0] + 80
    # the server put the product exactly where the page showed it (the preview's box)
    requested = ui.js("drishya.rendered.settings.placement")
    scale = ui.js("drishya.rendered.answer.scale || 1")
    assert placed["box"] == pytest.approx([v * scale for v in requested], abs=2 * scale)
    ui.shot("02-moved")

    # the turn handle, above the product's top edge
    layer = ui.js("drishya.editor.layer")
    top = layer["cy"] - ui.js("drishya.product.shape.boxHeight") * layer["k"] / 2
    knob = ui.to_screen(layer["cx"], top)
    knob = (knob[0], knob[1] - 28)
    centre = ui.to_screen(layer["cx"], layer["cy"])
    renders = ui.renders()
    ui.drag(knob, (centre[0] + (centre[1] - knob[1]), centre[1] - (centre[1] - knob[1]) * 0.6), steps=12)
    ui.wait_renders(renders + 1)
    ui.wait_idle()
    rotation = ui.js("drishya.rendered.answer.placement.rotation")
    assert 20 < rotation < 80, rotation
    assert ui.page.input_value("#rotation-input") == str(round(rotation))
    ui.shot("03-turned")

    # a slider of the look, by keyboard: the result follows by itself
    renders = ui.renders()
    ui.page.focus("#setting-shadow")
    for _ in range(6):
        ui.page.keyboard.press("ArrowRight")
    ui.wait_renders(renders + 1)
    ui.wait_idle()
    assert ui.js("drishya.rendered.settings.shadow") == pytest.approx(0.3)

    # Mirror, then undo it: the earlier result comes back from memory
    renders = ui.renders()
    ui.page.click("#flip-button")
    ui.wait_renders(renders + 1)
    ui.wait_idle()
    assert ui.js("drishya.rendered.answer.placement.flipped") is True
    ui.page.click("#undo-button")
    ui.wait_idle()
    assert ui.js("drishya.rendered.answer.placement.flipped") is False
    assert ui.renders() == renders + 1

    # hold to compare with the photo before
    compare = ui.page.locator("#compare-button").bounding_box()
    ui.page.mouse.move(compare["x"] + 10, compare["y"] + 10)
    ui.page.mouse.down()
    assert ui.js("drishya.editor.comparing") is True
    ui.shot("04-before")
    ui.page.mouse.up()
    assert ui.js("drishya.editor.comparing") is False

    # download: named after the photo and its size, in the chosen format
    ui.page.select_option("#download-format", "jpeg")
    with ui.page.expect_download() as info:
        ui.page.click("#download-button")
    download = info.value
    data = Path(download.path()).read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        width, height = image.size
    assert download.suggested_filename == f"scene-drishya-{width}x{height}.jpg"
    assert (width, height) in ((1280, 960), ui.js("[drishya.scene.originalWidth, drishya.scene.originalHeight]"))
    assert len(data) > 50_000
    ui.page.wait_for_function("document.getElementById('download-size').textContent.includes('MB')")
    assert f"{width} × {height} px" in ui.page.inner_text("#download-size")
    ui.shot("05-downloaded")


def test_a_reload_restores_the_photo_the_cut_out_and_the_result(desktop, sample):
    ui = desktop
    ui.replace(sample)
    layer = ui.js("drishya.editor.layer")
    start = ui.to_screen(layer["cx"], layer["cy"])
    renders = ui.renders()
    ui.drag(start, (start[0] - 90, start[1]))
    ui.wait_renders(renders + 1)
    ui.wait_idle()
    before = ui.doc()
    placement = ui.js("drishya.rendered.answer.placement.box")

    ui.page.reload()
    ui.page.wait_for_function("document.body.dataset.restored === 'true'")
    ui.wait_renders(1)
    ui.wait_idle()
    after = ui.doc()
    assert after["box"] == before["box"] and after["layer"] == before["layer"]
    assert ui.js("drishya.rendered.answer.placement.box") == placement
    assert ui.page.locator("#product-thumb").is_visible()
    assert ui.page.locator("#login-section").is_hidden()
    ui.shot("restored")


def test_expired_work_is_said_plainly_after_a_reload(desktop, sample):
    ui = desktop
    ui.sign_in()
    ui.upload_scene(sample.scene)
    ui.mark_product(sample)
    ui.js("""(() => { const w = JSON.parse(sessionStorage.getItem('drishya.work'));
        w.scene.expires_at = '2000-01-01T00:00:00Z'; sessionStorage.setItem('drishya.work', JSON.stringify(w)); })()""")
    ui.page.reload()
    error = ui.page.locator("#scene-error")
    error.wait_for(state="visible")
    assert "expired" in error.inner_text() and "Choose the photo again" in error.inner_text()
    assert ui.page.locator("#empty-state").is_visible()


def test_zoom_and_pan_on_a_4000x3000_photo(desktop, sample, tmp_path):
    big = tmp_path / "big-ad.jpg"
    with Image.open(sample.scene) as scene:
        scene.convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC).save(big, "JPEG", quality=90)
    ui = desktop
    ui.sign_in()
    width, height = ui.upload_scene(big)
    assert max(width, height) <= 1280
    canvas = ui.page.locator("#editor-canvas").bounding_box()
    assert canvas["y"] + canvas["height"] <= DESKTOP["height"] and canvas["x"] + canvas["width"] <= DESKTOP["width"]
    assert "4000 × 3000" in ui.page.inner_text("#scene-info")
    fit = ui.js("drishya.viewport.scale")

    ui.page.click("#zoom-in")
    ui.page.click("#zoom-in")
    assert ui.js("drishya.viewport.scale") == pytest.approx(fit * 1.5625, rel=0.01)
    centre = (canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2)
    ui.page.mouse.move(*centre)
    ui.page.mouse.wheel(0, -400)
    ui.page.wait_for_function(f"drishya.viewport.scale > {fit * 2}")
    zoomed = ui.js("drishya.viewport.scale")
    assert ui.page.inner_text("#zoom-level") == f"{round(zoomed * 100)} %"

    # space + drag pans
    before = ui.js("[drishya.viewport.x, drishya.viewport.y]")
    ui.page.keyboard.down("Space")
    ui.drag(centre, (centre[0] + 150, centre[1] + 80))
    ui.page.keyboard.up("Space")
    after = ui.js("[drishya.viewport.x, drishya.viewport.y]")
    assert after[0] == pytest.approx(before[0] + 150, abs=2) and after[1] == pytest.approx(before[1] + 80, abs=2)
    assert ui.doc()["box"] is None, "panning drew a box"

    # a box drawn while zoomed in lands on the same photo pixels
    x0, y0, x1, y1 = (v * width / 1280 for v in sample.box)
    masks = ui.masks()
    ui.page.click("#zoom-fit")
    ui.page.click("#zoom-in")
    ui.drag_image((x0, y0), (x1, y1))
    ui.wait_masks(masks + 1)
    box = ui.doc()["box"]
    assert box == pytest.approx([x0, y0, x1, y1], abs=2)
    ui.shot("zoomed")
    ui.page.click("#zoom-fit")
    assert ui.js("drishya.viewport.scale") == pytest.approx(fit)
