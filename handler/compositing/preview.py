"""A picture of a mask over its scene, for the user to check the segmentation."""
from __future__ import annotations

import cv2
import numpy as np

FILL_RGB = (0, 160, 255)
FILL_OPACITY = 0.45
OUTLINE_RGB = (255, 230, 0)
OUTLINE_SHADOW_RGB = (0, 0, 0)


def outline_width(shape: tuple[int, ...]) -> int:
    """Outline thickness in px for an image of this shape: visible at any size."""
    return max(2, round(min(shape[:2]) / 300))


def mask_preview(scene: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The scene with the mask tinted and outlined.

    scene: HxWx3 uint8 RGB; mask: HxW bool. Returns HxWx3 uint8: a translucent blue fill over
    the mask and a yellow outline with a dark rim along its boundary (readable on any
    background). Pixels away from the mask are unchanged.
    """
    out = scene.copy()
    mask = mask.astype(bool)
    if not mask.any():
        return out
    width = outline_width(scene.shape)
    rows, cols = _padded_span(mask.any(axis=1), width + 2), _padded_span(mask.any(axis=0), width + 2)
    region, region_mask = out[rows, cols], mask[rows, cols].astype(np.uint8)
    paint = np.empty_like(region)
    paint[:] = FILL_RGB
    cv2.copyTo(cv2.addWeighted(region, 1 - FILL_OPACITY, paint, FILL_OPACITY, 0), region_mask, region)
    # Morphological gradients trace the boundary in one pass however ragged the mask is
    # (drawing contours of a noisy mask is far slower).
    for band_width, colour in ((width + 2, OUTLINE_SHADOW_RGB), (width, OUTLINE_RGB)):
        paint[:] = colour
        cv2.copyTo(paint, _band(region_mask, band_width), region)
    return out


def _band(mask: np.ndarray, width: int) -> np.ndarray:
    """uint8 (H, W), non-zero on pixels within about width/2 of the mask's boundary, on both sides (the kernel is odd,
    so the band is centred on the boundary)."""
    size = width | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    return cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, kernel)


def _padded_span(occupied: np.ndarray, pad: int) -> slice:
    indices = np.flatnonzero(occupied)
    return slice(max(0, indices[0] - pad), min(len(occupied), indices[-1] + pad + 1))
