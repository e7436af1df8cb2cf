"""The new product rendered over its window of the scene, one band of rows at a time.

Only a band of float colours is held at once, so a product drawn across the whole frame
costs little more memory than a small one: the float RGB of a 1000x1000 window alone is
11 MB, and bleeding, extending, grading and blending each need one or two more of those.
Every band is computed with enough rows around it (its halo) that its pixels come out as
if the whole window had been processed in one piece.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .blending import (
    alpha_blend,
    extend_colours,
    feather_alpha,
    feather_reach,
    scene_light,
)
from .cutout import OPAQUE, bleed_colours
from .grading import Grading, grade
from .placement import Box, Resampling, render_alpha, render_colours, resampling

BAND_ROWS = 128             # window rows per band
BLEED_RADIUS = 3            # px: bleed_colours' reach
GRADING_SAMPLE_PX = 250_000  # the product's colour statistics come from about this many opaque pixels
SAMPLE_ROWS = 32            # rows per strip when statistics come from every k-th strip
FULLY_COVERED = 254.5 / 255  # feathered alpha that rounds to the product alone

Part = tuple[tuple[int, int], tuple[int, int]]   # ([first, stop) rows, [first, stop) columns) of the window


@dataclass(frozen=True)
class ProductLayer:
    """The product ready to blend over its window.

    coverage: HxW float32 0..1, the product's unfeathered alpha over the window;
    feather: width in px of the soft edge (CompositeSettings.feather).
    """

    product: Resampling
    coverage: np.ndarray
    feather: int

    @property
    def window(self) -> Box:
        return self.product.window


def product_layer(rgba: np.ndarray, product_box: Box, target: Box, window: Box,
                  feather: int) -> ProductLayer:
    """The cut-out (hxwx4 uint8 RGBA) mapped so product_box (product px) lands on target
    (scene px), over window (scene px, clipped to the image)."""
    product = resampling(rgba, product_box, target, window)
    coverage = np.empty(product.shape, np.float32)
    for rows in bands(product.shape[0]):
        coverage[rows[0]:rows[1]] = render_alpha(product, rows)
    return ProductLayer(product, coverage, feather)


def bands(height: int) -> list[tuple[int, int]]:
    """[first, stop) row ranges of BAND_ROWS covering `height` rows."""
    return [(first, min(height, first + BAND_ROWS)) for first in range(0, height, BAND_ROWS)]


def fully_covered(layer: ProductLayer) -> np.ndarray:
    """HxW bool over the window: where the blended result is the product alone."""
    covered = np.empty(layer.coverage.shape, bool)
    for first, stop in bands(layer.coverage.shape[0]):
        covered[first:stop] = feathered_alpha(layer, (first, stop)) >= FULLY_COVERED
    return covered


def feathered_alpha(layer: ProductLayer, rows: tuple[int, int]) -> np.ndarray:
    """The feathered alpha over window rows [first, stop): float32 0..1."""
    top, bottom = _with_halo(rows, feather_reach(layer.feather), layer.coverage.shape[0])
    return feather_alpha(layer.coverage[top:bottom], layer.feather)[rows[0] - top:rows[1] - top]


def colours(layer: ProductLayer, part: Part, extended: bool = True) -> np.ndarray:
    """Ungraded product colours over a part of the window: float32 RxCx3 in 0..255.

    Edge colours are freed of the old background (bleed_colours); with `extended`, the
    transparent pixels the feather makes visible get the product's colours too.
    """
    reach = feather_reach(layer.feather) + 1
    halo = BLEED_RADIUS + (reach if extended else 0)
    rows, columns = part
    h, w = layer.coverage.shape
    (top, bottom), (left, right) = _with_halo(rows, halo, h), _with_halo(columns, halo, w)
    alpha = layer.coverage[top:bottom, left:right]
    rgb = render_colours(layer.product, (top, bottom), (left, right), alpha)
    rgb = bleed_colours(rgb, alpha, BLEED_RADIUS)
    if extended:
        rgb = extend_colours(rgb, alpha, reach)
    return rgb[rows[0] - top:rows[1] - top, columns[0] - left:columns[1] - left]


def opaque_colours(layer: ProductLayer) -> np.ndarray:
    """Nx3 float32 colours of the product's opaque pixels (alpha >= OPAQUE), in raster order.

    From all rows while there are at most about GRADING_SAMPLE_PX such pixels, else from
    every k-th strip of SAMPLE_ROWS rows: statistics need no more, and a big product then
    costs a fraction of a second pass.
    """
    opaque = layer.coverage >= OPAQUE
    step = max(1, int(np.count_nonzero(opaque)) // GRADING_SAMPLE_PX)
    height = opaque.shape[0]
    strips = bands(height) if step == 1 else [(first, min(first + SAMPLE_ROWS, height))
                                               for first in range(0, height, SAMPLE_ROWS * step)]
    picked = []
    for rows in strips:
        strip = opaque[rows[0]:rows[1]]
        columns = _span(strip)
        if columns is not None:
            picked.append(colours(layer, (rows, columns), extended=False)[strip[:, columns[0]:columns[1]]])
    return np.concatenate(picked) if picked else np.zeros((0, 3), np.float32)


def composite(background: np.ndarray, layer: ProductLayer, grading: Grading | None,
              wrap_px: int = 0) -> np.ndarray:
    """The window's background (HxWx3 uint8) with the product blended in: HxWx3 uint8.

    The product's colours (graded when `grading` is given) are mixed over the background by
    the feathered alpha. wrap_px > 0 is seamless blending: the scene's light also falls on
    the product's rim, that many px deep (blending.scene_light); its interior is unchanged.
    Pixels the feathered alpha does not reach keep their exact values.
    """
    h, w = background.shape[:2]
    out = background.copy()
    for rows in bands(h):
        alpha = feathered_alpha(layer, rows)
        columns = _span(alpha > 0)
        if columns is None:
            continue
        region = _region((rows, columns))
        rgb = colours(layer, (rows, columns))
        if grading is not None:
            rgb = grade(rgb, grading)
        if wrap_px:
            (top, bottom), (left, right) = _with_halo(rows, wrap_px, h), _with_halo(columns, wrap_px, w)
            weight, light = scene_light(layer.coverage[top:bottom, left:right],
                                        background[top:bottom, left:right], wrap_px)
            inner = np.s_[rows[0] - top:rows[1] - top, columns[0] - left:columns[1] - left]
            rgb += weight[inner][..., None] * (light[inner] - rgb)
        out[region] = alpha_blend(background[region], rgb, alpha[:, columns[0]:columns[1]])
    return out


def _span(where: np.ndarray) -> tuple[int, int] | None:
    """[first, stop) of the columns of a 2-D bool array that hold a True, or None."""
    columns = np.flatnonzero(where.any(axis=0))
    return None if columns.size == 0 else (int(columns[0]), int(columns[-1]) + 1)


def _region(part: Part) -> tuple[slice, slice]:
    (first, stop), (left, right) = part
    return slice(first, stop), slice(left, right)


def _with_halo(span: tuple[int, int], halo: int, length: int) -> tuple[int, int]:
    """[first, stop) widened by `halo` on both sides, within 0..length."""
    return max(0, span[0] - halo), min(length, span[1] + halo)
