"""Colour grading in CIE Lab: move a product's mean and spread toward a target's."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .cutout import to_lab

MAX_SPREAD_RATIO = 3.0   # a flat product would otherwise amplify its noise many times over
STAT_SAMPLES = 100_000   # pixel statistics are taken from at most about this many pixels


@dataclass(frozen=True)
class LabStats:
    mean: np.ndarray    # (3,) float32: L, a, b
    spread: np.ndarray  # (3,) float32: standard deviations


def lab_stats(pixels: np.ndarray, subsample: bool = True) -> LabStats:
    """Statistics of Nx3 RGB pixels (uint8 or 0..255 float); with subsample, taken from
    about STAT_SAMPLES evenly spaced pixels when there are more."""
    step = max(1, len(pixels) // STAT_SAMPLES) if subsample else 1
    # cv2.meanStdDev is several times faster than numpy's mean/std
    mean, spread = cv2.meanStdDev(to_lab(pixels[::step].reshape(1, -1, 3)))
    return LabStats(mean.reshape(3).astype(np.float32), spread.reshape(3).astype(np.float32))


def ring_around(mask: np.ndarray, inner_px: int, outer_px: int) -> np.ndarray:
    """Bool mask of the pixels between inner_px and outer_px from the mask (square distance)."""
    def grow(px: int) -> np.ndarray:
        return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)) > 0
    return grow(outer_px) & ~grow(inner_px)


@dataclass(frozen=True)
class Grading:
    """A per-pixel Lab transform: lab -> (lab - source_mean) * gain + mean. (3,) float32 each."""

    source_mean: np.ndarray
    gain: np.ndarray
    mean: np.ndarray


def grading(source: LabStats, target: LabStats, strength: float) -> Grading:
    """The transform moving colours with `source` statistics toward `target` by `strength`
    (0..1). At strength 1 the source mean maps onto the target mean (up to gamut clipping)."""
    ratio = np.clip(target.spread / np.maximum(source.spread, 1e-3),
                    1 / MAX_SPREAD_RATIO, MAX_SPREAD_RATIO)
    gain = 1.0 + strength * (ratio - 1.0)
    mean = source.mean + strength * (target.mean - source.mean)
    return Grading(source.mean, gain.astype(np.float32), mean.astype(np.float32))


def grade(rgb: np.ndarray, transform: Grading) -> np.ndarray:
    """Colours graded by `transform`. rgb: float32 ...x3 in 0..255 (HxWx3 or Nx1x3);
    returns float32 0..255 of the same shape."""
    lab = to_lab(rgb)
    lab -= transform.source_mean
    lab *= transform.gain
    lab += transform.mean
    np.clip(lab[..., 0], 0.0, 100.0, out=lab[..., 0])
    out = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    out *= 255.0
    return np.clip(out, 0.0, 255.0, out=out)
