"""Colour grading in CIE Lab: move a product's mean and spread toward a target's."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .cutout import OPAQUE, to_lab

MAX_SPREAD_RATIO = 3.0   # a flat product would otherwise amplify its noise many times over
STAT_SAMPLES = 100_000   # pixel statistics are taken from at most about this many pixels


@dataclass(frozen=True)
class LabStats:
    mean: np.ndarray    # (3,) float32: L, a, b
    spread: np.ndarray  # (3,) float32: standard deviations


def lab_stats(pixels: np.ndarray) -> LabStats:
    """Statistics of Nx3 RGB pixels (uint8 or 0..255 float), subsampled evenly if many."""
    step = max(1, len(pixels) // STAT_SAMPLES)
    return _stats(to_lab(pixels[::step].reshape(-1, 1, 3)))


def _stats(lab: np.ndarray, where: np.ndarray | None = None) -> LabStats:
    # cv2.meanStdDev is several times faster than numpy's mean/std over a boolean selection
    mean, spread = cv2.meanStdDev(lab, mask=None if where is None else where.astype(np.uint8))
    return LabStats(mean.reshape(3).astype(np.float32), spread.reshape(3).astype(np.float32))


def ring_around(mask: np.ndarray, inner_px: int, outer_px: int) -> np.ndarray:
    """Bool mask of the pixels between inner_px and outer_px from the mask (square distance)."""
    def grow(px: int) -> np.ndarray:
        return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)) > 0
    return grow(outer_px) & ~grow(inner_px)


def grade(rgb: np.ndarray, alpha: np.ndarray, target: LabStats, strength: float) -> np.ndarray:
    """Product colours moved toward the target by `strength` (0..1).

    rgb: float32 HxWx3 in 0..255; alpha: HxW float32 0..1. Statistics come from the opaque
    pixels (alpha >= 0.5); the transform is applied to all pixels. Returns float32 0..255.
    At strength 1 the opaque pixels' Lab mean equals the target mean (up to gamut clipping).
    """
    opaque = alpha >= OPAQUE
    if strength <= 0 or not opaque.any():
        return rgb
    lab = to_lab(rgb)
    source = _stats(lab, opaque)
    ratio = np.clip(target.spread / np.maximum(source.spread, 1e-3),
                    1 / MAX_SPREAD_RATIO, MAX_SPREAD_RATIO)
    gain = 1.0 + strength * (ratio - 1.0)
    mean = source.mean + strength * (target.mean - source.mean)
    lab = (lab - source.mean) * gain.astype(np.float32) + mean.astype(np.float32)
    lab[..., 0] = np.clip(lab[..., 0], 0.0, 100.0)
    out = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255.0
    return np.clip(out, 0.0, 255.0)
