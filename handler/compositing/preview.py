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
    tinted = scene[mask].astype(np.float32) * (1 - FILL_OPACITY) + FILL_OPACITY * np.float32(FILL_RGB)
    out[mask] = np.round(tinted).astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    width = outline_width(scene.shape)
    cv2.drawContours(out, contours, -1, OUTLINE_SHADOW_RGB, width + 2, cv2.LINE_8)
    cv2.drawContours(out, contours, -1, OUTLINE_RGB, width, cv2.LINE_8)
    return out
