"""The web page in a real headless Chromium (Debian's /usr/bin/chromium) against the real
function (functions-framework subprocess, GrabCut, a password, its own temp dir).

Tests drive the page as a person would: the mouse or a finger on the canvas, the keyboard,
the file pickers. They read `window.drishya` (the page's state) only to find where things are
on screen and to check what happened. Every page collects console errors and uncaught
exceptions; a test fails on any it did not expect. Screenshots go to test-artifacts/browser/.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support.function import PASSWORD
from support.paths import REPO, SAMPLES
from support.servers import function_env, running_function

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
UPLOAD_LIMIT_MB = 30
ACTION_TIMEOUT_MS = 60_000   # a cut-out or replacement on a slow shared CPU


def _playwright():
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Chromium at /usr/bin/chromium (apt-get install chromium)")
    return pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright for Python")


@dataclass(frozen=True)
class Sample:
    """The repository's sample scene and product; box: XYXY around the old product, scene px."""

    scene: Path
    product: Path
    box: tuple[int, int, int, int]


@pytest.fixture(scope="session")
def sample() -> Sample:
    description = json.loads((SAMPLES / "samples.json").read_text())
    return Sample(SAMPLES / description["scene"], SAMPLES / description["product"], tuple(description["box"]))


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[str]:
    """The real function on a free local port, shared by the browser tests; yields its URL."""
    _playwright()
    workdir = tmp_path_factory.mktemp("web-function")
    # an upload limit of its own, so the page is seen to use the server's, not a copy of the default
    with running_function(function_env(workdir, MAX_UPLOAD_MB=str(UPLOAD_LIMIT_MB)), workdir) as running:
        yield running.url


@pytest.fixture(scope="session")
def browser():
    sync_api = _playwright()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Ui:
    """One browser tab on the page, with the steps a person takes."""

    page: object
    name: str
    errors: list[str] = field(default_factory=list)
    expected: list[re.Pattern] = field(default_factory=list)

    # ---------- bookkeeping ----------

    def shot(self, step: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{step}.png"
        self.page.screenshot(path=str(path))
        return path

    def expect_console(self, pattern: str) -> None:
        """A console error matching `pattern` is part of this test (e.g. a refused request)."""
        self.expected.append(re.compile(pattern))

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.expected)]

    def js(self, expression: str, arg=None):
        return self.page.evaluate(expression, arg)

    # ---------- steps ----------

    def sign_in(self) -> None:
        self.page.fill("#password-input", PASSWORD)
        self.page.click("#login-button")
        self.page.wait_for_selector("#app-section", state="visible")

    def upload_scene(self, path: Path) -> tuple[int, int]:
        """Chooses the photo; returns the working copy's size (the canvas's image px)."""
        self.page.set_input_files("#scene-input", str(path))
        self.page.wait_for_selector("#mark-card", state="visible")
        return tuple(self.js("[drishya.scene.width, drishya.scene.height]"))

    def upload_product(self, path: Path, renders_before: int | None = None) -> None:
        before = self.renders() if renders_before is None else renders_before
        self.page.set_input_files("#product-input", str(path))
        self.wait_renders(before + 1)

    def to_screen(self, x: float, y: float) -> tuple[float, float]:
        """Page coordinates of an image point (working-copy px) at the current zoom."""
        return tuple(self.js("""([x, y]) => {
            const r = document.getElementById('editor-canvas').getBoundingClientRect();
            const s = drishya.viewport.toScreen(x, y);
            return [r.left + s.x, r.top + s.y];
        }""", [x, y]))

    def drag(self, start: tuple[float, float], end: tuple[float, float], steps: int = 10) -> None:
        self.page.mouse.move(*start)
        self.page.mouse.down()
        self.page.mouse.move(*end, steps=steps)
        self.page.mouse.up()

    def drag_image(self, a: tuple[float, float], b: tuple[float, float], steps: int = 10) -> None:
        self.drag(self.to_screen(*a), self.to_screen(*b), steps)

    def click_image(self, x: float, y: float) -> None:
        self.page.mouse.click(*self.to_screen(x, y))

    def tool(self, name: str) -> None:
        self.page.click(f"#toolbar label:has(input[value={name}])")

    def masks(self) -> int:
        return int(self.js("Number(document.getElementById('editor-canvas').dataset.masks || 0)"))

    def renders(self) -> int:
        return int(self.js("Number(document.getElementById('editor-canvas').dataset.renders || 0)"))

    def wait_masks(self, count: int) -> None:
        self.page.wait_for_function(f"Number(document.getElementById('editor-canvas').dataset.masks || 0) >= {count}")

    def wait_renders(self, count: int) -> None:
        self.page.wait_for_function(f"Number(document.getElementById('editor-canvas').dataset.renders || 0) >= {count}")

    def wait_idle(self) -> None:
        """No request under way and none waiting to start."""
        self.page.wait_for_function("drishya.jobs.size === 0 && document.getElementById('stale-badge').hidden")

    def doc(self) -> dict:
        return self.js("""(() => { const d = drishya.history.current;
            return { box: d.box, points: d.points, layer: d.layer, settings: d.settings,
                     edited: Boolean(d.editedMask) }; })()""")

    def mask_area(self) -> int:
        return int(self.js("drishya.editor.mask ? drishya.editor.mask.count() : 0"))

    def mark_product(self, sample: Sample) -> None:
        """Drags a box around the sample's old product and waits for its cut-out."""
        scale = self.js("drishya.scene.width") / 1280   # samples/scene.jpg is 1280 px wide
        x0, y0, x1, y1 = (v * scale for v in sample.box)
        before = self.masks()
        self.drag_image((x0, y0), (x1, y1))
        self.wait_masks(before + 1)

    def replace(self, sample: Sample) -> None:
        """From sign-in to the first result with the sample's scene and product."""
        self.sign_in()
        self.upload_scene(sample.scene)
        self.mark_product(sample)
        self.upload_product(sample.product)
        self.wait_idle()

    def horizontal_overflow(self) -> int:
        return int(self.js("document.documentElement.scrollWidth - document.documentElement.clientWidth"))


def _new_ui(browser, server, request, viewport, **options) -> Iterator[Ui]:
    context = browser.new_context(viewport=viewport, accept_downloads=True, **options)
    page = context.new_page()
    page.set_default_timeout(ACTION_TIMEOUT_MS)
    ui = Ui(page, request.node.name.removeprefix("test_")[:60])
    page.on("console", lambda message: ui.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: ui.errors.append(f"uncaught: {error}"))
    page.goto(server + "/")
    yield ui
    try:
        ui.shot("last")
    finally:
        context.close()
    assert not ui.unexpected_errors(), f"console errors: {ui.unexpected_errors()}"


@pytest.fixture
def desktop(browser, server, request) -> Iterator[Ui]:
    yield from _new_ui(browser, server, request, DESKTOP)


@pytest.fixture
def phone(browser, server, request) -> Iterator[Ui]:
    yield from _new_ui(browser, server, request, PHONE, has_touch=True, is_mobile=True, device_scale_factor=2)
