"""A mask cut out on the working copy, rendered at the photo's own resolution over a region.

Two ways, by what the mask came with:
- MobileSAM's logits: the model's low-resolution answer upscaled with the same bilinear math
  as at the working size, evaluated over the region only (sam/predictor.py); edges are as
  smooth at 6000 px as at 1280, since they come from the logits, not from the 1280 mask.
- a mask alone (GrabCut, or edited by hand): the working mask upscaled bilinearly, then made
  to follow the photo's own edges with a guided filter (He, Sun and Tang, 2010) whose guide
  is the full-size photo, and cut at 0.5. The filter moves the edge by at most about
  GUIDE_RADIUS working pixels: where the photo shows the product's edge it follows it,
  elsewhere it stays the smooth bilinear edge.

Coordinates: region (x0, y0, x1, y1) in the full-size photo's pixels; masks are (H, W) bool.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..sam.upscale import upscale_logits_region
from .base import MaskLogits
from .guided import guided_filter

GUIDE_RADIUS = 1.5          # working-copy pixels the guided filter looks around
GUIDE_EPS = 0.01            # its regularisation, for a guide in 0..1: lower follows weaker edges
BAND_ROWS = 256


def mask_region(mask: np.ndarray, logits: MaskLogits | None, size: tuple[int, int],
                region: tuple[int, int, int, int], guide: np.ndarray | None) -> np.ndarray:
    """(y1 - y0, x1 - x0) bool: the mask over `region` of the photo of size (H, W).

    mask: the working copy's (h, w) bool mask; logits: the model's, when it gave them; guide:
    the photo's (y1 - y0, x1 - x0, 3) uint8 pixels over the region, at that size (needed only
    for masks without logits).
    """
    if logits is not None:
        return upscale_logits_region(logits.low_res, logits.input_size, size, region) > 0
    return _guided_region(mask, size, region, guide)


def _guided_region(mask: np.ndarray, size: tuple[int, int], region: tuple[int, int, int, int],
                   guide: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = region
    scale = size[0] / mask.shape[0]
    radius = max(1, round(GUIDE_RADIUS * scale))
    out = np.empty((y1 - y0, x1 - x0), bool)
    for first in range(0, y1 - y0, BAND_ROWS):
        stop = min(y1 - y0, first + BAND_ROWS)
        # the band with room for the filter's two box passes above and below
        top, bottom = max(0, first - 2 * radius), min(y1 - y0, stop + 2 * radius)
        soft = _bilinear_rows(mask, size, (y0 + top, y0 + bottom), (x0, x1))
        grey = cv2.cvtColor(guide[top:bottom], cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        filtered = guided_filter(grey, soft, radius, GUIDE_EPS)
        out[first:stop] = filtered[first - top:stop - top] > 0.5
    return out


def _bilinear_rows(mask: np.ndarray, size: tuple[int, int], rows: tuple[int, int],
                   columns: tuple[int, int]) -> np.ndarray:
    """Rows and columns of the mask resized bilinearly (half-pixel centres) to `size`: float32."""
    height, width = mask.shape
    sy, sx = height / size[0], width / size[1]
    matrix = np.array([[sx, 0.0, (columns[0] + 0.5) * sx - 0.5], [0.0, sy, (rows[0] + 0.5) * sy - 0.5]])
    return cv2.warpAffine(mask.astype(np.float32), matrix, (columns[1] - columns[0], rows[1] - rows[0]),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
