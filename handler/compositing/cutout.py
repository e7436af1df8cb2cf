"""Separating the product from its background, and keeping edge colours free of it.

All functions take and return arrays in the product image's own pixel grid.
Internally alpha is float32 in [0, 1] and colours float32 RGB in [0, 255].
"""
from __future__ import annotations

import cv2
import numpy as np

OPAQUE = 0.5                 # alpha at or above which a pixel counts as the product's body
MIN_TRANSPARENT_SHARE = 0.005  # below this share of see-through pixels, alpha is just a flat channel
BORDER_SHARE = 0.01          # border strip sampled for the background colour, per side
UNIFORM_BORDER_LAB = 12.0    # 90th-percentile ΔE of border pixels below which the border is plain
GRABCUT_SIDE = 200           # GrabCut runs on a thumbnail this large; it is too slow at full size


def cut_out(product: np.ndarray, mode: str) -> tuple[np.ndarray, str]:
    """Cut the product out of its image.

    product: hxwx4 uint8 RGBA. mode: "auto" | "alpha" | "none".
    Returns (hxwx4 uint8 RGBA with the product's alpha, method) where method is "alpha",
    "background_model", "grabcut" or "none". Colours at a background-model edge are already
    freed of the background; other edges are cleaned by bleed_colours after resampling.
    """
    if mode == "none":
        return np.dstack([product[..., :3], np.full(product.shape[:2], 255, np.uint8)]), "none"
    if mode == "alpha" or has_real_transparency(product[..., 3]):
        return product, "alpha"
    background = border_pixels(product[..., :3])
    if border_is_plain(background):
        rgb, alpha = background_model_cutout(product[..., :3], np.median(background, axis=0))
        method = "background_model"
    else:
        rgb, alpha = grabcut_cutout(product[..., :3])
        method = "grabcut"
    return _to_rgba_u8(rgb, alpha), method


def _to_rgba_u8(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """float32 colours 0..255 (overwritten) and alpha 0..1 -> hxwx4 uint8, rounded."""
    rgba = np.empty(alpha.shape + (4,), np.uint8)
    rgb += 0.5
    rgba[..., :3] = np.clip(rgb, 0, 255, out=rgb)
    rgba[..., 3] = np.clip(alpha * 255.0 + 0.5, 0, 255)
    return rgba


def has_real_transparency(alpha: np.ndarray) -> bool:
    """True when enough pixels of the uint8 alpha channel are see-through to outline a shape."""
    return np.count_nonzero(alpha < 128) >= MIN_TRANSPARENT_SHARE * alpha.size


def border_pixels(rgb: np.ndarray) -> np.ndarray:
    """Pixels of a strip along all four sides: Nx3 uint8."""
    h, w = rgb.shape[:2]
    b = max(2, round(BORDER_SHARE * min(h, w)))
    strips = [rgb[:b].reshape(-1, 3), rgb[-b:].reshape(-1, 3),
              rgb[b:-b, :b].reshape(-1, 3), rgb[b:-b, -b:].reshape(-1, 3)]
    return np.concatenate(strips)


def border_is_plain(border: np.ndarray) -> bool:
    """True when the border is close to one colour, so a colour model separates the product."""
    lab = to_lab(border.reshape(1, -1, 3)).reshape(-1, 3)
    spread = np.linalg.norm(lab - np.median(lab, axis=0), axis=1)
    return float(np.percentile(spread, 90)) < UNIFORM_BORDER_LAB


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 or 0..255 float RGB -> float32 CIE Lab (L 0..100)."""
    scaled = np.multiply(rgb, 1 / 255.0, dtype=np.float32)
    return cv2.cvtColor(scaled, cv2.COLOR_RGB2Lab, dst=scaled)


def background_model_cutout(rgb: np.ndarray, background_rgb: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Cut out a product photographed on a plain background of colour background_rgb.

    Background = pixels close to that colour (ΔE) and connected to the border, so product
    parts of a similar colour but enclosed by the product stay. Along the boundary, alpha and
    colour are solved from the compositing equation C = a*F + (1-a)*B with F taken from the
    nearby product body, which removes the halo of the old background.
    """
    lab = to_lab(rgb)
    lab -= to_lab(background_rgb.reshape(1, 1, 3).astype(np.float32)).reshape(3)
    near = (np.sqrt(np.square(lab, out=lab).sum(axis=2)) < UNIFORM_BORDER_LAB).astype(np.uint8)
    del lab
    count, labels = cv2.connectedComponents(near, connectivity=4)
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    is_background = np.isin(labels, edge_labels[edge_labels > 0])
    body = cv2.morphologyEx((~is_background).astype(np.uint8), cv2.MORPH_OPEN,
                            np.ones((3, 3), np.uint8))
    return _matte_boundary(rgb.astype(np.float32), body, background_rgb.astype(np.float32))


def _matte_boundary(rgb: np.ndarray, body: np.ndarray, background: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    kernel = np.ones((3, 3), np.uint8)
    core = cv2.erode(body, kernel, iterations=2)
    band = (cv2.dilate(body, kernel) > 0) & (core == 0)
    colours = _spread_colours(rgb, core.astype(np.float32), 7, band)
    alpha = core.astype(np.float32)
    ys, xs = np.nonzero(band)
    f = colours[ys, xs] - background
    c = rgb[ys, xs] - background
    alpha[ys, xs] = np.clip((c * f).sum(1) / np.maximum((f * f).sum(1), 1.0), 0.0, 1.0)
    return colours, alpha


def grabcut_cutout(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut out a product on a busy background with GrabCut from a near-full-frame box.

    Runs on a thumbnail; the resulting soft mask is upsampled to the product's size.
    """
    h, w = rgb.shape[:2]
    f = min(1.0, GRABCUT_SIDE / max(h, w))
    small = cv2.resize(rgb, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    inset = max(1, round(0.02 * max(sh, sw)))
    mask = np.zeros((sh, sw), np.uint8)
    cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), mask,
                (inset, inset, sw - 2 * inset, sh - 2 * inset), np.zeros((1, 65)), np.zeros((1, 65)),
                4, cv2.GC_INIT_WITH_RECT)
    body = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.float32)
    alpha = cv2.resize(cv2.GaussianBlur(body, (3, 3), 0), (w, h), interpolation=cv2.INTER_LINEAR)
    return rgb.astype(np.float32), alpha


def bleed_colours(rgb: np.ndarray, alpha: np.ndarray, radius: int = 3) -> np.ndarray:
    """Replace the colours of see-through pixels by those of the nearby product body.

    Edge pixels of a cut-out still carry some of the old background; weighting neighbours by
    alpha squared lets the body's colour win. Opaque pixels keep their colour. Pixels farther
    than `radius` from any product pixel keep theirs (they stay invisible).
    """
    weight = alpha * alpha
    return _spread_colours(rgb, weight, 2 * radius + 1, alpha < 1.0, min_weight=1e-4)


def _spread_colours(rgb: np.ndarray, weight: np.ndarray, size: int, where: np.ndarray,
                    min_weight: float = 1e-6) -> np.ndarray:
    """rgb (HxWx3 float32) with the `where` pixels (HxW bool) replaced by their weighted local
    mean colour (box of `size` px), except those whose box holds a total weight of at most
    min_weight: those keep their colour. weight: HxW."""
    w = np.asarray(weight, np.float32)
    total = cv2.blur(w, (size, size))
    sums = rgb * w[..., None]
    cv2.blur(sums, (size, size), dst=sums)
    where = where & (total > min_weight)
    out = rgb.copy()
    out[where] = sums[where] / total[where][:, None]
    return out
