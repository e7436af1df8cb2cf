"""Replacements on real photos keep the product's brand colours, sharpness and labels (issue 12).

The photos are scikit-image's bundled ones (tests/real_scenes.py), with a bottle pasted in at
a known alpha and replaced by products of known alpha; the measures (tests/quality.py) are
taken over the product's interior at the box the compositor reports.
"""
from __future__ import annotations

from functools import cache

import numpy as np
import pytest

pytest.importorskip("skimage", reason="the real photos ship with scikit-image (requirements-dev.txt)")

from handler.compositing import CompositeSettings, replace_product  # noqa: E402

from support import quality, real_scenes  # noqa: E402

MAX_CHROMA_DE = 6.0             # default settings: median ΔE in a*b* over the interior
MAX_SEAMLESS_CHROMA_DE = 10.0   # seamless may adapt the rim, never the interior by more
MAX_LIGHTNESS_SHIFT = 20.0      # the lightness may follow the scene, this far at most
MIN_SHARPNESS = 0.9             # interior detail kept, against the resampled product
MIN_BAND_KEPT = 0.9             # share of a white band running edge to edge that survives
MAX_SHADOW_ROW_STEP = 0.15      # largest change of the shadow's darkening between two rows (cut off: 0.45)

# each photo with the product it is tried with
PAIRS = {"coffee": "teal_jar", "cat": "red_can", "astronaut": "green_bottle", "rocket": "red_can"}


@cache
def scene(photo: str) -> real_scenes.PastedScene:
    return real_scenes.pasted_scene(photo)


@cache
def product(name: str) -> real_scenes.Product:
    return getattr(real_scenes, name)()


def replaced(photo: str, product_name: str, **settings):
    """(result, its quality.Reference) of replacing the pasted bottle in `photo`."""
    pasted, item = scene(photo), product(product_name)
    result = replace_product(pasted.image, pasted.mask, item.rgba, CompositeSettings(**settings))
    return result, quality.reference(item.truth, item.band, result.placement.box, pasted.mask.shape)


@pytest.mark.parametrize("photo", PAIRS)
def test_defaults_keep_the_brand_colours(photo):
    result, ref = replaced(photo, PAIRS[photo])
    assert quality.chroma_delta_e(result.image, ref) <= MAX_CHROMA_DE


@pytest.mark.parametrize("photo", PAIRS)
def test_defaults_let_the_lightness_follow_the_scene_within_bounds(photo):
    result, ref = replaced(photo, PAIRS[photo])
    assert abs(quality.lightness_shift(result.image, ref)) <= MAX_LIGHTNESS_SHIFT


@pytest.mark.parametrize("photo", PAIRS)
def test_defaults_keep_the_product_sharp(photo):
    result, ref = replaced(photo, PAIRS[photo])
    assert quality.sharpness_ratio(result.image, ref) >= MIN_SHARPNESS


def test_full_grading_is_still_there_when_asked_for():
    result, ref = replaced("coffee", "teal_jar", color_grading="full")
    assert quality.chroma_delta_e(result.image, ref) > 2 * MAX_CHROMA_DE


@pytest.mark.parametrize("photo", PAIRS)
def test_seamless_never_changes_the_interior_colours(photo):
    result, ref = replaced(photo, PAIRS[photo], blend_mode="seamless")
    assert result.blend_mode == "seamless"
    assert quality.chroma_delta_e(result.image, ref) <= MAX_SEAMLESS_CHROMA_DE


@pytest.mark.parametrize("photo", PAIRS)
def test_seamless_keeps_the_product_opaque_and_sharp(photo):
    result, ref = replaced(photo, PAIRS[photo], blend_mode="seamless")
    assert quality.sharpness_ratio(result.image, ref) >= MIN_SHARPNESS
    assert abs(quality.lightness_shift(result.image, ref)) <= MAX_LIGHTNESS_SHIFT


@pytest.mark.parametrize("photo", PAIRS)
def test_auto_blend_stays_within_the_default_limits(photo):
    result, ref = replaced(photo, PAIRS[photo], blend_mode="auto")
    assert quality.chroma_delta_e(result.image, ref) <= MAX_CHROMA_DE
    assert abs(quality.lightness_shift(result.image, ref)) <= MAX_LIGHTNESS_SHIFT
    assert quality.sharpness_ratio(result.image, ref) >= MIN_SHARPNESS


def test_auto_blend_that_picks_seamless_stays_within_the_default_limits():
    result, ref = replaced("rocket", "white_bottle", blend_mode="auto")
    assert result.blend_mode == "seamless"           # a white bottle against a night sky
    assert quality.chroma_delta_e(result.image, ref) <= MAX_CHROMA_DE
    assert abs(quality.lightness_shift(result.image, ref)) <= MAX_LIGHTNESS_SHIFT
    assert quality.sharpness_ratio(result.image, ref) >= MIN_SHARPNESS


def test_shadow_beside_a_seamless_product_has_no_hard_edge():
    plain, _ = replaced("coffee", "teal_jar", blend_mode="seamless")
    shaded, _ = replaced("coffee", "teal_jar", blend_mode="seamless", shadow=0.6)
    darkening = 1 - shaded.image.astype(np.float32).sum(axis=2) / np.maximum(plain.image.sum(axis=2), 1)
    x1, y1, x2, _ = shaded.placement.box
    reach = (x2 - x1) // 2
    # the columns either side of the product, where a cut-off shadow showed as a line
    beside = np.hstack([darkening[y1:, x1 - reach:x1], darkening[y1:, x2:x2 + reach]])
    assert beside.max() > 0.1
    assert np.abs(np.diff(beside, axis=0)).max() <= MAX_SHADOW_ROW_STEP


def test_white_band_touching_both_edges_survives_the_cut_out():
    pasted, can = scene("coffee"), product("opaque_can_on_light_backdrop")
    result = replace_product(pasted.image, pasted.mask, can.rgba, CompositeSettings())
    ref = quality.reference(can.truth, can.band, result.placement.box, pasted.mask.shape)
    assert result.cutout == "background_model"
    assert quality.band_kept(result.image, ref, pasted.photo) >= MIN_BAND_KEPT


def test_opaque_product_keeps_its_colours_and_sharpness():
    pasted, can = scene("coffee"), product("opaque_can_on_light_backdrop")
    result = replace_product(pasted.image, pasted.mask, can.rgba, CompositeSettings())
    ref = quality.reference(can.truth, can.band, result.placement.box, pasted.mask.shape)
    assert quality.chroma_delta_e(result.image, ref) <= MAX_CHROMA_DE
    assert quality.sharpness_ratio(result.image, ref) >= MIN_SHARPNESS


def test_busy_background_product_is_used_whole_with_a_warning():
    pasted, busy = scene("cat"), product("busy_photo_product")
    result = replace_product(pasted.image, pasted.mask, busy.rgba, CompositeSettings())
    x1, y1, x2, y2 = result.placement.box
    h, w = busy.rgba.shape[:2]
    assert result.cutout == "none"
    assert abs((x2 - x1) / (y2 - y1) - w / h) < 0.02
    assert [warning.code for warning in result.warnings] == ["product_background_busy"]
    assert "plain backdrop" in result.warnings[0].message
