"""Where the product goes, and rendering it at that place in scene pixels.

Boxes are XYXY tuples of ints in scene (or product) pixels, x2/y2 exclusive.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Sprite:
    """The product rendered in scene pixels over `box` (already clipped to the image).

    rgb: float32 HxWx3 in 0..255 (straight, not premultiplied); alpha: float32 HxW in 0..1.
    """

    rgb: np.ndarray
    alpha: np.ndarray
    box: Box


def bounding_box(mask: np.ndarray) -> Box | None:
    """Bounding box of the True pixels of a 2-D mask, or None if it has none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def place(product_box: Box, mask_box: Box, scale: float, anchor: str,
          offset: tuple[int, int]) -> Box:
    """Scene box for the product's opaque box, fitted into mask_box keeping its aspect ratio.

    The fit is multiplied by `scale`; the product is centred horizontally on the mask box and
    either stands on its lowest row (anchor "bottom") or is centred (anchor "center"), then
    moved by offset (dx, dy). The box may extend past the mask and the image.
    """
    pw, ph = product_box[2] - product_box[0], product_box[3] - product_box[1]
    mx1, my1, mx2, my2 = mask_box
    fit = min((mx2 - mx1) / pw, (my2 - my1) / ph) * scale
    w, h = max(1, round(pw * fit)), max(1, round(ph * fit))
    x1 = round((mx1 + mx2 - w) / 2)
    y1 = my2 - h if anchor == "bottom" else round((my1 + my2 - h) / 2)
    dx, dy = offset
    return x1 + dx, y1 + dy, x1 + dx + w, y1 + dy + h


def expand(box: Box, px: int) -> Box:
    return box[0] - px, box[1] - px, box[2] + px, box[3] + px


def intersect(a: Box, b: Box) -> Box | None:
    box = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return box if box[0] < box[2] and box[1] < box[3] else None


def union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def render_sprite(rgba: np.ndarray, product_box: Box, target: Box, window: Box) -> Sprite:
    """Resample the cut-out (hxwx4 uint8 RGBA) so product_box (product px) lands exactly on
    target (scene px).

    Only the scene pixels inside `window` are computed, so products scaled far past the
    image cost nothing extra. Colours are resampled premultiplied, so the transparent
    background never bleeds into the edge.
    """
    sx = (target[2] - target[0]) / (product_box[2] - product_box[0])
    sy = (target[3] - target[1]) / (product_box[3] - product_box[1])
    alpha = rgba[..., 3]
    premultiplied = np.dstack([cv2.multiply(rgba[..., :3], np.dstack([alpha] * 3), scale=1 / 255), alpha])
    shrink = min(1.0, max(sx, sy))
    if shrink < 1.0:
        # warpAffine only interpolates between neighbours; shrink by area first to avoid aliasing
        h, w = alpha.shape
        small_w, small_h = max(1, round(w * shrink)), max(1, round(h * shrink))
        premultiplied = cv2.resize(premultiplied, (small_w, small_h), interpolation=cv2.INTER_AREA)
        rx, ry = small_w / w, small_h / h
        product_box = (product_box[0] * rx, product_box[1] * ry, 0, 0)
        sx, sy = sx / rx, sy / ry
    # map pixel centres: (x + 0.5 - px1) * sx + tx1 = X + 0.5 + wx1
    matrix = np.array([
        [sx, 0.0, (0.5 - product_box[0]) * sx + target[0] - 0.5 - window[0]],
        [0.0, sy, (0.5 - product_box[1]) * sy + target[1] - 0.5 - window[1]],
    ])
    size = (window[2] - window[0], window[3] - window[1])
    warped = cv2.warpAffine(premultiplied.astype(np.float32), matrix, size, flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    alpha_out = np.clip(warped[..., 3] * (1 / 255.0), 0.0, 1.0)
    rgb_out = warped[..., :3] / np.maximum(alpha_out, 1e-6)[..., None]
    return Sprite(np.clip(rgb_out, 0.0, 255.0), alpha_out, window)
