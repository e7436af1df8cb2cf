"""Synthetic advertising scenes with known ground truth, for compositing tests.

Everything is deterministic (seeded). Images are uint8 RGB / RGBA; masks are bool;
boxes are XYXY in pixels, x2/y2 exclusive.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

OLD_PRODUCT_RGB = (200, 30, 40)       # a saturated red bottle, far from the wall and table
NEW_PRODUCT_RGB = (40, 160, 90)       # a green jar
PLAIN_BACKGROUND_RGB = (250, 250, 250)


@dataclass(frozen=True)
class Scene:
    image: np.ndarray            # HxWx3 uint8: backdrop with the old product
    backdrop: np.ndarray         # HxWx3 uint8: the same scene without the old product
    mask: np.ndarray             # HxW bool: the old product's pixels
    old_rgb: tuple[int, int, int]
    table_row: int               # first row of the table top


def backdrop(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """A textured wall with a lighting gradient above a wooden table. Returns (image, table_row)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    light = 1.1 - 0.35 * (xs / width) - 0.15 * (ys / height)
    blotches = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), 12) * 40
    wall = np.float32([205, 195, 175]) * light[..., None] + blotches[..., None]
    table_row = int(height * 0.68)
    grain = 12 * np.sin(ys / 3.0 + 4 * np.sin(xs / 57.0)) + 6 * np.sin(xs / 9.0)
    table = np.float32([140, 95, 60]) * (light * 0.9 + 0.1 * (ys / height))[..., None] + grain[..., None]
    image = np.where((ys >= table_row)[..., None], table, wall)
    image[table_row:table_row + 2] += 45                # lit front edge of the table top
    image += rng.normal(0, 3, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8), table_row


def bottle_shape(height: int, width: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """Float32 HxW coverage (0..1, anti-aliased) of a bottle filling `box`."""
    x1, y1, x2, y2 = box
    scale = 4  # draw large, shrink: smooth, correctly anti-aliased edges
    canvas = np.zeros((height * scale, width * scale), np.uint8)
    bw, bh = x2 - x1, y2 - y1
    neck_w = bw * 0.36
    shoulder_y = y1 + bh * 0.35
    cx = (x1 + x2) / 2
    body = np.array([[x1, y2], [x1, shoulder_y + bw * 0.2], [cx - neck_w / 2, shoulder_y - bh * 0.05],
                     [cx - neck_w / 2, y1], [cx + neck_w / 2, y1], [cx + neck_w / 2, shoulder_y - bh * 0.05],
                     [x2, shoulder_y + bw * 0.2], [x2, y2]]) * scale
    cv2.fillPoly(canvas, [np.round(body).astype(np.int32)], 255)
    return cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def cylinder_shading(width: int, x1: int, x2: int) -> np.ndarray:
    """1-D float32 brightness across the image columns: a lit cylinder between x1 and x2."""
    u = np.clip((np.arange(width, dtype=np.float32) + 0.5 - x1) / max(1, x2 - x1), 0, 1)
    return 0.75 + 0.35 * np.cos((u - 0.35) * np.pi) ** 2


def make_scene(height: int = 480, width: int = 640, seed: int = 0,
               box: tuple[int, int, int, int] | None = None) -> Scene:
    """A red bottle standing on the table; its mask is where it covers at least half a pixel."""
    image, table_row = backdrop(height, width, seed)
    if box is None:
        box = (int(width * 0.38), int(height * 0.22), int(width * 0.58), table_row + 6)
    coverage = bottle_shape(height, width, box)
    colour = np.float32(OLD_PRODUCT_RGB) * cylinder_shading(width, box[0], box[2])[None, :, None]
    mixed = image.astype(np.float32) * (1 - coverage[..., None]) + colour * coverage[..., None]
    return Scene(np.clip(mixed, 0, 255).astype(np.uint8), image, coverage >= 0.5,
                 OLD_PRODUCT_RGB, table_row)


def jar_rgba(height: int = 300, width: int = 220, rgb: tuple[int, int, int] = NEW_PRODUCT_RGB,
             margin: int = 20) -> np.ndarray:
    """A shaded jar with a lid on a transparent background (real alpha), hxwx4 uint8."""
    scale = 4
    canvas = np.zeros((height * scale, width * scale), np.uint8)
    m = margin * scale
    radius = (width * scale - 2 * m) // 6
    body = (m, m + (height * scale) // 8, width * scale - m, height * scale - m)
    cv2.rectangle(canvas, (body[0] + radius, body[1]), (body[2] - radius, body[3]), 255, -1)
    cv2.rectangle(canvas, (body[0], body[1] + radius), (body[2], body[3] - radius), 255, -1)
    for cx in (body[0] + radius, body[2] - radius):
        for cy in (body[1] + radius, body[3] - radius):
            cv2.circle(canvas, (cx, cy), radius, 255, -1)
    lid = (body[0] + radius, m, body[2] - radius, body[1] + radius)
    cv2.rectangle(canvas, lid[:2], lid[2:], 255, -1)
    alpha = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)
    shade = cylinder_shading(width, margin, width - margin)
    colour = np.float32(rgb)[None, None, :] * shade[None, :, None]
    colour = np.broadcast_to(colour, (height, width, 3)).copy()
    colour[: margin + height // 8 + 2] *= 0.6          # darker lid
    return np.dstack([np.clip(colour, 0, 255).astype(np.uint8), alpha])


def opaque_product_on_plain(height: int = 300, width: int = 220, seed: int = 1,
                            background: tuple[int, int, int] = PLAIN_BACKGROUND_RGB) -> np.ndarray:
    """The jar photographed on a plain light background: alpha is 255 everywhere (hxwx4 uint8).

    A little sensor noise keeps the background from being perfectly flat.
    """
    jar = jar_rgba(height, width, rgb=(60, 90, 190))
    a = jar[..., 3:].astype(np.float32) / 255
    rgb = jar[..., :3] * a + np.float32(background) * (1 - a)
    rgb += np.random.default_rng(seed).normal(0, 1.5, rgb.shape)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    return np.dstack([rgb, np.full((height, width), 255, np.uint8)])
