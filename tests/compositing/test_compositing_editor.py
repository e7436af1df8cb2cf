"""What the editor needs from replace_product: rotation, mirroring and an explicit product box."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from handler.compositing import CompositeSettings, SettingsError, replace_product

FEATHER = 3
BOX = (100, 60, 400, 300)     # a wide box in the 640x480 scene (tests/scenes.py)


def green_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """Box of the green (new product) pixels in a scene that has no other green."""
    rgb = image.astype(int)
    green = (rgb[..., 1] > rgb[..., 0] + 40) & (rgb[..., 1] > rgb[..., 2] + 20)
    ys, xs = np.nonzero(green)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def mask_bottom(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask.any(axis=1)).max()) + 1


def upright(scene, jar, **settings):
    return replace_product(scene.image, scene.mask, jar, CompositeSettings(feather=0, **settings))


@pytest.mark.parametrize("settings", [{"rotation": 30.0}, {"rotation": -90}, {"flip": True},
                                      {"placement": BOX}, {"placement": BOX, "rotation": 45.0}],
                         ids=["30", "-90", "flip", "box", "box+45"])
def test_pixels_far_from_the_old_product_and_the_new_one_are_unchanged(scene, jar, settings):
    result = replace_product(scene.image, scene.mask, jar, CompositeSettings(feather=FEATHER, **settings))
    x1, y1, x2, y2 = result.placement.box
    product = np.zeros(scene.mask.shape, bool)
    product[max(0, y1):max(0, y2), max(0, x1):max(0, x2)] = True
    # the soft edge reaches a pixel past the opaque box, the feather FEATHER more, the hole FEATHER + 2
    zone = scene.mask | product
    far = cv2.distanceTransform((~zone).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) > FEATHER + 3
    changed = np.abs(result.image.astype(int) - scene.image).max(axis=2)
    assert changed[far].max() == 0
    assert changed[~far].max() > 0


def test_flipped_product_is_the_mirror_image(scene, jar):
    plain = np.full_like(scene.image, 200)
    settings = {"remove_old": False, "color_grading": "off"}
    straight = replace_product(plain, scene.mask, jar, CompositeSettings(**settings))
    flipped = replace_product(plain, scene.mask, jar, CompositeSettings(flip=True, **settings))
    assert flipped.placement.box == straight.placement.box and flipped.placement.flipped
    x1, y1, x2, y2 = straight.placement.box
    mirrored = flipped.image[y1:y2, x1:x2][:, ::-1].astype(int)
    assert np.abs(mirrored - straight.image[y1:y2, x1:x2]).mean() < 1.0


def test_asymmetric_product_is_not_its_own_mirror_image(scene, jar):
    marked = jar.copy()
    marked[100:200, 40:80, :3] = (20, 40, 200)         # a blue patch on the jar's left
    plain = np.full_like(scene.image, 200)
    settings = {"remove_old": False, "color_grading": "off"}
    straight = replace_product(plain, scene.mask, marked, CompositeSettings(**settings)).image
    flipped = replace_product(plain, scene.mask, marked, CompositeSettings(flip=True, **settings)).image
    blue = (flipped.astype(int)[..., 2] > 150) & (flipped[..., 0] < 80)
    blue_straight = (straight.astype(int)[..., 2] > 150) & (straight[..., 0] < 80)
    assert np.flatnonzero(blue.any(axis=0)).mean() > np.flatnonzero(blue_straight.any(axis=0)).mean()


def test_quarter_turn_of_a_tall_product_gives_a_wide_box_of_the_same_size(scene, jar):
    tall = upright(scene, jar).placement.box
    turned = upright(scene, jar, rotation=90.0).placement.box
    tall_w, tall_h = tall[2] - tall[0], tall[3] - tall[1]
    wide_w, wide_h = turned[2] - turned[0], turned[3] - turned[1]
    assert tall_h > tall_w and wide_w > wide_h
    assert abs(wide_w - tall_h) <= 1 and abs(wide_h - tall_w) <= 1


def test_turned_product_still_stands_on_the_old_products_base(scene, jar):
    result = upright(scene, jar, rotation=90.0)
    assert result.placement.box[3] == mask_bottom(scene.mask)
    assert abs(green_box(result.image)[3] - mask_bottom(scene.mask)) <= 1


def test_box_grows_to_contain_a_product_turned_by_an_odd_angle(scene, jar):
    tall = upright(scene, jar).placement.box
    turned = upright(scene, jar, rotation=30.0)
    x1, y1, x2, y2 = turned.placement.box
    assert x2 - x1 > tall[2] - tall[0] and y2 - y1 > tall[3] - tall[1]
    gx1, gy1, gx2, gy2 = green_box(turned.image)
    assert gx1 >= x1 - 1 and gy1 >= y1 - 1 and gx2 <= x2 + 1 and gy2 <= y2 + 1
    assert turned.placement.rotation == 30.0


@pytest.mark.parametrize("box", [BOX, (250, 20, 330, 400)], ids=["wide", "tall"])
def test_placement_box_is_honoured_within_one_pixel(scene, jar, box):
    result = upright(scene, jar, placement=box)
    x1, y1, x2, y2 = green_box(result.image)
    bx1, by1, bx2, by2 = box
    assert result.placement.anchor == "box"
    assert x1 >= bx1 - 1 and y1 >= by1 - 1 and x2 <= bx2 + 1 and y2 <= by2 + 1
    fills_width = abs(x1 - bx1) <= 1 and abs(x2 - bx2) <= 1
    fills_height = abs(y1 - by1) <= 1 and abs(y2 - by2) <= 1
    assert fills_width or fills_height
    assert abs((x1 + x2) - (bx1 + bx2)) <= 2 and abs((y1 + y2) - (by1 + by2)) <= 2


def test_placement_box_keeps_the_products_proportions(scene, jar):
    x1, y1, x2, y2 = upright(scene, jar, placement=BOX).placement.box
    ys, xs = np.nonzero(jar[..., 3] >= 128)
    aspect = (xs.max() + 1 - xs.min()) / (ys.max() + 1 - ys.min())
    assert abs((x2 - x1) / (y2 - y1) / aspect - 1) <= 0.02


def test_placement_box_replaces_size_move_and_anchor(scene, jar):
    plain = upright(scene, jar, placement=BOX).placement.box
    other = upright(scene, jar, placement=BOX, scale=2.0, offset=(50, 50), anchor="center").placement.box
    assert plain == other


def test_shadow_is_drawn_under_a_product_in_a_placement_box(scene, jar):
    without = upright(scene, jar, placement=BOX).image.astype(int)
    shaded = upright(scene, jar, placement=BOX, shadow=1.0)
    x1, _, x2, bottom = shaded.placement.box
    below = np.s_[bottom:bottom + 10, x1:x2]
    assert (shaded.image.astype(int)[below] < without[below]).any()


@pytest.mark.parametrize("field, value", [
    ("rotation", 180.5), ("rotation", "90"), ("rotation", True), ("flip", 1),
    ("placement", [10, 10, 5, 50]), ("placement", [10, 10, 50]), ("placement", [0.5, 0, 10, 10]),
    ("placement", [True, 0, 10, 10]), ("placement", [0, 0, 10, 20001]), ("placement", "0,0,10,10"),
])
def test_invalid_editor_setting_is_rejected_naming_its_field(field, value):
    with pytest.raises(SettingsError) as caught:
        CompositeSettings.from_mapping({field: value})
    assert caught.value.field == field


def test_placement_may_be_null_and_is_a_tuple_otherwise():
    assert CompositeSettings.from_mapping({"placement": None}).placement is None
    assert CompositeSettings.from_mapping({"placement": [1, 2, 3, 4]}).placement == (1, 2, 3, 4)
