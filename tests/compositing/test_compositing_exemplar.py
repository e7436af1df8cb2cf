"""The exemplar (patch search) fill: handler.compositing.exemplar.search_offsets and what
removal.fill_hole makes of it, on real photos (tests/support/real_scenes.py) and on
textures whose right answer is known."""
from __future__ import annotations

from functools import cache

import cv2
import numpy as np
import pytest
from PIL import Image

from handler.compositing.exemplar import PATCH_RADIUS, search_offsets
from handler.compositing.removal import fill_hole, hole_for

from support.paths import SAMPLES

GROW_PX = 6          # the removal margin the bench and the service use at 1280 px
CONTEXT_PX = 120     # px of photo kept around the old product: the region fill_hole is given
SEED = 7


@cache
def region(photo: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ad, truth, hole) of a region around the bottle pasted into `photo`, as the compositor
    hands it to fill_hole: HxWx3 uint8, HxWx3 uint8, HxW bool."""
    real_scenes = pytest.importorskip("support.real_scenes", reason="needs scikit-image's photos")
    scene = real_scenes.pasted_scene(photo)
    ys, xs = np.nonzero(scene.mask)
    h, w = scene.mask.shape
    y0, y1 = max(0, ys.min() - CONTEXT_PX), min(h, ys.max() + 1 + CONTEXT_PX)
    x0, x1 = max(0, xs.min() - CONTEXT_PX), min(w, xs.max() + 1 + CONTEXT_PX)
    box = (slice(y0, y1), slice(x0, x1))
    return scene.image[box], scene.photo[box], hole_for(scene.mask[box], GROW_PX)


def grain(pixels: np.ndarray, where: np.ndarray) -> float:
    """Spread (median absolute deviation x 1.4826) of the grey 5x5-Gaussian detail at `where`."""
    grey = pixels.astype(np.float32).mean(axis=2)
    detail = (grey - cv2.GaussianBlur(grey, (5, 5), 0))[where]
    return 1.4826 * float(np.median(np.abs(detail - np.median(detail))))


def blurred_error(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """Mean absolute RGB difference after a Gaussian blur of sigma 2 px, over `where`."""
    blur = lambda x: cv2.GaussianBlur(x.astype(np.float32), (0, 0), 2)  # noqa: E731
    return float(np.abs(blur(a) - blur(b)).mean(axis=2)[where].mean())


def vertical_streaks(pixels: np.ndarray, where: np.ndarray) -> float:
    """How much the mean grey level of the columns inside `where` (eroded by 4 px, columns
    with over 20 such pixels) jumps from column to column: the spread of that profile minus
    its Gaussian (sigma 6 columns). A fill drawn as lines across the hole shows as a high one."""
    inner = cv2.erode(where.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    grey = pixels.astype(np.float32).mean(axis=2)
    counts = inner.sum(axis=0)
    profile = ((grey * inner).sum(axis=0) / np.maximum(counts, 1))[counts > 20].astype(np.float32)
    smooth = cv2.GaussianBlur(profile.reshape(1, -1), (0, 0), 6).ravel()
    return float(np.std(profile - smooth))


def mottling(pixels: np.ndarray, where: np.ndarray) -> float:
    """Spread of the grey detail between 2 and 12 px (a difference of Gaussians) at `where`."""
    grey = pixels.astype(np.float32).mean(axis=2)
    return float((cv2.GaussianBlur(grey, (0, 0), 2) - cv2.GaussianBlur(grey, (0, 0), 12))[where].std())


def stripes(height: int, width: int) -> np.ndarray:
    """HxWx3 uint8 diagonal stripes with a period of 12 px: the one texture a hole in it can be
    filled with exactly, by a copy shifted by a whole number of periods."""
    ys, xs = np.mgrid[0:height, 0:width]
    levels = 128 + 60 * np.sin(2 * np.pi * (xs + ys) / 12.0)
    return np.repeat(levels[..., None], 3, axis=2).astype(np.uint8)


def wood_with_red_scratches() -> tuple[np.ndarray, np.ndarray]:
    """(HxWx3 uint8, HxW bool hole): brown grain (lightness only) crossed every 90 px by a red
    scratch 2 px wide, too thin to show at the search's resolution, with a 300 px square hole."""
    rng = np.random.default_rng(3)
    h, w = 600, 800
    lightness = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 2) * 60
    brown = np.array([150, 95, 60], np.float32)
    image = np.clip(brown + lightness[..., None] * np.array([1.0, 0.7, 0.5], np.float32), 0, 255)
    image[:, 40::90] = image[:, 41::90] = (220, 30, 30)
    return image.astype(np.uint8), box_hole((h, w), (250, 150, 550, 450))


def redness(pixels: np.ndarray) -> np.ndarray:
    return pixels[..., 0].astype(np.int16) - pixels[..., 1]


def box_hole(shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    hole = np.zeros(shape, bool)
    x1, y1, x2, y2 = box
    hole[y1:y2, x1:x2] = True
    return hole


# --- the search ------------------------------------------------------------------------------

def test_every_offset_points_at_a_patch_that_is_wholly_known():
    image, _, hole = region("coffee")
    small_hole = cv2.resize(hole.astype(np.uint8), None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA) > 0
    small = cv2.resize(image, small_hole.shape[::-1], interpolation=cv2.INTER_AREA)
    offsets, _ = search_offsets(small, small_hole, small_hole, np.ones_like(small_hole),
                                np.random.default_rng(SEED))
    ys, xs = np.nonzero(small_hole)
    sy, sx = ys + offsets[ys, xs, 0], xs + offsets[ys, xs, 1]
    size = 2 * PATCH_RADIUS + 1
    hole_nearby = cv2.dilate(small_hole.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool)
    h, w = small_hole.shape
    inside = (sy >= PATCH_RADIUS) & (sy < h - PATCH_RADIUS) & (sx >= PATCH_RADIUS) & (sx < w - PATCH_RADIUS)
    assert inside.all() and not hole_nearby[sy, sx].any()


def test_patches_are_copied_only_from_where_the_caller_allows():
    image = stripes(120, 160)
    hole = box_hole(image.shape[:2], (60, 40, 100, 80))
    allowed = np.zeros(hole.shape, bool)
    allowed[:, 110:] = True
    offsets, _ = search_offsets(image, hole, hole, allowed, np.random.default_rng(SEED))
    ys, xs = np.nonzero(hole)
    assert (xs + offsets[ys, xs, 1] >= 110).all()


def test_nothing_is_found_when_no_patch_is_wholly_known():
    image = stripes(40, 40)
    hole = np.ones((40, 40), bool)
    hole[::8, ::8] = False   # known pixels, but never a whole 7x7 patch of them
    assert search_offsets(image, hole, hole, np.ones_like(hole), np.random.default_rng(SEED)) is None


def test_the_same_seed_finds_the_same_offsets():
    image, _, hole = region("cat")
    small_hole = cv2.resize(hole.astype(np.uint8), None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA) > 0
    small = cv2.resize(image, small_hole.shape[::-1], interpolation=cv2.INTER_AREA)
    runs = [search_offsets(small, small_hole, small_hole, np.ones_like(small_hole),
                           np.random.default_rng(SEED))[0] for _ in range(2)]
    assert np.array_equal(*runs)


# --- the fill --------------------------------------------------------------------------------

def test_wood_grain_is_filled_with_the_photos_own_sharpness():
    image, truth, hole = region("coffee")
    filled = fill_hole(image, hole, np.zeros_like(hole))
    assert grain(filled, hole) == pytest.approx(grain(truth, hole), rel=0.25)


def test_the_fill_meets_the_photo_with_no_outline():
    """The mean of the fill just inside the hole's edge matches the photo just outside it."""
    image, truth, hole = region("coffee")
    filled = fill_hole(image, hole, np.zeros_like(hole)).astype(np.float32)
    inner = hole & ~cv2.erode(hole.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    outer = cv2.dilate(hole.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool) & ~hole
    step = filled[inner].mean(axis=0) - filled[outer].mean(axis=0)
    true_step = truth[inner].astype(np.float32).mean(axis=0) - truth[outer].astype(np.float32).mean(axis=0)
    assert np.abs(step - true_step).max() < 4


def test_a_blurred_background_is_filled_smoothly_not_with_copied_fur():
    """Beside the cat's face, the bokeh around the hole is calm: the fill keeps the
    background's soft grain, not the fur or whiskers that a copy would bring."""
    image, truth, hole = region("cat")
    filled = fill_hole(image, hole, np.zeros_like(hole))
    assert grain(filled, hole) < 1.5 * grain(truth, hole)


def test_a_blurred_background_is_filled_without_streaks():
    """The cat's bokeh is filled with its soft light, not with lines drawn across the hole
    (an interpolation between the hole's edges leaves dark vertical streaks there)."""
    image, truth, hole = region("cat")
    filled = fill_hole(image, hole, np.zeros_like(hole))
    assert vertical_streaks(filled, hole) < 1.5 * vertical_streaks(truth, hole)


def test_a_mottled_plaster_wall_is_continued_not_flattened():
    """The demo scene's wall is calm but not flat: its soft mottling goes on through the hole."""
    scene = np.asarray(Image.open(SAMPLES / "scene.jpg").convert("RGB"))[50:650, 50:500]
    hole = box_hole(scene.shape[:2], (150, 150, 300, 450))
    filled = fill_hole(scene, hole, np.zeros_like(hole))
    inside = cv2.erode(hole.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    around = cv2.dilate(hole.astype(np.uint8), np.ones((81, 81), np.uint8)).astype(bool) & ~hole
    assert mottling(filled, inside) > 0.35 * mottling(scene, around)


def test_the_fill_beats_interpolation_on_a_textured_surface():
    """On the coffee table the copied fill is nearer the true photo (blurred) than a smooth
    interpolation across the hole (cv2.inpaint, Telea) is."""
    image, truth, hole = region("coffee")
    filled = fill_hole(image, hole, np.zeros_like(hole))
    smooth = cv2.inpaint(image, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    assert blurred_error(filled, truth, hole) < blurred_error(smooth, truth, hole)


def test_a_copy_brings_no_other_surfaces_hue():
    """Copied detail that changes the hue (a thin red scratch the search could not see) is left
    out; the grain's lightness is what is copied."""
    image, hole = wood_with_red_scratches()
    grain_only = ~hole & (redness(image) < 150)
    filled = fill_hole(image, hole, np.zeros_like(hole))
    assert np.percentile(redness(filled)[hole], 99.9) < 1.5 * np.percentile(redness(image)[grain_only], 99.9)


def test_covered_pixels_get_no_texture():
    """Hole pixels the new product will hide are filled smoothly: no detail is spent there."""
    image, _, hole = region("coffee")
    covered = hole.copy()
    covered[:, : hole.shape[1] // 2] = False
    filled = fill_hole(image, hole, covered)
    inside = cv2.erode(covered.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert grain(filled, inside) < 0.25 * grain(image, ~hole)


def test_the_fill_is_deterministic():
    image, _, hole = region("astronaut")
    runs = [fill_hole(image, hole, np.zeros_like(hole)) for _ in range(2)]
    assert np.array_equal(*runs)
