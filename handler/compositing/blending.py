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
SEAMLESS_MAX_PX = 64_000    # Poisson solves larger than this run at reduced resolution (memory)
SEAMLESS_BAND_ROWS = 128    # the reduced solve's correction is upsampled this many rows at a time
AUTO_FEATHER_SIDE_PX = 400   # automatic feather: 1 px per this many px of the product's shorter side


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


def seamless_clone(background: np.ndarray, pasted: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Poisson (seamless) clone of the pasted product into the background: HxWx3 uint8.

    pasted: the background with the product's colours pasted opaquely over its footprint
    (HxW bool, alpha > 0). Inside the footprint the colours follow the background's lighting
    at its boundary; blend the result with the feathered alpha afterwards.
    OpenCV's solver needs about 100 bytes per pixel; above SEAMLESS_MAX_PX pixels the
    correction it adds to the product (a smooth membrane) is solved at reduced resolution.
    """
    if not footprint.any():
        return background.copy()
    if footprint.size <= SEAMLESS_MAX_PX:
        return _poisson_clone(background, pasted, footprint)
    h, w = footprint.shape
    factor = np.sqrt(SEAMLESS_MAX_PX / footprint.size)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    small = [cv2.resize(a, size, interpolation=cv2.INTER_AREA) for a in (background, pasted)]
    # a small pixel touching the footprint is part of it, so the membrane reaches its edge
    small_footprint = cv2.resize(footprint.astype(np.uint8) * np.uint8(255), size,
                                 interpolation=cv2.INTER_AREA) > 0
    correction = _poisson_clone(*small, small_footprint).astype(np.float32) - small[1]
    correction = _extended_outward(correction, small_footprint)
    out = pasted.copy()
    for first in range(0, h, SEAMLESS_BAND_ROWS):
        stop = min(h, first + SEAMLESS_BAND_ROWS)
        band = _upsampled_rows(correction, (w, h), (first, stop))
        band += pasted[first:stop]
        cv2.copyTo(np.clip(band + 0.5, 0, 255).astype(np.uint8), footprint[first:stop].view(np.uint8),
                   out[first:stop])
    return out


def _poisson_clone(background: np.ndarray, pasted: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    pad = 2  # seamlessClone needs the mask clear of the image border
    padded = [cv2.copyMakeBorder(a, pad, pad, pad, pad, cv2.BORDER_REFLECT) for a in (pasted, background)]
    mask = np.pad(footprint, pad).astype(np.uint8) * 255
    x, y, w, h = cv2.boundingRect(mask)
    # OpenCV places the source's mask box centred on `center` with integer halving, and
    # overwrites the mask it is given
    cloned = cv2.seamlessClone(padded[0], padded[1], mask.copy(), (x + w // 2, y + h // 2),
                               cv2.NORMAL_CLONE)
    return cloned[pad:-pad, pad:-pad]


def _extended_outward(values: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """values (HxWx3 float32) with the pixels just outside `inside` given the mean of their
    inside neighbours, so upsampling does not pull the edge toward zero."""
    weight = inside.astype(np.float32)
    total = cv2.blur(weight, (3, 3))
    sums = cv2.blur(values * weight[..., None], (3, 3))
    rim = ~inside & (total > 0)
    out = values * weight[..., None]
    out[rim] = sums[rim] / total[rim][:, None]
    return out


def _upsampled_rows(small: np.ndarray, size: tuple[int, int], rows: tuple[int, int]) -> np.ndarray:
    """Rows [first, stop) of `small` (float32 hxwx3) resized to size (W, H) bilinearly, with
    the same pixel-centre mapping as cv2.resize."""
    sx, sy = small.shape[1] / size[0], small.shape[0] / size[1]
    # dst pixel centre (x + 0.5) / scale maps to src pixel centre; invert for warpAffine's dst->src
    matrix = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, (rows[0] + 0.5) * sy - 0.5]])
    return cv2.warpAffine(small, matrix, (size[0], rows[1] - rows[0]),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)


def lighting_gap(product_l: float, surroundings_l: float) -> float:
    return abs(product_l - surroundings_l)


def wants_seamless(product_l: float, surroundings_l: float) -> bool:
    """auto mode: the product's lightness is far from its surroundings', so clone seamlessly."""
    return lighting_gap(product_l, surroundings_l) > LIGHTING_GAP_L


def contact_shadow(base: tuple[int, int], bottom_row: int, shape: tuple[int, int],
                   strength: float) -> tuple[tuple[slice, slice], np.ndarray]:
    """Where and how much to darken the ground just below a product.

    base: first and last column (inclusive) of the product's lowest rows, bottom_row: its
    lowest opaque row, both in the coordinates of a region of `shape` (rows, columns).
    Returns (rows, columns) slices of the region and the float32 multiplier (<= 1) for them;
    the rest of the region stays as it is. The shadow is an ellipse as wide as the product's
    base, fading downward, and never reaches above the lowest two rows of the product.
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
        shade[:max(0, bottom_row - 1 - y1)] = 0.0
    return (slice(y1, y2), slice(x1, x2)), 1.0 - SHADOW_DARKNESS * strength * shade
