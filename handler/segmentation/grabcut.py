"""Offline fallback segmenter: OpenCV GrabCut seeded by the prompt, no model weights needed.

Coordinates follow base.py: pixels of the image handed in, x right, y down; a box
(x0, y0, x1, y1) covers the continuous span [x0, x1) x [y0, y1), so pixel column i
(covering [i, i + 1)) belongs to it when it overlaps that span. A point (x, y) names the
pixel whose top-left corner is at (x, y) (the pixel centre is at x + 0.5, y + 0.5).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from handler.segmentation.base import Prompt, Segmentation

from .guided import guided_filter

# Score given to the inscribed-ellipse fallback: a guess, so it must rank below any real cut.
FALLBACK_SCORE = 0.05
# Share of the image's short side added around foreground points when no box is given.
POINTS_ONLY_MARGIN = 0.25
# Context kept around the seed rectangle, as a share of the rectangle's size, so that the
# background colour model sees what surrounds the product.
CONTEXT_MARGIN = 0.25
# Below this share of the seed rectangle, a GrabCut result counts as "found nothing".
MIN_FOREGROUND_SHARE = 0.01
# Colour histogram bins per channel for the separability term of the score.
HIST_BINS = 8
# Largest per-channel difference from a point's (smoothed) colour for a pixel to join the
# region that point includes or rejects.
BACKGROUND_FILL_TOLERANCE = 24
# An include point's region reaches at most this share of the seed rectangle's shorter side:
# it becomes sure foreground, and a product's colour often continues into its surroundings.
INCLUDE_REACH = 0.25
# GrabCut rounds always run; then rounds stop once fewer than this share of the foreground changes.
MIN_ITERATIONS = 2
CONVERGED_SHARE = 0.005
# Score: an outline with this many times the rectangle's mean gradient, plus one, counts fully.
EDGE_RATIO_FULL_SUPPORT = 4.0
# Score: gaps to opposite sides of the box may differ by this share of its side unpenalised;
# the penalty is complete this much further on.
BALANCE_TOLERANCE = 0.15
BALANCE_SPAN = 0.25
# Guided filter: the grey-level variance (0..1 scale) from which an image edge steers the mask.
GUIDED_FILTER_EPS = 1e-3


@dataclass(frozen=True)
class _Rect:
    """Integer pixel rectangle: columns x0..x1-1, rows y0..y1-1 (x1, y1 exclusive)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


class GrabCutSegmenter:
    """GrabCut on a downscaled crop around the prompt, cleaned and upscaled to full size.

    Steps: the seed rectangle is the box (grown to cover any foreground point), or, for
    points alone, the foreground points' bounding box grown by POINTS_ONLY_MARGIN of the
    image's short side (the central 80 % of the image when there are no foreground points).
    A crop of the image around it (CONTEXT_MARGIN on each side) is resized so its long side
    is at most `work_side` px. Outside the rectangle is definite background, inside probable
    foreground; points are sure labels: label-1 points stamp definite-foreground discs and
    the region of similar colour joined to each (within INCLUDE_REACH of the rectangle's
    shorter side) becomes definite foreground; label-0 points stamp definite-background discs
    and the region of similar colour joined to each becomes probable background. GrabCut
    runs until it settles, `iterations` rounds at most. Then only connected components holding a foreground point are
    kept (the largest one when there are none), and holes are filled unless a background
    point sits in them. The mask is smoothed, upscaled to full resolution and its outline
    moved onto the image's edges by a guided filter (_refined), then thresholded at 0.5.

    Score (0..1): how much the mask can be trusted to be the product, the product of
      credibility = 1 - (1 - separability) * (1 - edge_support): the mask stands out from its
        surroundings by its colours, or its outline follows strong image edges, or both.
        separability = 1 - BC, BC the Bhattacharyya coefficient sum(sqrt(p_fg * p_bg)) of the
        8x8x8-bin RGB histograms of mask and non-mask pixels inside the crop (0 when their
        colours are distributed alike, e.g. a box over noise); edge_support = (g - 1) / 4
        clipped to 0..1, g the mean gradient on the mask's outline over that in the seed
        rectangle (a black helmet on black: colours alike, but a crisp outline).
      fit = min(1, share / 0.2) * min(1, (1 - share) / 0.05), share = mask pixels / box
        pixels: a mask that fills under a fifth of its box, or nearly all of it (GrabCut
        giving up and keeping the whole box), is less likely to be the product.
      balance = 1 - clip((asymmetry - 0.15) / 0.25, 0, 1), asymmetry the larger difference
        between the gaps the mask leaves to opposite sides of the box (shares of its width
        or height): a box is drawn around the product, so a mask that stops far short of one
        side only has likely found part of it (an espresso cup's rim without its body).
      fit and balance are 1 without a box.
    When GrabCut finds nothing (or cannot run), the mask is the ellipse inscribed in the seed
    rectangle with score FALLBACK_SCORE.
    """

    name = "grabcut"

    def __init__(self, work_side: int = 320, iterations: int = 6, seed: int = 0) -> None:
        """work_side: long side in px of the crop GrabCut runs on; iterations: most GrabCut rounds;
        seed: OpenCV RNG seed (GrabCut's k-means init), fixed so results repeat."""
        self.work_side = work_side
        self.iterations = iterations
        self.seed = seed

    def segment(self, image: np.ndarray, prompt: Prompt, image_key: str | None = None) -> Segmentation:
        """Segment the product in `image` ((H, W, 3) uint8 RGB). image_key is unused: GrabCut
        has no per-image work worth caching."""
        started = time.perf_counter()
        image = np.ascontiguousarray(image, dtype=np.uint8)
        height, width = image.shape[:2]
        points, labels = _points_and_labels(prompt)
        seed_rect = _seed_rect(prompt.box, points, labels, width, height)
        crop = _grow(seed_rect, CONTEXT_MARGIN, width, height)
        mask, score = self._cut(image, prompt.box is not None, seed_rect, crop, points, labels)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        return Segmentation(mask=mask, score=score, segmenter=self.name, timings_ms={"segment": elapsed_ms})

    def _cut(
        self,
        image: np.ndarray,
        has_box: bool,
        seed_rect: _Rect,
        crop: _Rect,
        points: np.ndarray,
        labels: np.ndarray,
    ) -> tuple[np.ndarray, float]:
        """Full-size (H, W) bool mask and score for the product inside `seed_rect`."""
        height, width = image.shape[:2]
        scale = min(1.0, self.work_side / max(crop.width, crop.height))
        work_size = (max(1, round(crop.width * scale)), max(1, round(crop.height * scale)))
        work_image = cv2.resize(
            image[crop.y0 : crop.y1, crop.x0 : crop.x1], work_size, interpolation=cv2.INTER_AREA
        )
        work_rect, work_points = _to_work_frame(seed_rect, points, crop, work_size)
        radius = max(2, round(0.015 * max(work_size)))

        seeds = _seed_mask(work_size, work_rect, work_points, labels, radius)
        rejected = _joined_regions(work_image, work_rect, work_points[labels == 0])
        seeds[rejected & (seeds == cv2.GC_PR_FGD)] = cv2.GC_PR_BGD
        reach = round(INCLUDE_REACH * min(work_rect.width, work_rect.height))
        included = _joined_regions(work_image, work_rect, work_points[labels == 1], reach)
        seeds[included & (seeds != cv2.GC_BGD)] = cv2.GC_FGD
        work_mask = _run_grabcut(work_image, seeds, self.iterations, self.seed)
        if work_mask is not None:
            work_mask = _clean(work_mask, work_points, labels)
        min_pixels = max(4, MIN_FOREGROUND_SHARE * work_rect.width * work_rect.height)
        if work_mask is None or work_mask.sum() < min_pixels:
            return _ellipse_mask(seed_rect, width, height), FALLBACK_SCORE

        in_rect = work_mask[work_rect.y0 : work_rect.y1, work_rect.x0 : work_rect.x1]
        separability = _separability(work_image, work_mask)
        edges = _edge_support(work_image, work_mask, work_rect)
        score = 1.0 - (1.0 - separability) * (1.0 - edges)
        if has_box:
            score *= _fit(in_rect) * _balance(in_rect)
        mask = np.zeros((height, width), dtype=bool)
        mask[crop.y0 : crop.y1, crop.x0 : crop.x1] = _refined(work_mask, image[crop.y0 : crop.y1, crop.x0 : crop.x1])
        return mask, float(np.clip(score, 0.0, 1.0))


def _to_work_frame(
    rect: _Rect, points: np.ndarray, crop: _Rect, work_size: tuple[int, int]
) -> tuple[_Rect, np.ndarray]:
    """`rect` and `points` moved from image pixels into the pixels of `crop` resized to
    work_size (width, height). Points come back as continuous coordinates of their pixel
    centres (so floor() gives the work pixel)."""
    # Per-axis scales, so that the crop's edges land exactly on the work image's edges.
    sx, sy = work_size[0] / crop.width, work_size[1] / crop.height
    work_rect = _Rect(
        x0=max(0, math.floor((rect.x0 - crop.x0) * sx)),
        y0=max(0, math.floor((rect.y0 - crop.y0) * sy)),
        x1=min(work_size[0], max(1, math.ceil((rect.x1 - crop.x0) * sx))),
        y1=min(work_size[1], max(1, math.ceil((rect.y1 - crop.y0) * sy))),
    )
    work_points = np.column_stack([(points[:, 0] + 0.5 - crop.x0) * sx, (points[:, 1] + 0.5 - crop.y0) * sy])
    return work_rect, work_points


def _points_and_labels(prompt: Prompt) -> tuple[np.ndarray, np.ndarray]:
    """Points as (N, 2) float64 and labels as (N,) int, both empty when the prompt has none."""
    if prompt.points is None or prompt.labels is None:
        return np.zeros((0, 2), dtype=np.float64), np.zeros(0, dtype=np.int64)
    points = np.asarray(prompt.points, dtype=np.float64).reshape(-1, 2)
    labels = np.asarray(prompt.labels, dtype=np.int64).reshape(-1)
    return points, labels


def _seed_rect(
    box: tuple[float, float, float, float] | None,
    points: np.ndarray,
    labels: np.ndarray,
    width: int,
    height: int,
) -> _Rect:
    """The rectangle GrabCut starts from, clipped to the image and at least 1 x 1 px."""
    foreground = points[labels == 1]
    spans: list[tuple[float, float, float, float]] = []
    if box is not None:
        spans.append(tuple(float(v) for v in box))
    if len(foreground):
        # A foreground point covers its pixel [x, x + 1).
        fx0, fy0 = foreground.min(axis=0)
        fx1, fy1 = foreground.max(axis=0) + 1.0
        if box is None:
            pad = POINTS_ONLY_MARGIN * min(width, height)
            fx0, fy0, fx1, fy1 = fx0 - pad, fy0 - pad, fx1 + pad, fy1 + pad
        spans.append((fx0, fy0, fx1, fy1))
    if not spans:
        spans.append((0.1 * width, 0.1 * height, 0.9 * width, 0.9 * height))
    x0 = min(s[0] for s in spans)
    y0 = min(s[1] for s in spans)
    x1 = max(s[2] for s in spans)
    y1 = max(s[3] for s in spans)
    ix0 = int(np.clip(math.floor(x0), 0, width - 1))
    iy0 = int(np.clip(math.floor(y0), 0, height - 1))
    ix1 = int(np.clip(math.ceil(x1), ix0 + 1, width))
    iy1 = int(np.clip(math.ceil(y1), iy0 + 1, height))
    return _Rect(ix0, iy0, ix1, iy1)


def _grow(rect: _Rect, share: float, width: int, height: int) -> _Rect:
    """`rect` grown by `share` of its size on every side (at least 8 px), clipped to the image."""
    pad_x = max(8, round(share * rect.width))
    pad_y = max(8, round(share * rect.height))
    return _Rect(
        max(0, rect.x0 - pad_x), max(0, rect.y0 - pad_y), min(width, rect.x1 + pad_x), min(height, rect.y1 + pad_y)
    )


def _seed_mask(
    size: tuple[int, int], rect: _Rect, points: np.ndarray, labels: np.ndarray, radius: int
) -> np.ndarray:
    """GrabCut class map (height, width) uint8 for size (width, height): GC_BGD outside `rect`,
    GC_PR_FGD inside, and discs of `radius` px at the points (GC_FGD for label 1, GC_BGD for
    label 0)."""
    seeds = np.full((size[1], size[0]), cv2.GC_BGD, dtype=np.uint8)
    seeds[rect.y0 : rect.y1, rect.x0 : rect.x1] = cv2.GC_PR_FGD
    if not (seeds != cv2.GC_PR_FGD).any():
        # The rectangle spans the whole crop: GrabCut needs background samples, so the
        # outer ring becomes probable background.
        seeds[[0, -1], :] = cv2.GC_PR_BGD
        seeds[:, [0, -1]] = cv2.GC_PR_BGD
    for (x, y), label in zip(points, labels):
        if label in (0, 1):
            value = cv2.GC_FGD if label == 1 else cv2.GC_BGD
            cv2.circle(seeds, (int(math.floor(x)), int(math.floor(y))), radius, int(value), thickness=-1)
    return seeds


def _joined_regions(image: np.ndarray, rect: _Rect, points: np.ndarray, reach: int | None = None) -> np.ndarray:
    """(H, W) bool: for each point, the pixels of `rect` (and, with `reach`, within that many px
    of the point) joined to it by colours within BACKGROUND_FILL_TOLERANCE of its own.
    A single point says "this thing" or "not this thing"; its few disc pixels alone barely
    move GrabCut's colour models, the region does."""
    height, width = image.shape[:2]
    rejected = np.zeros((height, width), dtype=bool)
    if not len(points):
        return rejected
    smoothed = cv2.GaussianBlur(image, (5, 5), 0)
    tolerance = (BACKGROUND_FILL_TOLERANCE,) * 3
    flags = 4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (2 << 8)
    for x, y in points:
        column, row = int(math.floor(x)), int(math.floor(y))
        if not (rect.x0 <= column < rect.x1 and rect.y0 <= row < rect.y1):
            continue
        # floodFill never enters non-zero mask pixels: wall off everything outside the rect.
        fence = np.ones((height + 2, width + 2), dtype=np.uint8)
        fence[rect.y0 + 1 : rect.y1 + 1, rect.x0 + 1 : rect.x1 + 1] = 0
        if reach is not None:
            disc = np.zeros_like(fence)
            cv2.circle(disc, (column + 1, row + 1), reach, 1, thickness=-1)
            fence[disc == 0] = 1
        cv2.floodFill(smoothed, fence, (column, row), 0, tolerance, tolerance, flags)
        rejected |= fence[1:-1, 1:-1] == 2
    return rejected


def _run_grabcut(image: np.ndarray, seeds: np.ndarray, iterations: int, seed: int) -> np.ndarray | None:
    """Foreground (height, width) bool after GrabCut from `seeds`, or None if it cannot run
    (too few foreground or background samples to fit its colour models).

    Runs MIN_ITERATIONS rounds, then one round at a time until fewer than CONVERGED_SHARE of
    the foreground's pixels change, or `iterations` rounds in all: most cuts settle after two
    or three, and a round on a busy 320 px crop costs up to ~130 ms.
    """
    is_background = (seeds == cv2.GC_BGD) | (seeds == cv2.GC_PR_BGD)
    # GrabCut fits 5-component colour mixtures: each side needs at least that many samples.
    if is_background.sum() < 5 or (~is_background).sum() < 5:
        return None
    background_model = np.zeros((1, 65), dtype=np.float64)
    foreground_model = np.zeros((1, 65), dtype=np.float64)
    cv2.setRNGSeed(seed)
    first = min(MIN_ITERATIONS, iterations)
    try:
        labels, background_model, foreground_model = cv2.grabCut(
            image, seeds.copy(), None, background_model, foreground_model, first, cv2.GC_INIT_WITH_MASK
        )
        # GC_FGD (1) and GC_PR_FGD (3) are the odd labels
        foreground = (labels & 1).astype(bool)
        for _ in range(iterations - first):
            labels, background_model, foreground_model = cv2.grabCut(
                image, labels, None, background_model, foreground_model, 1, cv2.GC_EVAL
            )
            previous, foreground = foreground, (labels & 1).astype(bool)
            if np.count_nonzero(previous != foreground) < CONVERGED_SHARE * max(1, np.count_nonzero(foreground)):
                break
    except cv2.error:
        return None
    return foreground


def _clean(mask: np.ndarray, points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Keep the components of `mask` holding a foreground point (else the largest one) and fill
    holes that hold no background point. mask: (H, W) bool; points in mask pixel coords."""
    height, width = mask.shape
    pixels = [(min(height - 1, max(0, int(y))), min(width - 1, max(0, int(x)))) for x, y in points]
    count, component = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    wanted = {int(component[p]) for p, label in zip(pixels, labels) if label == 1} - {0}
    if not wanted:
        sizes = np.bincount(component.ravel(), minlength=count)
        sizes[0] = 0
        wanted = {int(sizes.argmax())}
    kept = np.isin(component, list(wanted))

    hole_count, hole = cv2.connectedComponents((~kept).astype(np.uint8), connectivity=4)
    border = np.unique(np.concatenate([hole[0], hole[-1], hole[:, 0], hole[:, -1]]))
    marked = {int(hole[p]) for p, label in zip(pixels, labels) if label == 0}
    fill = np.setdiff1d(np.arange(1, hole_count), np.union1d(border, list(marked)))
    return kept | np.isin(hole, fill)


def _separability(image: np.ndarray, mask: np.ndarray) -> float:
    """1 - Bhattacharyya coefficient of the colour histograms inside and outside `mask`."""
    if mask.all():
        return 0.0
    ranges = [0, 256] * 3
    bins = [HIST_BINS] * 3
    inside = cv2.calcHist([image], [0, 1, 2], mask.astype(np.uint8), bins, ranges).ravel()
    outside = cv2.calcHist([image], [0, 1, 2], (~mask).astype(np.uint8), bins, ranges).ravel()
    coefficient = np.sqrt((inside / inside.sum()) * (outside / outside.sum())).sum()
    return float(1.0 - coefficient)


def _edge_support(image: np.ndarray, mask: np.ndarray, rect: _Rect) -> float:
    """0..1: how strongly the image has edges along the mask's outline inside `rect`, compared
    with its edges there on average (see the class docstring)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gradient = cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    window = np.s_[rect.y0 : rect.y1, rect.x0 : rect.x1]
    outline = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))[window] > 0
    average = float(gradient[window].mean())
    if not outline.any() or average <= 0:
        return 0.0
    ratio = float(gradient[window][outline].mean()) / average
    return float(np.clip((ratio - 1.0) / EDGE_RATIO_FULL_SUPPORT, 0.0, 1.0))


def _balance(box_mask: np.ndarray) -> float:
    """1 when the mask leaves alike gaps to opposite sides of the box, falling to 0 as one gap
    grows BALANCE_SPAN past the other by more than BALANCE_TOLERANCE (shares of the box's side)."""
    rows, columns = np.flatnonzero(box_mask.any(axis=1)), np.flatnonzero(box_mask.any(axis=0))
    if rows.size == 0:
        return 0.0
    height, width = box_mask.shape
    asymmetry = max(abs(columns[0] - (width - 1 - columns[-1])) / width,
                    abs(rows[0] - (height - 1 - rows[-1])) / height)
    return float(1.0 - np.clip((asymmetry - BALANCE_TOLERANCE) / BALANCE_SPAN, 0.0, 1.0))


def _fit(box_mask: np.ndarray) -> float:
    """How plausible the share of the box covered by the mask is (see the class docstring)."""
    share = float(box_mask.mean()) if box_mask.size else 0.0
    return min(1.0, share / 0.2) * min(1.0, (1.0 - share) / 0.05)


def _refined(mask: np.ndarray, image: np.ndarray) -> np.ndarray:
    """The work-resolution mask ((h, w) bool) at the full resolution of `image` ((H, W, 3) uint8),
    with its outline moved onto the image's own edges: (H, W) bool.

    The lightly blurred mask is upscaled bilinearly and guided-filtered with the image's grey
    levels as the guide (radius about twice the upscaling factor): within each window the
    result is a linear function of the image, so a boundary a pixel or two off lands on the
    edge the image actually has. Thresholded at 0.5.
    """
    height, width = image.shape[:2]
    soft = cv2.resize(cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0.7), (width, height),
                      interpolation=cv2.INTER_LINEAR)
    factor = max(width / mask.shape[1], height / mask.shape[0])
    if factor <= 1.0:
        return soft > 0.5
    guide = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    return guided_filter(guide, soft, max(2, round(2 * factor)), GUIDED_FILTER_EPS) > 0.5


def _ellipse_mask(rect: _Rect, width: int, height: int) -> np.ndarray:
    """(height, width) bool: pixels whose centres lie in the ellipse inscribed in `rect`
    (at least the pixel at its centre)."""
    yy, xx = np.mgrid[rect.y0 : rect.y1, rect.x0 : rect.x1] + 0.5
    cx, cy = (rect.x0 + rect.x1) / 2.0, (rect.y0 + rect.y1) / 2.0
    inside = ((xx - cx) / (rect.width / 2.0)) ** 2 + ((yy - cy) / (rect.height / 2.0)) ** 2 <= 1.0
    inside[rect.height // 2, rect.width // 2] = True
    mask = np.zeros((height, width), dtype=bool)
    mask[rect.y0 : rect.y1, rect.x0 : rect.x1] = inside
    return mask
