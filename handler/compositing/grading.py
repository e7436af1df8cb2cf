"""Matching a product to the scene in CIE Lab.

Two transforms of the same form (lab -> (lab - source_mean) * gain + mean):
- lighting: the product's lightness level and contrast move toward the scene's, within
  bounds, plus a small, bounded white-balance shift; its hue and chroma are kept, so brand
  colours stay true.
- full: the product's Lab mean and spread move toward the scene's in all three channels.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .cutout import to_lab

MAX_SPREAD_RATIO = 3.0   # a flat product would otherwise amplify its noise many times over
STAT_SAMPLES = 100_000   # pixel statistics are taken from at most about this many pixels
MAX_LIGHTNESS_SHIFT = 15.0      # lighting: the product's mean L* moves by at most this much
CONTRAST_GAIN_RANGE = (1.0, 1.1)   # lighting: bounds of the gain on L* around its mean: never
#   flatter (a flatter product reads as out of focus), at most a little crisper in a contrasty scene
WHITE_BALANCE_SHARE = 0.25      # lighting: share of the scene's mean a*b* (its colour cast) taken on
MAX_WHITE_BALANCE = 3.0         # lighting: the a*b* shift is at most this long (ΔE units)


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


# CIE XYZ (D65 white, as OpenCV's Lab uses) -> linear sRGB
XYZ_TO_LINEAR_RGB = np.array([[3.240479, -1.53715, -0.498535],
                              [-0.969256, 1.875991, 0.041556],
                              [0.055648, -0.204043, 1.057311]], np.float32)
WHITE_XYZ = np.array([0.950456, 1.0, 1.088754], np.float32)
CHANNEL_SUM = np.ones((1, 3), np.float32)
CLIPPED_DELTA_E = 0.5    # a colour cv2 moves further than this on its way to sRGB was outside it


@dataclass(frozen=True)
class Grading:
    """A per-pixel Lab transform: lab -> (lab - source_mean) * gain + mean. (3,) float32 each.

    within_gamut: a colour the transform would push out of sRGB gets only as much of its
    change as keeps it inside, rather than being clipped (clipping a saturated red made
    darker turns it brick-brown); used by `lighting`, whose point is keeping hue and chroma.
    """

    source_mean: np.ndarray
    gain: np.ndarray
    mean: np.ndarray
    within_gamut: bool = False


def grading(source: LabStats, target: LabStats, strength: float) -> Grading:
    """The transform moving colours with `source` statistics toward `target` by `strength`
    (0..1). At strength 1 the source mean maps onto the target mean (up to gamut clipping)."""
    ratio = np.clip(target.spread / np.maximum(source.spread, 1e-3),
                    1 / MAX_SPREAD_RATIO, MAX_SPREAD_RATIO)
    gain = 1.0 + strength * (ratio - 1.0)
    mean = source.mean + strength * (target.mean - source.mean)
    return Grading(source.mean, gain.astype(np.float32), mean.astype(np.float32))


def lighting(source: LabStats, target: LabStats, strength: float) -> Grading:
    """The transform adapting lighting only, by `strength` (0..1): the mean L* moves toward
    the target's (by at most MAX_LIGHTNESS_SHIFT), the L* spread toward the target's (gain
    within CONTRAST_GAIN_RANGE), and a*b* all shift together toward the target's mean a*b*
    (the scene's colour cast, under a grey-world view) by WHITE_BALANCE_SHARE of it, at most
    MAX_WHITE_BALANCE long. Hue and chroma are otherwise untouched."""
    shift = np.zeros(3, np.float32)
    shift[0] = np.clip(strength * (target.mean[0] - source.mean[0]), -MAX_LIGHTNESS_SHIFT, MAX_LIGHTNESS_SHIFT)
    cast = strength * WHITE_BALANCE_SHARE * target.mean[1:]
    length = float(np.linalg.norm(cast))
    shift[1:] = cast * min(1.0, MAX_WHITE_BALANCE / length) if length > 0 else 0.0
    gain = np.ones(3, np.float32)
    ratio = target.spread[0] / max(float(source.spread[0]), 1e-3)
    gain[0] = np.clip(1.0 + strength * (ratio - 1.0), *CONTRAST_GAIN_RANGE)
    return Grading(source.mean, gain, (source.mean + shift).astype(np.float32), within_gamut=True)


def grade(rgb: np.ndarray, transform: Grading) -> np.ndarray:
    """Colours graded by `transform`. rgb: float32 ...x3 in 0..255 (HxWx3 or Nx1x3);
    returns float32 0..255 of the same shape."""
    original = to_lab(rgb)
    # one affine pass per pixel: (lab - source_mean) * gain + mean
    offset = transform.mean - transform.gain * transform.source_mean
    lab = cv2.transform(original, np.hstack([np.diag(transform.gain), offset[:, None]]))
    np.clip(lab[..., 0], 0.0, 100.0, out=lab[..., 0])
    out = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    if transform.within_gamut:
        # cv2 clips to sRGB; the few colours that changed on the way are the ones outside it
        back = cv2.cvtColor(out, cv2.COLOR_RGB2Lab)
        cv2.subtract(back, lab, dst=back)
        cv2.multiply(back, back, dst=back)
        clipped = cv2.transform(back, CHANNEL_SUM).reshape(lab.shape[:-1]) > CLIPPED_DELTA_E ** 2
        if clipped.any():
            inside = _pulled_into_gamut(original[clipped], lab[clipped])
            out[clipped] = cv2.cvtColor(inside.reshape(-1, 1, 3), cv2.COLOR_Lab2RGB).reshape(-1, 3)
    out *= 255.0
    return np.clip(out, 0.0, 255.0, out=out)


def _pulled_into_gamut(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Nx3 Lab: each colour of `after` moved back toward `before` (inside sRGB) just as far as
    needed to lie inside sRGB: before + t * (after - before) with the largest t <= 1 that
    keeps every linear RGB channel within 0..1 (t found along the straight line in linear
    RGB between the two, which the Lab line follows closely)."""
    start, end = _linear_rgb(before), _linear_rgb(after)
    step = end - start
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(end < 0.0, start / -step, np.where(end > 1.0, (1.0 - start) / step, 1.0))
    t = np.clip(np.nan_to_num(room.min(axis=-1), nan=1.0), 0.0, 1.0)[:, None]
    return before + t * (after - before)


def _linear_rgb(lab: np.ndarray) -> np.ndarray:
    """Nx3 Lab (float32) -> linear sRGB, unclipped (cv2 clips, which hides leaving the gamut)."""
    fy = (lab[:, 0] + 16.0) / 116.0
    f = np.stack([fy + lab[:, 1] / 500.0, fy, fy - lab[:, 2] / 200.0], axis=-1)
    edge = 6.0 / 29.0
    xyz = np.where(f > edge, f ** 3, 3 * edge * edge * (f - 4.0 / 29.0)) * WHITE_XYZ
    return xyz @ XYZ_TO_LINEAR_RGB.T
