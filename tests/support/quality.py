"""Measures of how faithfully a replacement shows the product (issue 12), defined once for
the tests and the quality bench.

The reference is the product itself (its true colours and alpha) resampled onto the box the
compositor reports (`placement.box`, XYXY output px, x2/y2 exclusive): what a perfect paste
at that place and size would show. All measures are taken over the product's interior:
its opaque pixels (alpha >= 0.5) eroded by INTERIOR_EROSION of the box's shorter side, so
edge effects (feather, anti-aliasing) are not counted.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

INTERIOR_EROSION = 0.04   # share of the product's shorter side eroded off its opaque pixels
BAND_EROSION_PX = 2       # the white band is measured up to this close to the product's outline


@dataclass(frozen=True)
class Reference:
    """The product resampled onto its placement box, over the whole output frame.

    rgb: HxWx3 float32 0..255; alpha: HxW float32 0..1; interior: HxW bool (see module doc);
    band: HxW bool, the product's white band within BAND_EROSION_PX of its outline (empty if
    it has none).
    """

    rgb: np.ndarray
    alpha: np.ndarray
    interior: np.ndarray
    band: np.ndarray


def reference(truth: np.ndarray, band: np.ndarray, box, shape: tuple[int, int]) -> Reference:
    """truth: hxwx4 uint8 RGBA with the product's true alpha; band: hxw bool; box: XYXY
    output px that the product's opaque box (alpha >= 128) occupies; shape: (H, W) output."""
    ys, xs = np.nonzero(truth[..., 3] >= 128)
    crop = np.s_[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    x1, y1, x2, y2 = (int(v) for v in box)
    size = (x2 - x1, y2 - y1)
    shrinking = size[0] < crop[1].stop - crop[1].start
    method = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    rgba = cv2.resize(truth[crop].astype(np.float32), size, interpolation=method)
    band_small = cv2.resize(band[crop].astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5
    rgb, alpha, band_full = (np.zeros(shape + (3,), np.float32), np.zeros(shape, np.float32),
                             np.zeros(shape, bool))
    h, w = shape
    ox1, oy1, ox2, oy2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    inner = np.s_[oy1 - y1:oy2 - y1, ox1 - x1:ox2 - x1]
    rgb[oy1:oy2, ox1:ox2] = np.clip(rgba[..., :3], 0, 255)[inner]
    alpha[oy1:oy2, ox1:ox2] = np.clip(rgba[..., 3] / 255, 0, 1)[inner]
    band_full[oy1:oy2, ox1:ox2] = band_small[inner]
    opaque = alpha >= 0.5
    erosion = max(1, round(INTERIOR_EROSION * min(size)))
    return Reference(rgb, alpha, _eroded(opaque, erosion), band_full & _eroded(opaque, BAND_EROSION_PX))


def lab(rgb: np.ndarray) -> np.ndarray:
    """...x3 uint8 or 0..255 float RGB -> float32 CIE Lab."""
    rgb = np.asarray(rgb, np.float32).reshape(-1, 1, 3) / 255
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).reshape(-1, 3)


def chroma_delta_e(output: np.ndarray, ref: Reference) -> float:
    """Median colour difference ignoring lightness (ΔE in a*b*) over the interior."""
    out, want = lab(output[ref.interior]), lab(ref.rgb[ref.interior])
    return float(np.median(np.linalg.norm(out[:, 1:] - want[:, 1:], axis=1)))


def lightness_shift(output: np.ndarray, ref: Reference) -> float:
    """Median L* of output minus reference over the interior (positive: made lighter)."""
    return float(np.median(lab(output[ref.interior])[:, 0] - lab(ref.rgb[ref.interior])[:, 0]))


def sharpness_ratio(output: np.ndarray, ref: Reference) -> float:
    """Mean absolute Laplacian of the output's grey over the interior divided by the
    reference's: 1 = as sharp as the resampled product, below 1 = blurred."""
    def detail(rgb: np.ndarray) -> float:
        grey = cv2.cvtColor(np.asarray(rgb, np.float32), cv2.COLOR_RGB2GRAY)
        return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=1))[ref.interior].mean())
    return detail(output) / max(detail(ref.rgb), 1e-6)


def band_kept(output: np.ndarray, ref: Reference, behind: np.ndarray) -> float:
    """Share of the white band's pixels that show the band rather than the scene: closer
    (ΔE76 in Lab) to the reference than to `behind` (HxWx3, the scene without the product)."""
    out = lab(output[ref.band])
    to_product = np.linalg.norm(out - lab(ref.rgb[ref.band]), axis=1)
    to_scene = np.linalg.norm(out - lab(behind[ref.band]), axis=1)
    return float((to_product < to_scene).mean())


def _eroded(mask: np.ndarray, radius: int) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    # the frame's border counts as outside, so a product cut by it is measured where visible
    padded = np.pad(mask.astype(np.uint8), radius)
    return cv2.erode(padded, kernel)[radius:-radius, radius:-radius].astype(bool)
