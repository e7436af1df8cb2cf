"""Putting a rendered product onto a background: soft edges, blend modes, contact shadow.

All arrays cover the same region of the scene: background HxWx3 uint8 RGB, product colours
HxWx3 float32 0..255, alpha HxW float32 0..1.
"""
from __future__ import annotations

import cv2
import numpy as np

from .cutout import _spread_colours

SHADOW_DARKNESS = 0.75   # multiplier lost at the contact line at shadow strength 1
LIGHTING_GAP_L = 30.0    # Lab lightness difference from which "auto" switches to seamless
AUTO_FEATHER_SIDE_PX = 400   # automatic feather: 1 px per this many px of the product's shorter side
WRAP_BAND_SHARE = 0.03   # seamless: depth of the rim the scene's light reaches, share of the shorter side
WRAP_SHARE = 0.5         # seamless: scene colour mixed into the rim, times the share of scene around a pixel


def auto_feather(size: tuple[int, int]) -> int:
    """The feather (px) for a product drawn at size (width, height) scene px: an edge softening
    that stays a small fraction of the product, so it never reads as blur."""
    return max(1, round(min(size) / AUTO_FEATHER_SIDE_PX))


def feather_reach(feather: int) -> int:
    """How far (px) feathering spreads alpha beyond the product's outline."""
    return feather


def feather_alpha(alpha: np.ndarray, feather: int) -> np.ndarray:
    """Alpha with a soft fade over about `feather` px just outside the product's outline.

    Only the outside gains alpha: the result is the larger of the alpha and its blur, so every
    pixel of the product keeps its own alpha (nothing of it turns see-through, it is not
    blurred, and the outline, where alpha is 0.5, stays where it is). feather 0 gives a hard
    edge (alpha >= 0.5 becomes 1, else 0).
    """
    if feather == 0:
        return (alpha >= 0.5).astype(np.float32)
    size = 2 * feather + 1
    # replicate: at the image border the product continues past it and must not fade out
    blurred = cv2.GaussianBlur(alpha, (size, size), feather / 2.0, borderType=cv2.BORDER_REPLICATE)
    return np.maximum(blurred, alpha, out=blurred)


def extend_colours(rgb: np.ndarray, alpha: np.ndarray, reach: int) -> np.ndarray:
    """Give fully transparent pixels within `reach` px of the product the product's colours.

    Feathering makes them slightly visible; their own colour is meaningless (old background).
    """
    return _spread_colours(rgb, alpha, 2 * reach + 1, alpha <= 0)


def alpha_blend(background: np.ndarray, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """background*(1-a) + rgb*a, rounded to uint8; pixels with a == 0 stay exactly as they were."""
    a = alpha[..., None]
    mixed = background.astype(np.float32)
    mixed *= 1.0 - a
    mixed += rgb * a
    mixed += 0.5
    out = np.clip(mixed, 0, 255, out=mixed).astype(np.uint8)
    return cv2.copyTo(background, (alpha <= 0).view(np.uint8), out)


def wrap_band_px(size: tuple[int, int]) -> int:
    """Depth (px) of the product's rim that seamless blending adapts, for a product drawn at
    size (width, height): WRAP_BAND_SHARE of its shorter side, at least 2 px."""
    return max(2, round(WRAP_BAND_SHARE * min(size)))


def scene_light(coverage: np.ndarray, background: np.ndarray, band_px: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """What seamless blending mixes into the product's rim, over a region of the scene.

    coverage: HxW float32, the product's alpha; background: HxWx3 uint8, the scene behind it;
    band_px: depth of the rim. Returns (weight HxW float32, colour HxWx3 float32): each
    product pixel becomes colour * weight + its own * (1 - weight). colour is the mean of
    the scene within band_px (scene pixels weighted by how uncovered they are); weight is
    WRAP_SHARE times the share of that neighbourhood that is scene: about a quarter at a
    straight outline, fading to exactly 0 band_px inside it, so the interior keeps its
    colours. This is what a Poisson solve over the rim with the interior held fixed
    approaches, in one pass: across a thin band the harmonic blend between the scene at
    the outline and the product inside is close to such a linear fade.
    Values within band_px of the region's border see only part of the neighbourhood.
    """
    size = (2 * band_px + 1,) * 2
    uncovered = 1.0 - coverage
    # mirrored, not replicated: a replicated border would multiply its own pixels' weight
    scene_share = cv2.blur(uncovered, size, borderType=cv2.BORDER_REFLECT)
    colour = cv2.blur(background.astype(np.float32) * uncovered[..., None], size,
                      borderType=cv2.BORDER_REFLECT)
    colour /= np.maximum(scene_share, 1e-4)[..., None]
    return WRAP_SHARE * scene_share, colour


def lighting_gap(product_l: float, surroundings_l: float) -> float:
    return abs(product_l - surroundings_l)


def wants_seamless(product_l: float, surroundings_l: float) -> bool:
    """auto mode: the product's lightness is far from its surroundings', so let the scene's
    light fall on its rim (seamless)."""
    return lighting_gap(product_l, surroundings_l) > LIGHTING_GAP_L


def contact_shadow(base: tuple[int, int], bottom_row: int, shape: tuple[int, int],
                   strength: float) -> tuple[tuple[slice, slice], np.ndarray]:
    """Where and how much to darken the ground just below a product.

    base: first and last column (inclusive) of the product's lowest rows, bottom_row: its
    lowest opaque row, both in the coordinates of a region of `shape` (rows, columns).
    Returns (rows, columns) slices of the region and the float32 multiplier (<= 1) for them;
    the rest of the region stays as it is. The shadow is a blurred ellipse a little wider than
    the product's base, centred on its lowest row: its upper half lies on the ground behind
    the product (hidden where the product covers it), so it fades out smoothly on every side
    and shows no edge at any size.
    """
    h, w = shape
    half_width = (base[1] - base[0] + 1) * 0.6
    half_height = max(3.0, 0.12 * half_width)
    centre_x = round((base[0] + base[1] + 1) / 2)
    blur = 2 * round(half_height / 2) + 1
    # past the (anti-aliased) ellipse by the blur's reach, the shade is 0 and the
    # blur's border rule has only zeros to reflect
    reach_x, reach_y = round(half_width) + blur // 2 + 2, round(half_height) + blur // 2 + 2
    x1, x2 = max(0, centre_x - reach_x), min(w, centre_x + reach_x + 1)
    y1, y2 = max(0, bottom_row - reach_y), min(h, bottom_row + reach_y + 1)
    shade = np.zeros((max(0, y2 - y1), max(0, x2 - x1)), np.float32)
    if shade.size:
        cv2.ellipse(shade, (centre_x - x1, bottom_row - y1), (round(half_width), round(half_height)),
                    0, 0, 360, 1.0, -1, cv2.LINE_AA)
        shade = cv2.GaussianBlur(shade, (blur, blur), 0)
    return (slice(y1, y2), slice(x1, x2)), 1.0 - SHADOW_DARKNESS * strength * shade
