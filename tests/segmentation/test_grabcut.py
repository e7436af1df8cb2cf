"""GrabCutSegmenter: the offline segmenter cuts a product out of a scene from a box and points."""
from __future__ import annotations

import numpy as np
import pytest

from handler.segmentation.base import Prompt
from handler.segmentation.grabcut import FALLBACK_SCORE, GrabCutSegmenter

HEIGHT, WIDTH = 480, 640


def textured_background(seed: int = 1) -> np.ndarray:
    """(HEIGHT, WIDTH, 3) float32: wavy green-blue texture with pixel noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    background = np.stack(
        [60 + 30 * np.sin(xx / 9.0), 120 + 40 * np.sin(yy / 11.0 + xx / 21.0), 110 + 30 * np.cos(xx / 15.0)],
        axis=-1,
    )
    return background + rng.normal(0, 12, background.shape).astype(np.float32)


def ellipse(cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    return ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0


def paint(background: np.ndarray, region: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """Paint `region` with `colour`, shaded from bright (left) to darker (right)."""
    xx = np.mgrid[0:HEIGHT, 0:WIDTH][1].astype(np.float32)
    shade = 1.0 - 0.4 * xx / WIDTH
    painted = np.array(colour, dtype=np.float32) * shade[..., None]
    return np.where(region[..., None], painted, background)


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image, 0, 255).astype(np.uint8)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.fixture(scope="module")
def segmenter() -> GrabCutSegmenter:
    return GrabCutSegmenter()


@pytest.fixture(scope="module")
def product() -> np.ndarray:
    return ellipse(320, 240, 140, 150)


@pytest.fixture(scope="module")
def scene(product: np.ndarray) -> np.ndarray:
    return to_uint8(paint(textured_background(), product, (230, 60, 40)))


PRODUCT_BOX = (160.0, 70.0, 480.0, 410.0)


def test_mask_is_bool_at_full_image_size(segmenter, scene):
    result = segmenter.segment(scene, Prompt(box=PRODUCT_BOX))
    assert result.mask.shape == (HEIGHT, WIDTH)
    assert result.mask.dtype == np.bool_
    assert result.segmenter == "grabcut"
    assert 0.0 <= result.score <= 1.0
    assert result.timings_ms["segment"] > 0


def test_box_around_a_product_recovers_its_mask(segmenter, scene, product):
    result = segmenter.segment(scene, Prompt(box=PRODUCT_BOX))
    assert iou(result.mask, product) >= 0.85


def test_foreground_point_alone_finds_the_product(segmenter, scene, product):
    prompt = Prompt(points=np.array([[320, 240]], np.float32), labels=np.array([1]))
    result = segmenter.segment(scene, prompt)
    assert result.mask[240, 320]
    assert iou(result.mask, product) >= 0.7


def test_background_point_removes_a_region(segmenter):
    body = ellipse(320, 200, 120, 120)
    stand = np.zeros((HEIGHT, WIDTH), bool)
    stand[300:400, 260:380] = True
    image = to_uint8(paint(paint(textured_background(), stand, (240, 220, 40)), body, (230, 60, 40)))
    box = (180.0, 60.0, 460.0, 420.0)
    only_stand = stand & ~body

    without_point = segmenter.segment(image, Prompt(box=box))
    assert without_point.mask[only_stand].mean() > 0.8

    points = np.array([[320, 370]], np.float32)
    with_point = segmenter.segment(image, Prompt(box=box, points=points, labels=np.array([0])))
    assert with_point.mask[only_stand].mean() < 0.2
    assert iou(with_point.mask, body) >= 0.85


def test_keeps_the_piece_under_the_foreground_point(segmenter):
    big = ellipse(250, 240, 90, 120)
    small = ellipse(450, 240, 40, 40)
    image = to_uint8(paint(textured_background(), big | small, (230, 60, 40)))
    box = (140.0, 100.0, 510.0, 380.0)

    assert segmenter.segment(image, Prompt(box=box)).mask[big].mean() > 0.9

    prompt = Prompt(box=box, points=np.array([[450, 240]], np.float32), labels=np.array([1]))
    result = segmenter.segment(image, prompt)
    assert iou(result.mask, small) >= 0.8
    assert not result.mask[big].any()


def test_holes_are_filled_unless_a_background_point_marks_them(segmenter):
    ring = ellipse(320, 240, 150, 150) & ~ellipse(320, 240, 60, 60)
    image = to_uint8(paint(textured_background(), ring, (230, 60, 40)))
    box = (160.0, 80.0, 480.0, 400.0)
    hole = ellipse(320, 240, 50, 50)

    assert segmenter.segment(image, Prompt(box=box)).mask[hole].all()

    prompt = Prompt(box=box, points=np.array([[320, 240]], np.float32), labels=np.array([0]))
    assert not segmenter.segment(image, prompt).mask[hole].any()


def test_same_input_gives_the_same_answer(segmenter, scene):
    first = segmenter.segment(scene, Prompt(box=PRODUCT_BOX))
    other_image = to_uint8(textured_background(seed=7))
    segmenter.segment(other_image, Prompt(box=(10.0, 10.0, 300.0, 200.0)))
    second = segmenter.segment(scene, Prompt(box=PRODUCT_BOX))
    assert np.array_equal(first.mask, second.mask)
    assert first.score == second.score


def test_clean_product_scores_higher_than_a_box_over_noise(segmenter, scene):
    noise = np.random.default_rng(3).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    clean = segmenter.segment(scene, Prompt(box=PRODUCT_BOX)).score
    noisy = segmenter.segment(noise, Prompt(box=PRODUCT_BOX)).score
    assert clean > 0.8
    assert noisy < 0.3


def test_outline_lands_on_the_image_edge_at_full_resolution(segmenter):
    """GrabCut runs on a 320 px crop; at 4x that size the outline is put back on the real edge."""
    height, width = 960, 1280
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    background = np.stack([60 + 30 * np.sin(xx / 18.0), 120 + 40 * np.sin(yy / 22.0 + xx / 42.0),
                           110 + 30 * np.cos(xx / 30.0)], axis=-1) + rng.normal(0, 12, (height, width, 3))
    product = ((xx - 640) / 280) ** 2 + ((yy - 480) / 300) ** 2 <= 1
    image = to_uint8(np.where(product[..., None], np.float32([230, 60, 40]), background))
    mask = segmenter.segment(image, Prompt(box=(320.0, 140.0, 960.0, 820.0))).mask
    outline_px = 2 * np.pi * 290
    # upscaling alone leaves about half a wrong pixel per outline pixel
    assert np.count_nonzero(mask != product) <= 0.25 * outline_px


def test_nothing_to_cut_falls_back_to_the_ellipse_in_the_box(segmenter):
    flat = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
    result = segmenter.segment(flat, Prompt(box=(100.0, 100.0, 300.0, 200.0)))
    assert result.score == FALLBACK_SCORE
    assert result.mask[150, 200]
    assert not result.mask[101, 101]
    assert not result.mask[:100].any() and not result.mask[:, 300:].any()


@pytest.mark.parametrize(
    "prompt",
    [
        Prompt(box=(0.0, 0.0, float(WIDTH), float(HEIGHT))),
        Prompt(box=(-50.0, -20.0, 200.0, 150.0)),
        Prompt(box=(600.0, 400.0, 900.0, 700.0)),
        Prompt(box=(10.0, 10.0, 11.0, 11.0)),
        Prompt(points=np.array([[5, 5], [630, 470]], np.float32), labels=np.array([0, 0])),
        Prompt(points=np.array([[-10, 900]], np.float32), labels=np.array([1])),
        Prompt(),
    ],
    ids=["whole-image", "past-top-left", "past-bottom-right", "one-pixel", "background-only", "off-image", "empty"],
)
def test_awkward_prompts_still_give_a_mask(segmenter, scene, prompt):
    result = segmenter.segment(scene, prompt)
    assert result.mask.shape == (HEIGHT, WIDTH)
    assert result.mask.any()
    assert 0.0 <= result.score <= 1.0
