"""Is a mask worth a second look? Warnings for the mask answer and the replace answer.

Pure function of the mask, the box the user drew and the segmenter's score; boxes are XYXY
in the mask's pixels (x1, y1 exclusive), as in base.Prompt.
"""
from __future__ import annotations

import math

import numpy as np

from handler.compositing import QualityWarning

LOW_SCORE = 0.5           # below this the segmenter itself doubts the mask
EDGE_COVERED_SHARE = 0.5  # a side of the box counts as touched when the mask covers this share of it
MOST_EDGES = 3            # touching this many of the box's four sides: the mask may have leaked
SMALL_SHARE = 0.1         # a mask covering less of its box than this may have found only a part

ADVICE = ("Check the cut-out before using it. Add a point on the product (or one on what is not the "
          "product), or draw the box again with a little margin around the product.")


def mask_warnings(mask: np.ndarray, box: tuple[float, float, float, float] | None,
                  score: float | None) -> list[QualityWarning]:
    """[] or one "mask_suspicious" warning naming every reason the mask looks wrong.

    mask: (H, W) bool. box: the box the user drew, or None (points only: the box checks are
    skipped). score: the segmenter's 0..1 confidence, or None when unknown. Reasons (codes in
    details["reasons"]): low_score (score < LOW_SCORE), touches_box_edges (the mask covers at
    least EDGE_COVERED_SHARE of MOST_EDGES or more of the box's sides: it may include
    background or the product may not fit in the box), much_smaller_than_box (the mask covers
    under SMALL_SHARE of the box: it may be only part of the product).
    """
    reasons, phrases = [], []
    details: dict = {}
    if score is not None:
        details["score"] = round(float(score), 3)
        if score < LOW_SCORE:
            reasons.append("low_score")
            phrases.append(f"the segmenter is unsure of it (score {score:.2f})")
    window = _pixel_window(box, mask.shape) if box is not None else None
    if window is not None:
        inside = mask[window]
        touched = _sides_touched(inside)
        share = float(inside.mean())
        details.update(box_sides_touched=touched, share_of_box=round(share, 3))
        if touched >= MOST_EDGES:
            reasons.append("touches_box_edges")
            phrases.append("it runs along the edges of the box you drew, so it may include background "
                           "or miss part of a product larger than the box")
        if share < SMALL_SHARE:
            reasons.append("much_smaller_than_box")
            phrases.append(f"it covers only {share:.0%} of the box you drew, so it may be only part of "
                           "the product")
    if not reasons:
        return []
    details["reasons"] = reasons
    message = f"The cut-out may be wrong: {'; '.join(phrases)}. {ADVICE}"
    return [QualityWarning("mask_suspicious", message, details)]


def _pixel_window(box: tuple[float, float, float, float], shape: tuple[int, int]) -> tuple[slice, slice] | None:
    """Rows and columns of the pixels overlapping the box, within the image; None if none do."""
    height, width = shape
    x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    x1, y1 = min(width, math.ceil(box[2])), min(height, math.ceil(box[3]))
    if x0 >= x1 or y0 >= y1:
        return None
    return slice(y0, y1), slice(x0, x1)


def _sides_touched(inside: np.ndarray) -> int:
    """How many of the box's sides (its outermost rows and columns) the mask covers at least
    EDGE_COVERED_SHARE of."""
    sides = (inside[0], inside[-1], inside[:, 0], inside[:, -1])
    return sum(float(side.mean()) >= EDGE_COVERED_SHARE for side in sides)
