"""A person on a phone (390×844, touch): the same workspace with touch wording, fingers on
the canvas (a drag, a long-press, a tap, a pinch) and nothing wider than the screen."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow   # the fixtures skip, saying why, without Chromium or Playwright

WIDTH, HEIGHT = 390, 844   # the phone fixture's viewport


class Fingers:
    """Touches sent through the DevTools protocol, so the page sees pointerType "touch"."""

    def __init__(self, page):
        self.page = page
        self.cdp = page.context.new_cdp_session(page)

    def send(self, kind: str, points: list[tuple[float, float]]) -> None:
        self.cdp.send("Input.dispatchTouchEvent", {
            "type": kind, "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)]})

    def drag(self, start, end, steps: int = 8) -> None:
        self.send("touchStart", [start])
        for i in range(1, steps + 1):
            t = i / steps
            self.send("touchMove", [(start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t)])
        self.send("touchEnd", [])

    def pinch(self, centre, start_gap: float, end_gap: float, steps: int = 6) -> None:
        cx, cy = centre
        for i in range(steps + 1):
            gap = start_gap + (end_gap - start_gap) * i / steps
            self.send("touchStart" if i == 0 else "touchMove", [(cx - gap / 2, cy), (cx + gap / 2, cy)])
        self.send("touchEnd", [])


def test_on_a_phone_a_finger_marks_places_and_zooms_within_the_screen(phone, sample):
    ui = phone
    ui.sign_in()
    ui.shot("01-empty")
    assert ui.horizontal_overflow() <= 0
    ui.upload_scene(sample.scene)
    hint = ui.page.inner_text("#tool-hint")
    assert "finger" in hint and "Long-press" in hint and "Shift" not in hint and "click" not in hint.lower()
    stage = ui.page.locator("#stage").bounding_box()
    assert stage["width"] <= WIDTH and stage["y"] + stage["height"] <= HEIGHT

    fingers = Fingers(ui.page)
    x0, y0, x1, y1 = (v * ui.js("drishya.scene.width") / 1280 for v in sample.box)
    masks = ui.masks()
    fingers.drag(ui.to_screen(x0, y0), ui.to_screen(x1, y1))
    ui.wait_masks(masks + 1)
    assert ui.doc()["box"] == pytest.approx([x0, y0, x1, y1], abs=3)
    caption = ui.page.inner_text("#mask-caption")
    assert caption.startswith("Cut-out ready") and "Tap to add points" in caption
    ui.shot("02-cut-out")

    # a long-press in the box tool adds a point (held until the page shows it)
    point = ui.to_screen((x0 + x1) / 2, (y0 + y1) / 2)
    fingers.send("touchStart", [point])
    ui.page.wait_for_function("drishya.history.current.points.length === 1")
    fingers.send("touchEnd", [])
    assert ui.doc()["box"] == pytest.approx([x0, y0, x1, y1], abs=3), "the long-press changed the box"

    # the Points tool: "Not product", a tap adds one; a tap on it removes it
    ui.tool("points")
    ui.page.click("#points-options label:has(input[value='0'])")
    ui.page.touchscreen.tap(*ui.to_screen(x0 - 30, y0 + 40))
    ui.page.wait_for_function("drishya.history.current.points.length === 2")
    assert ui.doc()["points"][1]["label"] == 0
    ui.page.touchscreen.tap(*ui.to_screen(ui.doc()["points"][1]["x"], ui.doc()["points"][1]["y"]))
    ui.page.wait_for_function("drishya.history.current.points.length === 1")

    # two fingers pinch to zoom
    fit = ui.js("drishya.viewport.scale")
    fingers.pinch((stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2), 80, 240)
    assert ui.js("drishya.viewport.scale") > fit * 2
    assert len(ui.doc()["points"]) == 1, "the pinch added or removed a point"
    ui.page.click("#zoom-fit")

    ui.upload_product(sample.product)
    ui.wait_idle()
    assert ui.js("drishya.editor.tool") == "product"
    assert ui.horizontal_overflow() <= 0
    ui.shot("03-result")
    controls = ui.page.locator("#app-section button:visible, #app-section select:visible, "
                               "#app-section input:not([type=file]):not([type=radio]):visible, "
                               "#app-section label.button:visible")
    assert controls.count() > 15
    for index in range(controls.count()):
        box = controls.nth(index).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, controls.nth(index).evaluate(
            "e => e.outerHTML.slice(0, 80)")
    ui.page.locator("#settings-card").scroll_into_view_if_needed()
    ui.shot("04-settings")
