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

from .blending import alpha_blend, extend_colours, feather_alpha, feather_reach, seamless_clone
from .cutout import OPAQUE, bleed_colours
from .grading import Grading, grade
from .placement import Box, Resampling, render_alpha, render_colours, resampling

BAND_ROWS = 128             # window rows per band
BLEED_RADIUS = 3            # px: bleed_colours' reach
GRADING_SAMPLE_PX = 250_000  # the product's colour statistics come from about this many opaque pixels
FULLY_COVERED = 254.5 / 255  # feathered alpha that rounds to the product alone


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


def colours(layer: ProductLayer, rows: tuple[int, int], extended: bool = True) -> np.ndarray:
    """Ungraded product colours over window rows [first, stop): float32 Rx Wx3 in 0..255.

    Edge colours are freed of the old background (bleed_colours); with `extended`, the
    transparent pixels the feather makes visible get the product's colours too.
    """
    reach = feather_reach(layer.feather) + 1
    top, bottom = _with_halo(rows, BLEED_RADIUS + (reach if extended else 0), layer.coverage.shape[0])
    alpha = layer.coverage[top:bottom]
    rgb = bleed_colours(render_colours(layer.product, (top, bottom), alpha), alpha, BLEED_RADIUS)
    if extended:
        rgb = extend_colours(rgb, alpha, reach)
    return rgb[rows[0] - top:rows[1] - top]


def opaque_colours(layer: ProductLayer) -> np.ndarray:
    """Nx3 float32 colours of the product's opaque pixels (alpha >= OPAQUE), in raster order.

    From every band while there are at most about GRADING_SAMPLE_PX of them, else from
    every k-th band: statistics need no more, and a big product then costs a fraction of
    a second pass.
    """
    opaque = layer.coverage >= OPAQUE
    step = max(1, int(np.count_nonzero(opaque)) // GRADING_SAMPLE_PX)
    picked = [colours(layer, (first, stop), extended=False)[opaque[first:stop]]
              for first, stop in bands(opaque.shape[0])[::step]]
    return np.concatenate(picked) if picked else np.zeros((0, 3), np.float32)


def composite(background: np.ndarray, layer: ProductLayer, grading: Grading | None,
              blend_mode: str) -> np.ndarray:
    """The window's background (HxWx3 uint8) with the product blended in: HxWx3 uint8.

    blend_mode "alpha" mixes by the feathered alpha; "seamless" first clones the product
    in by Poisson blending, so it takes on the lighting at its boundary, then feathers.
    Pixels the feathered alpha does not reach keep their exact values.
    """
    def graded(rows: tuple[int, int]) -> np.ndarray:
        rgb = colours(layer, rows)
        return rgb if grading is None else grade(rgb, grading)

    out = np.empty_like(background)
    if blend_mode == "seamless":
        pasted = np.empty_like(background)
        footprint = np.empty(background.shape[:2], bool)
        for first, stop in bands(background.shape[0]):
            footprint[first:stop] = feathered_alpha(layer, (first, stop)) > 0
            pasted[first:stop] = alpha_blend(background[first:stop], graded((first, stop)),
                                             footprint[first:stop].astype(np.float32))
        product = seamless_clone(background, pasted, footprint)
        del pasted, footprint
    for first, stop in bands(background.shape[0]):
        rgb = graded((first, stop)) if blend_mode != "seamless" else product[first:stop].astype(np.float32)
        out[first:stop] = alpha_blend(background[first:stop], rgb, feathered_alpha(layer, (first, stop)))
    return out


def _with_halo(rows: tuple[int, int], halo: int, height: int) -> tuple[int, int]:
    return max(0, rows[0] - halo), min(height, rows[1] + halo)
