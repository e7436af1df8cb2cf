"""replace_product, mask_preview and CompositeSettings: behaviour unit by unit."""
from __future__ import annotations

import math

import numpy as np
import pytest

from handler.compositing import CompositeSettings, CompositingError, SettingsError, mask_preview, replace_product
from handler.compositing.blending import auto_feather, contact_shadow, feather_alpha
from handler.compositing.cutout import bleed_colours, bridged_gaps
from handler.compositing.preview import OUTLINE_RGB

from support.scenes import jar_rgba, opaque_product_on_plain


def mask_box(mask):
    ys, xs = np.nonzero(mask)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


# --- settings -------------------------------------------------------------------------------

def test_settings_from_json_mapping_accept_every_field():
    settings = CompositeSettings.from_mapping({
        "scale": 1.5, "feather": 0, "color_grading": False, "color_strength": 1, "grading_target": "image",
        "cutout": "none", "remove_old": False, "anchor": "center", "offset": [-3, 4],
        "blend_mode": "auto", "shadow": 0.5})
    assert settings.offset == (-3, 4) and settings.scale == 1.5 and settings.anchor == "center"


def test_settings_from_empty_mapping_are_the_defaults():
    assert CompositeSettings.from_mapping({}) == CompositeSettings()


def test_feather_given_as_whole_float_is_accepted():
    assert CompositeSettings.from_mapping({"feather": 15.0}).feather == 15


def test_settings_error_names_field_and_range():
    with pytest.raises(SettingsError) as caught:
        CompositeSettings.from_mapping({"scale": 3})
    assert caught.value.field == "scale"
    assert str(caught.value) == "settings.scale must be a number from 0.5 to 2.0"


@pytest.mark.parametrize("field, value", [
    ("scale", 0.4), ("scale", 2.01), ("scale", "1"), ("scale", True), ("scale", math.nan),
    ("scale", math.inf), ("scale", None),
    ("feather", -1), ("feather", 31), ("feather", 1.5), ("feather", True),
    ("color_grading", 1), ("color_grading", "true"),
    ("color_strength", -0.1), ("color_strength", 1.1), ("color_strength", False),
    ("grading_target", "wall"), ("grading_target", 1),
    ("cutout", "magic"), ("remove_old", 0), ("anchor", "top"),
    ("offset", [1]), ("offset", [1, 2, 3]), ("offset", [1.5, 0]), ("offset", ["a", 0]),
    ("offset", 7), ("offset", [True, 0]), ("offset", [10 ** 9, 0]),
    ("blend_mode", "poisson"), ("shadow", 1.5), ("shadow", -0.5),
])
def test_invalid_setting_is_rejected_naming_its_field(field, value):
    with pytest.raises(SettingsError) as caught:
        CompositeSettings.from_mapping({field: value})
    assert caught.value.field == field
    assert f"settings.{field}" in caught.value.message


def test_unknown_setting_is_rejected():
    with pytest.raises(SettingsError) as caught:
        CompositeSettings.from_mapping({"opacity": 0.5})
    assert caught.value.field == "opacity"


def test_settings_are_validated_when_built_directly():
    with pytest.raises(SettingsError):
        CompositeSettings(feather=99)


# --- placement -------------------------------------------------------------------------------

def test_offset_moves_placement_by_exactly_the_offset(scene, jar):
    base = replace_product(scene.image, scene.mask, jar, CompositeSettings()).placement.box
    moved = replace_product(scene.image, scene.mask, jar, CompositeSettings(offset=(25, -10))).placement.box
    assert np.subtract(moved, base).tolist() == [25, -10, 25, -10]


def test_center_anchor_centres_product_on_mask_box(scene, jar):
    x1, y1, x2, y2 = replace_product(scene.image, scene.mask, jar, CompositeSettings(anchor="center")).placement.box
    mx1, my1, mx2, my2 = mask_box(scene.mask)
    assert abs((x1 + x2) - (mx1 + mx2)) <= 1 and abs((y1 + y2) - (my1 + my2)) <= 1


def test_bottom_anchor_puts_placement_bottom_on_mask_bottom(scene, jar):
    placement = replace_product(scene.image, scene.mask, jar, CompositeSettings()).placement.box
    assert placement[3] == mask_box(scene.mask)[3]


@pytest.mark.parametrize("offset", [(-400, -300), (400, 300), (-400, 300), (400, -300)])
def test_product_past_any_border_is_clipped_without_error(scene, jar, offset):
    settings = CompositeSettings(offset=offset, scale=2.0, remove_old=False, feather=0)
    result = replace_product(scene.image, scene.mask, jar, settings)
    x1, y1, x2, y2 = result.placement.box
    h, w = scene.mask.shape
    assert x1 < 0 or y1 < 0 or x2 > w or y2 > h
    assert result.image.shape == scene.image.shape
    assert not np.array_equal(result.image, scene.image)


def test_placement_reports_box_scale_and_anchor(scene, jar):
    placement = replace_product(scene.image, scene.mask, jar, CompositeSettings(anchor="center")).placement
    bx1, _, bx2, _ = mask_box(jar[..., 3] >= 128)
    x1, _, x2, _ = placement.box
    assert placement.anchor == "center"
    assert placement.scale == pytest.approx((x2 - x1) / (bx2 - bx1))
    assert placement.as_dict() == {"box": list(placement.box), "scale": round(placement.scale, 4),
                                   "anchor": "center", "rotation": 0.0, "flipped": False}


def test_product_enlarged_more_than_twice_is_warned(scene):
    small = jar_rgba(60, 44, margin=4)
    result = replace_product(scene.image, scene.mask, small, CompositeSettings())
    (warning,) = result.warnings
    assert result.placement.scale > 2
    assert warning.code == "product_upscaled"
    assert warning.details["scale"] == pytest.approx(result.placement.scale, abs=1e-3)


def test_product_drawn_at_most_twice_its_size_has_no_warning(scene, jar):
    assert replace_product(scene.image, scene.mask, jar, CompositeSettings()).warnings == ()


def test_product_entirely_outside_image_still_removes_old_one(scene, jar):
    result = replace_product(scene.image, scene.mask, jar, CompositeSettings(offset=(5000, 0)))
    assert not np.array_equal(result.image[scene.mask], scene.image[scene.mask])


def test_inputs_are_not_modified(scene, jar):
    image, mask, product = scene.image.copy(), scene.mask.copy(), jar.copy()
    replace_product(image, mask, product, CompositeSettings(blend_mode="seamless", shadow=1.0))
    assert np.array_equal(image, scene.image) and np.array_equal(mask, scene.mask)
    assert np.array_equal(product, jar)


def test_same_inputs_give_identical_output(scene, jar):
    first = replace_product(scene.image, scene.mask, jar, CompositeSettings())
    second = replace_product(scene.image, scene.mask, jar, CompositeSettings())
    assert np.array_equal(first.image, second.image)


# --- cut-out -------------------------------------------------------------------------------

def test_transparent_product_uses_its_alpha(scene, jar):
    assert replace_product(scene.image, scene.mask, jar, CompositeSettings()).cutout == "alpha"


def test_opaque_product_on_plain_background_uses_background_model(scene):
    product = opaque_product_on_plain()
    assert replace_product(scene.image, scene.mask, product, CompositeSettings()).cutout == "background_model"


def test_opaque_product_on_busy_background_is_kept_whole_with_a_warning(scene):
    busy = opaque_product_on_plain().copy()
    noise = np.random.default_rng(3).integers(0, 255, busy.shape[:2] + (3,), dtype=np.uint8)
    border = np.ones(busy.shape[:2], bool)
    border[30:-30, 30:-30] = False
    busy[..., :3][border] = noise[border]
    result = replace_product(scene.image, scene.mask, busy, CompositeSettings())
    assert result.cutout == "none"
    assert [w.code for w in result.warnings] == ["product_background_busy"]


def test_cutout_none_uses_the_whole_rectangle(scene, jar):
    result = replace_product(scene.image, scene.mask, jar, CompositeSettings(cutout="none"))
    x1, y1, x2, y2 = result.placement.box
    assert result.cutout == "none"
    assert abs((x2 - x1) / (y2 - y1) - jar.shape[1] / jar.shape[0]) < 0.02


def test_gaps_across_the_product_are_bridged_but_its_concave_outline_is_not():
    body = np.zeros((100, 60), bool)
    body[5:95, 10:50] = True          # a can ...
    body[40:60, 10:50] = False        # ... whose band, the backdrop's colour, runs edge to edge
    body[0:5, 25:35] = True           # a narrow neck on top: its sides are concave, not gaps
    bridged = bridged_gaps(body)
    assert bridged[40:60, 10:50].all()
    assert not bridged[0:5, :25].any() and not bridged[0:5, 35:].any()
    assert not bridged[:, :10].any() and not bridged[:, 50:].any()


def test_colours_of_pixels_interpolation_leaves_just_under_opaque_are_kept():
    rgb = np.zeros((20, 20, 3), np.float32)
    rgb[:10] = (30, 110, 60)
    rgb[10:] = (235, 225, 200)
    alpha = np.full((20, 20), 1 - 1e-6, np.float32)   # a bicubic sum of weights is not exactly 1
    assert np.array_equal(bleed_colours(rgb, alpha), rgb)


def test_rgb_product_without_alpha_is_accepted(scene):
    rgb = opaque_product_on_plain()[..., :3]
    assert replace_product(scene.image, scene.mask, rgb, CompositeSettings()).cutout == "background_model"


# --- blending and shadow ----------------------------------------------------------------------

@pytest.mark.parametrize("size, feather", [((80, 200), 1), ((400, 900), 1), ((700, 1000), 2), ((1600, 1200), 3)])
def test_automatic_feather_is_about_one_px_per_400_px_of_the_shorter_side(size, feather):
    assert auto_feather(size) == feather


def test_result_reports_the_feather_used(scene, jar):
    assert replace_product(scene.image, scene.mask, jar, CompositeSettings()).feather == 1
    assert replace_product(scene.image, scene.mask, jar, CompositeSettings(feather=7)).feather == 7


def test_feather_never_lowers_the_products_own_alpha():
    alpha = np.zeros((60, 60), np.float32)
    alpha[20:40, 20:40] = 1.0
    alpha[20:40, 19] = 0.5
    for feather in (1, 5, 15):
        softened = feather_alpha(alpha, feather)
        assert (softened >= alpha).all()
        assert softened[20 - (feather + 1) // 2, 30] > 0   # the fade reaches outside the outline


def test_seamless_blend_is_reported_and_changes_the_result(scene, jar):
    alpha = replace_product(scene.image, scene.mask, jar, CompositeSettings())
    seamless = replace_product(scene.image, scene.mask, jar, CompositeSettings(blend_mode="seamless"))
    assert seamless.blend_mode == "seamless"
    assert not np.array_equal(seamless.image, alpha.image)


def solid_product(rgb) -> np.ndarray:
    product = jar_rgba()
    product[..., :3][product[..., 3] > 0] = rgb
    return product


def test_auto_blend_chooses_seamless_when_lighting_differs_a_lot(scene):
    settings = CompositeSettings(blend_mode="auto", color_grading=False)
    assert replace_product(scene.image, scene.mask, solid_product((15, 15, 15)), settings).blend_mode == "seamless"


def test_auto_blend_keeps_alpha_when_lighting_is_similar(scene):
    settings = CompositeSettings(blend_mode="auto", color_grading=False)
    assert replace_product(scene.image, scene.mask, solid_product((200, 190, 170)), settings).blend_mode == "alpha"


def test_shadow_only_darkens_around_the_base_of_the_product(scene, jar):
    plain = replace_product(scene.image, scene.mask, jar, CompositeSettings()).image.astype(int)
    result = replace_product(scene.image, scene.mask, jar, CompositeSettings(shadow=1.0))
    shaded = result.image.astype(int)
    rows = np.flatnonzero((shaded != plain).any(axis=(1, 2)))
    x1, _, x2, bottom = result.placement.box
    assert rows.size > 0
    assert rows.min() >= bottom - 0.15 * (x2 - x1)
    assert (shaded <= plain).all()


@pytest.mark.parametrize("base_width", [20, 160, 640])
def test_shadow_has_no_hard_edge_at_any_size(base_width):
    _, multiplier = contact_shadow((100, 100 + base_width - 1), 300, (1000, 2000), 1.0)
    vertical = np.abs(np.diff(multiplier, axis=0)).max()
    horizontal = np.abs(np.diff(multiplier, axis=1)).max()
    # its top fades as softly as its sides (a cut-off top steps by the full darkness at once)
    assert vertical <= 1.25 * horizontal
    assert vertical < 0.5 * (1 - multiplier.min())


def test_shadow_is_not_drawn_for_centre_anchored_product(scene, jar):
    plain = replace_product(scene.image, scene.mask, jar, CompositeSettings(anchor="center")).image
    shaded = replace_product(scene.image, scene.mask, jar, CompositeSettings(anchor="center", shadow=1.0)).image
    assert np.array_equal(plain, shaded)


# --- errors ------------------------------------------------------------------------------

def test_empty_mask_is_a_compositing_error(scene, jar):
    with pytest.raises(CompositingError, match="draw a box around the product"):
        replace_product(scene.image, np.zeros_like(scene.mask), jar, CompositeSettings())


def test_fully_transparent_product_is_a_compositing_error(scene, jar):
    invisible = jar.copy()
    invisible[..., 3] = 0
    with pytest.raises(CompositingError, match="no opaque pixels"):
        replace_product(scene.image, scene.mask, invisible, CompositeSettings(cutout="alpha"))


def test_mask_of_other_size_is_a_compositing_error(scene, jar):
    with pytest.raises(CompositingError):
        replace_product(scene.image, scene.mask[:-1], jar, CompositeSettings())


# --- mask preview --------------------------------------------------------------------------

def test_mask_preview_outlines_the_mask(scene):
    preview = mask_preview(scene.image, scene.mask)
    outline = (preview == OUTLINE_RGB).all(axis=2)
    edge = scene.mask & ~np.pad(scene.mask, 1)[2:, 1:-1] | scene.mask & ~np.pad(scene.mask, 1)[:-2, 1:-1]
    assert outline[edge].mean() > 0.9


def test_mask_preview_tints_inside_and_leaves_far_pixels_alone(scene):
    preview = mask_preview(scene.image, scene.mask).astype(int)
    x1, y1, x2, y2 = mask_box(scene.mask)
    inside = preview[(y1 + y2) // 2 + 20, (x1 + x2) // 2]
    original = scene.image[(y1 + y2) // 2 + 20, (x1 + x2) // 2].astype(int)
    assert inside[2] > original[2] + 40          # visibly bluer
    assert np.array_equal(preview[:20, :20], scene.image[:20, :20])
