"""Separating the product from its background, and keeping edge colours free of it.

All functions take and return arrays in the product image's own pixel grid.
Internally alpha is float32 in [0, 1] and colours float32 RGB in [0, 255].
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

OPAQUE = 0.5                 # alpha at or above which a pixel counts as the product's body
MIN_TRANSPARENT_SHARE = 0.005  # below this share of see-through pixels, alpha is just a flat channel
BORDER_SHARE = 0.01          # border strip sampled for the background colour, per side
UNIFORM_BORDER_LAB = 12.0    # 90th-percentile ΔE of border pixels below which the border is plain
BRIDGE_SHARE = 0.35          # backdrop-coloured gaps shorter than this share of the product are its own
SOLID = 254.5 / 255          # alpha this close to 1 is opaque (interpolation leaves it just under 1)
MIN_MATTE_CONTRAST = 20.0    # RGB distance of product and backdrop below which alpha cannot be solved


@dataclass(frozen=True)
class CutOut:
    """rgba: hxwx4 uint8, the product with its alpha. method: "alpha" | "background_model" |
    "none". background_busy: the image had no transparency and its backdrop was not plain, so
    it was kept whole (cutout "auto")."""

    rgba: np.ndarray
    method: str
    background_busy: bool = False


def cut_out(product: np.ndarray, mode: str) -> CutOut:
    """Cut the product out of its image.

    product: hxwx4 uint8 RGBA. mode: "auto" | "alpha" | "none". "auto" uses the alpha when it
    has real transparency, else removes a plain backdrop; a backdrop that is not plain
    (textured or many-coloured border) cannot be told from the product reliably, so the
    whole image is kept and background_busy is set. Colours at a background-model edge are
    already freed of the background; other edges are cleaned by bleed_colours after resampling.
    """
    if mode == "none":
        return CutOut(_opaque(product), "none")
    if mode == "alpha" or has_real_transparency(product[..., 3]):
        return CutOut(product, "alpha")
    background = border_pixels(product[..., :3])
    if not border_is_plain(background):
        return CutOut(_opaque(product), "none", background_busy=True)
    rgb, alpha = background_model_cutout(product[..., :3], np.median(background, axis=0))
    return CutOut(_to_rgba_u8(rgb, alpha), "background_model")


def _opaque(product: np.ndarray) -> np.ndarray:
    """The RGBA product with every pixel opaque."""
    whole = product.copy()
    whole[..., 3] = 255
    return whole


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
    parts of a similar colour but enclosed by the product stay; and of those, the ones that
    bridge a short gap of the product (bridged_gaps) stay too, so a white band or label that
    runs from one edge of the product to the other is kept on a white backdrop. Along the
    boundary, alpha and colour are solved from the compositing equation C = a*F + (1-a)*B
    with F taken from the nearby product body, which removes the halo of the old background.
    """
    lab = to_lab(rgb)
    lab -= to_lab(background_rgb.reshape(1, 1, 3).astype(np.float32)).reshape(3)
    near = (np.sqrt(np.square(lab, out=lab).sum(axis=2)) < UNIFORM_BORDER_LAB).astype(np.uint8)
    del lab
    _, labels = cv2.connectedComponents(near, connectivity=4)
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    body = ~np.isin(labels, edge_labels[edge_labels > 0])
    del labels
    body |= bridged_gaps(body)
    body = cv2.morphologyEx(body.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
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
    contrast = (f * f).sum(1)
    solved = np.clip((c * f).sum(1) / np.maximum(contrast, 1.0), 0.0, 1.0)
    # where the product is the backdrop's colour (a kept white band on white) the equation
    # says nothing: the edge stays where the body ends
    alpha[ys, xs] = np.where(contrast >= MIN_MATTE_CONTRAST ** 2, solved, body[ys, xs])
    return colours, alpha


def bridged_gaps(body: np.ndarray) -> np.ndarray:
    """Pixels outside `body` (hxw bool) that lie on a short run between two body pixels of the
    same column, or of the same row: hxw bool.

    A run counts when it is at most BRIDGE_SHARE of the body's height (for columns) or width
    (for rows). This keeps a band across the product, which the backdrop reaches only at its
    two ends, and it leaves the outline's concave parts alone (beside a bottle's neck there
    is no product above; below a table's top, none below); what it may fill wrongly is a
    gap through the product narrower than BRIDGE_SHARE of it, such as the space between two
    legs close together.
    """
    rows = np.flatnonzero(body.any(axis=1))
    columns = np.flatnonzero(body.any(axis=0))
    bridged = np.zeros_like(body)
    if rows.size == 0:
        return bridged
    # nothing outside the body's bounding box lies between two of its pixels
    box = np.s_[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]
    inner = body[box]
    height, width = inner.shape
    bridged[box] = _short_runs(inner, BRIDGE_SHARE * height, axis=0) | _short_runs(inner, BRIDGE_SHARE * width, axis=1)
    return bridged


def _short_runs(body: np.ndarray, longest: float, axis: int) -> np.ndarray:
    """Non-body pixels with a body pixel on both sides of them along `axis` (0: above and
    below, 1: left and right), no more than `longest` px apart (exclusive of the two): bool."""
    length = body.shape[axis]
    index = np.arange(length, dtype=np.int16 if length < 2 ** 15 else np.int32)
    index = index[:, None] if axis == 0 else index[None, :]
    before = np.maximum.accumulate(np.where(body, index, -1).astype(index.dtype), axis=axis)
    after = np.flip(np.minimum.accumulate(np.flip(np.where(body, index, length).astype(index.dtype), axis),
                                          axis=axis), axis)
    return ~body & (before >= 0) & (after < length) & (after - before - 1 <= longest)


def bleed_colours(rgb: np.ndarray, alpha: np.ndarray, radius: int = 3) -> np.ndarray:
    """Replace the colours of see-through pixels by those of the nearby product body.

    Edge pixels of a cut-out still carry some of the old background; weighting neighbours by
    alpha squared lets the body's colour win. Opaque pixels (alpha of at least SOLID) keep
    their colour. Pixels farther than `radius` from any product pixel keep theirs (they stay
    invisible).
    """
    weight = alpha * alpha
    return _spread_colours(rgb, weight, 2 * radius + 1, alpha < SOLID, min_weight=1e-4)


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
