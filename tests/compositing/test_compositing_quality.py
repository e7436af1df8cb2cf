"""Measured quality of replace_product on synthetic scenes with known ground truth."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from handler.compositing import CompositeSettings, replace_product

from support.scenes import PLAIN_BACKGROUND_RGB, opaque_product_on_plain

OPAQUE = 128


def lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def delta_e(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """CIE76 colour difference of two same-shaped uint8 RGB arrays (or one colour)."""
    a = np.asarray(a, np.uint8).reshape(-1, 1, 3)
    b = np.broadcast_to(np.asarray(b, np.uint8).reshape(-1, 1, 3), a.shape)
    return np.linalg.norm(lab(a) - lab(np.ascontiguousarray(b)), axis=2).reshape(-1)


def opaque_box(alpha: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(alpha >= OPAQUE)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def placed_alpha(product: np.ndarray, placement, shape) -> np.ndarray:
    """The product's uint8 alpha mapped into the scene so its opaque box fills `placement`."""
    alpha = product[..., 3]
    bx1, by1, bx2, by2 = opaque_box(alpha)
    px1, py1, px2, py2 = placement
    sx, sy = (px2 - px1) / (bx2 - bx1), (py2 - py1) / (by2 - by1)
    matrix = np.float32([[sx, 0, px1 - bx1 * sx], [0, sy, py1 - by1 * sy]])
    return cv2.warpAffine(alpha, matrix, (shape[1], shape[0]), flags=cv2.INTER_LINEAR)


def distance_from(region: np.ndarray) -> np.ndarray:
    return cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


@pytest.mark.parametrize("feather", [0, 15])
def test_pixels_far_from_old_mask_and_new_product_are_unchanged(scene, jar, feather):
    settings = CompositeSettings(blend_mode="alpha", shadow=0.0, feather=feather, offset=(-150, -40))
    result = replace_product(scene.image, scene.mask, jar, settings)
    footprint = placed_alpha(jar, result.placement.box, scene.mask.shape) > 0
    # the old product's place is repainted remove_margin px past its mask
    far = distance_from(scene.mask | footprint) > max(feather, settings.remove_margin) + 2
    changed = np.abs(result.image.astype(int) - scene.image).max(axis=2)
    assert changed[far].max() == 0
    assert changed[~far].max() > 0


def ragged_mask(shape, share: float = 0.69, seed: int = 0) -> np.ndarray:
    """Noise like an untrained segmenter's output: each pixel in the mask with chance `share`."""
    return np.random.default_rng(seed).random(shape) < share


@pytest.mark.parametrize("feather", [0, 15])
def test_ragged_mask_leaves_pixels_far_from_it_and_the_new_product_unchanged(scene, jar, feather):
    mask = ragged_mask(scene.mask.shape)
    mask[:, int(0.55 * mask.shape[1]):] = False      # touches the top, bottom and left borders
    settings = CompositeSettings(feather=feather)
    result = replace_product(scene.image, mask, jar, settings)
    footprint = placed_alpha(jar, result.placement.box, mask.shape) > 0
    far = distance_from(mask | footprint) > max(feather, settings.remove_margin) + 2
    changed = np.abs(result.image.astype(int) - scene.image).max(axis=2)
    assert far.any() and changed[far].max() == 0
    assert changed[~far].max() > 0


def test_ragged_mask_over_the_whole_frame_still_gets_the_new_product(scene, jar):
    settings = CompositeSettings(feather=0, color_grading=False)
    result = replace_product(scene.image, ragged_mask(scene.mask.shape), jar, settings)
    h, w = scene.mask.shape
    placement = np.clip(result.placement.box, 0, [w, h, w, h])
    assert np.abs(np.subtract(green_box(result.image), placement)).max() <= 2


def remnant_share(scene, image: np.ndarray, footprint: np.ndarray) -> float:
    """Share of the old mask's uncovered pixels still within ΔE 10 of the old product there."""
    uncovered = scene.mask & ~footprint
    close = delta_e(image[uncovered], scene.image[uncovered]) < 10
    return float(close.mean())


def test_smaller_product_leaves_no_visible_remnant_of_old_one(scene, jar):
    result = replace_product(scene.image, scene.mask, jar, CompositeSettings(scale=0.6))
    footprint = distance_from(placed_alpha(jar, result.placement.box, scene.mask.shape) > 0) <= 15
    assert remnant_share(scene, result.image, footprint) <= 0.01


def test_remnant_measure_sees_old_product_when_removal_is_off(scene, jar):
    settings = CompositeSettings(scale=0.6, remove_old=False)
    result = replace_product(scene.image, scene.mask, jar, settings)
    footprint = distance_from(placed_alpha(jar, result.placement.box, scene.mask.shape) > 0) <= 15
    assert remnant_share(scene, result.image, footprint) > 0.5


def green_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """Box of the green (new product) pixels in a scene that has no other green."""
    rgb = image.astype(int)
    green = (rgb[..., 1] > rgb[..., 0] + 40) & (rgb[..., 1] > rgb[..., 2] + 20)
    return opaque_box(green.astype(np.uint8) * 255)


@pytest.mark.parametrize("scale", [0.6, 1.0, 1.5])
def test_placed_product_keeps_aspect_ratio_and_stands_on_mask_bottom(scene, jar, scale):
    settings = CompositeSettings(scale=scale, feather=0, color_grading=False)
    result = replace_product(scene.image, scene.mask, jar, settings)
    x1, y1, x2, y2 = green_box(result.image)
    bx1, by1, bx2, by2 = opaque_box(jar[..., 3])
    aspect, expected = (x2 - x1) / (y2 - y1), (bx2 - bx1) / (by2 - by1)
    assert abs(aspect / expected - 1) <= 0.02
    mask_bottom = np.flatnonzero(scene.mask.any(axis=1)).max()
    assert abs((y2 - 1) - mask_bottom) <= 2


def graded_product_mean(scene, jar, target: str) -> np.ndarray:
    settings = CompositeSettings(color_grading="full", color_strength=1.0, grading_target=target, feather=0)
    result = replace_product(scene.image, scene.mask, jar, settings)
    inside = placed_alpha(jar, result.placement.box, scene.mask.shape) >= OPAQUE
    inside = cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return lab(result.image[inside].reshape(-1, 1, 3)).reshape(-1, 3).mean(axis=0)


def test_full_strength_grading_matches_old_product_area(scene, jar):
    target = lab(scene.image[scene.mask].reshape(-1, 1, 3)).reshape(-1, 3).mean(axis=0)
    assert np.abs(graded_product_mean(scene, jar, "area") - target).max() <= 3


def test_full_strength_grading_matches_whole_image(scene, jar):
    target = lab(scene.image).reshape(-1, 3).mean(axis=0)
    assert np.abs(graded_product_mean(scene, jar, "image") - target).max() <= 3


def test_full_strength_grading_matches_surroundings(scene, jar):
    near = distance_from(scene.mask)
    ring = (near > 5) & (near <= 40)
    target = lab(scene.image[ring].reshape(-1, 1, 3)).reshape(-1, 3).mean(axis=0)
    assert np.abs(graded_product_mean(scene, jar, "surroundings") - target).max() <= 3


def test_zero_strength_grading_changes_nothing(scene, jar):
    def render(**kw):
        return replace_product(scene.image, scene.mask, jar, CompositeSettings(**kw)).image
    ungraded = render(color_grading=False)
    assert np.array_equal(render(color_strength=0.0), ungraded)
    assert not np.array_equal(render(color_strength=0.5), ungraded)


def background_share_in_footprint(scene, product, cutout: str) -> float:
    settings = CompositeSettings(cutout=cutout, color_grading=False, scale=0.8)
    result = replace_product(scene.image, scene.mask, product, settings)
    x1, y1, x2, y2 = result.placement.box
    footprint = result.image[y1:y2, x1:x2]
    return float((delta_e(footprint, PLAIN_BACKGROUND_RGB) < 5).mean())


def test_opaque_product_on_plain_background_is_cut_out(scene):
    assert background_share_in_footprint(scene, opaque_product_on_plain(), "auto") < 0.02


def test_background_measure_sees_background_when_cut_out_is_off(scene):
    assert background_share_in_footprint(scene, opaque_product_on_plain(), "none") > 0.1
