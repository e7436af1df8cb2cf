"""Exemplar (patch-based) search for the removal fill: for each hole pixel, where in the known
surroundings its texture is copied from.

Runs at a reduced "search" resolution, coarse to fine. On each level a nearest-neighbour field
(NNF) maps every patch that overlaps the hole to a fully known patch, found by randomised
search and by trying the offsets of neighbours (the PatchMatch idea, run for all patches at
once with numpy); the hole is then repainted by letting the overlapping patches vote (the
expectation-maximisation completion of Wexler, Shechtman and Irani), and the two steps
alternate. What is returned is the finest field's offsets; removal.fill_hole copies
full-resolution pixels with them, so the copy is as sharp as the photo.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PATCH_RADIUS = 3          # px at a level's resolution: patches are 7x7
FEATURES = 12             # patches are compared by their projections on this many principal components
COARSEST_HOLE_SIDE = 48   # px: levels are halved until the hole's longer side is at most this
EM_STEPS_COARSE = 4       # search-and-vote rounds on every level but the finest
EM_STEPS_FINEST = 2       # fewer on the finest: the enlarged coarser field is already close
SEARCH_ROUNDS = 2         # propagation + random search passes per search step
JUMPS = (8, 4, 2, 1)      # px: distances at which a neighbour's offset is tried (coherent copies)
PCA_SAMPLES = 4000        # known patches the principal components are estimated from
MIN_SOURCES = 16          # fewer fully known patches than this on a level: nothing to copy from
DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0))


@dataclass
class _Level:
    """One pyramid level: image HxWx3 float32 (hole pixels hold the current fill); hole,
    wanted (see search_offsets), sources (centres of fully known patches): HxW bool."""

    image: np.ndarray
    hole: np.ndarray
    wanted: np.ndarray
    sources: np.ndarray


def search_offsets(start: np.ndarray, hole: np.ndarray, wanted: np.ndarray,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-pixel copy offsets for the hole, at the resolution of `start`.

    start: HxWx3 uint8, the image with its hole pre-filled smoothly (the coarsest level
    starts from it); hole: HxW bool; wanted: HxW bool, the hole pixels whose offsets are
    needed (the rest of the hole keeps its smooth fill and is searched only as far as patches
    over wanted pixels reach). Returns (offsets, voted): offsets HxWx2 int32 (dy, dx) px, a
    wanted pixel (y, x) takes its texture from the known pixel (y + dy, x + dx), whose 7x7
    patch is known too, zeros outside the hole; voted HxWx3 float32, the image with its hole
    repainted by the patches' votes (blurrier than a copy, but seamless). None when the image
    has too few fully known patches.
    """
    levels = _pyramid(start, hole, wanted)
    if levels is None:
        return None
    offsets = None
    for index in range(len(levels) - 1, -1, -1):
        level = levels[index]
        basis = _patch_basis(level)
        targets = _targets(level.wanted)
        if offsets is None:
            field = _random_sources(len(targets), level.sources, rng)
        else:
            field = _enlarged_field(offsets, targets, level.sources, rng)
            _vote(level, targets, field)
        source_features = _features(level.image, basis)
        for _ in range(EM_STEPS_FINEST if index == 0 else EM_STEPS_COARSE):
            field = _searched(field, targets, level, source_features, basis, rng)
            _vote(level, targets, field)
        offsets = np.zeros(level.hole.shape + (2,), np.int32)
        offsets[targets[:, 0], targets[:, 1]] = field - targets
    offsets[~hole] = 0
    return offsets, levels[0].image


def _pyramid(start: np.ndarray, hole: np.ndarray, wanted: np.ndarray) -> list[_Level] | None:
    """Levels from `start` (index 0) down, each half the size of the one before, until the
    hole's longer side is COARSEST_HOLE_SIDE or a smaller level would have too few sources;
    None if even `start` has too few.

    A coarser pixel is the mean of the known pixels under it and is hole only if none is:
    the hole does not grow from level to level, and its colour never leaks into the known."""
    level = _Level(start.astype(np.float32), hole, wanted, _source_centres(hole))
    if np.count_nonzero(level.sources) < MIN_SOURCES:
        return None
    levels = [level]
    while _hole_side(level.hole) > COARSEST_HOLE_SIDE:
        h, w = level.hole.shape
        size = ((w + 1) // 2, (h + 1) // 2)
        known = (~level.hole).astype(np.float32)
        known_share = cv2.resize(known, size, interpolation=cv2.INTER_AREA)
        image = cv2.resize(level.image * known[..., None], size, interpolation=cv2.INTER_AREA)
        smaller_hole = known_share <= 0
        image /= np.maximum(known_share, 1e-6)[..., None]
        image[smaller_hole] = cv2.resize(level.image, size, interpolation=cv2.INTER_AREA)[smaller_hole]
        sources = _source_centres(smaller_hole)
        if np.count_nonzero(sources) < MIN_SOURCES:
            break
        wanted = smaller_hole & _shrunk_mask(level.wanted, size)
        level = _Level(image, smaller_hole, wanted, sources)
        levels.append(level)
    return levels


def _shrunk_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """mask resized to size (W, H): a pixel that mixes in any masked pixel is masked."""
    return cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0


def _hole_side(hole: np.ndarray) -> int:
    """Longer side of the hole's bounding box, px."""
    rows, columns = np.flatnonzero(hole.any(axis=1)), np.flatnonzero(hole.any(axis=0))
    if rows.size == 0:
        return 0
    return int(max(rows[-1] - rows[0], columns[-1] - columns[0])) + 1


def _source_centres(hole: np.ndarray) -> np.ndarray:
    """HxW bool: centres of patches that lie inside the image and hold no hole pixel."""
    size = 2 * PATCH_RADIUS + 1
    # eroding with a zero border drops centres whose patch would leave the image
    known = cv2.erode((~hole).astype(np.uint8), np.ones((size, size), np.uint8),
                      borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return known.astype(bool)


def _targets(wanted: np.ndarray) -> np.ndarray:
    """Nx2 int32 (y, x) of the patches that overlap the wanted pixels (dilated by the patch)."""
    size = 2 * PATCH_RADIUS + 1
    reach = cv2.dilate(wanted.astype(np.uint8), np.ones((size, size), np.uint8))
    return np.argwhere(reach).astype(np.int32)


def _patches(image: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Nx(7x7xC) float32: the patches of image (HxWxC, padded by PATCH_RADIUS on each side)
    around centres (Nx2, unpadded coordinates), flattened row, column, channel."""
    span = np.arange(2 * PATCH_RADIUS + 1)
    rows = centres[:, 0, None, None] + span[None, :, None]
    columns = centres[:, 1, None, None] + span[None, None, :]
    return image[rows, columns].reshape(len(centres), -1).astype(np.float32)


def _padded(image: np.ndarray, value: float | None = None) -> np.ndarray:
    """image padded by PATCH_RADIUS on each side: reflected, or with `value`."""
    r = PATCH_RADIUS
    if value is None:
        return cv2.copyMakeBorder(image, r, r, r, r, cv2.BORDER_REFLECT)
    return cv2.copyMakeBorder(image, r, r, r, r, cv2.BORDER_CONSTANT, value=value)


def _evenly_picked(points: np.ndarray, count: int) -> np.ndarray:
    """At most `count` of the points, evenly spread over their (row-major) order."""
    if len(points) <= count:
        return points
    return points[np.linspace(0, len(points) - 1, count).astype(np.int64)]


def _patch_basis(level: _Level) -> np.ndarray:
    """FEATURESx7x7x3 float32: the principal components of the level's known patches, as
    correlation kernels (component, row, column, channel)."""
    size = 2 * PATCH_RADIUS + 1
    picked = _evenly_picked(np.argwhere(level.sources), PCA_SAMPLES)
    patches = _patches(_padded(level.image), picked)
    patches -= patches.mean(axis=0)
    _, vectors = np.linalg.eigh(patches.T @ patches)
    count = min(FEATURES, vectors.shape[1])
    return vectors[:, ::-1][:, :count].T.reshape(count, size, size, 3).astype(np.float32)


def _features(image: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """HxWxK float32: each pixel's patch projected on the K components of `basis`."""
    out = np.empty(image.shape[:2] + (len(basis),), np.float32)
    for k, kernel in enumerate(basis):
        out[..., k] = sum(cv2.filter2D(image[..., c], cv2.CV_32F, kernel[..., c],
                                       borderType=cv2.BORDER_REFLECT) for c in range(3))
    return out


def _target_features(level: _Level, targets: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """NxK float32 features of the target patches, computed on their bounding box only."""
    h, w = level.hole.shape
    top, left = np.maximum(targets.min(axis=0) - PATCH_RADIUS, 0)
    bottom, right = targets.max(axis=0) + PATCH_RADIUS + 1
    box = _features(level.image[top:min(h, bottom), left:min(w, right)], basis)
    return box[targets[:, 0] - top, targets[:, 1] - left]


def _random_sources(count: int, sources: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """count x 2 int32 centres of known patches, uniformly drawn."""
    centres = np.argwhere(sources).astype(np.int32)
    return centres[rng.integers(0, len(centres), count)]


def _enlarged_field(coarse_offsets: np.ndarray, targets: np.ndarray, sources: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """Nx2 int32 sources for this level's targets from the coarser level's offsets (doubled);
    a target whose doubled offset lands on no known patch gets a random one."""
    coarse_h, coarse_w = coarse_offsets.shape[:2]
    cy = np.minimum(targets[:, 0] // 2, coarse_h - 1)
    cx = np.minimum(targets[:, 1] // 2, coarse_w - 1)
    field = targets + 2 * coarse_offsets[cy, cx]
    bad = ~_is_source(field, sources)
    field[bad] = _random_sources(int(np.count_nonzero(bad)), sources, rng)
    return field


def _is_source(points: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """N bool: the points (y, x) are centres of known patches."""
    h, w = sources.shape
    inside = (points[:, 0] >= 0) & (points[:, 0] < h) & (points[:, 1] >= 0) & (points[:, 1] < w)
    ok = np.zeros(len(points), bool)
    ok[inside] = sources[points[inside, 0], points[inside, 1]]
    return ok


def _searched(field: np.ndarray, targets: np.ndarray, level: _Level, source_features: np.ndarray,
              basis: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The field improved for the level's current fill: each target tries the offsets of
    neighbours JUMPS px away (a good copy continues: that is what keeps it coherent) and
    random sources in windows shrinking around its own."""
    wanted = _target_features(level, targets, basis)
    field = field.copy()
    cost = _distance(field, wanted, source_features)
    slot = np.full(level.hole.shape, -1, np.int64)
    slot[targets[:, 0], targets[:, 1]] = np.arange(len(targets))
    h, w = level.hole.shape
    for _ in range(SEARCH_ROUNDS):
        for jump in JUMPS:
            for dy, dx in DIRECTIONS:
                step = np.array([dy * jump, dx * jump], np.int32)
                neighbour = targets + step
                inside = ((neighbour[:, 0] >= 0) & (neighbour[:, 0] < h)
                          & (neighbour[:, 1] >= 0) & (neighbour[:, 1] < w))
                index = np.full(len(targets), -1, np.int64)
                index[inside] = slot[neighbour[inside, 0], neighbour[inside, 1]]
                has = index >= 0
                candidate = field.copy()
                candidate[has] = field[index[has]] - step
                _keep_better(field, cost, candidate, wanted, level.sources, source_features)
        radius = max(h, w)
        while radius >= 1:
            candidate = field + rng.integers(-radius, radius + 1, field.shape, dtype=np.int32)
            _keep_better(field, cost, candidate, wanted, level.sources, source_features)
            radius //= 2
    return field


def _distance(points: np.ndarray, wanted: np.ndarray, source_features: np.ndarray) -> np.ndarray:
    """N float32 squared feature distance of the patches at `points` to the wanted features."""
    difference = source_features[points[:, 0], points[:, 1]] - wanted
    return np.einsum("nk,nk->n", difference, difference)


def _keep_better(field: np.ndarray, cost: np.ndarray, candidate: np.ndarray, wanted: np.ndarray,
                 sources: np.ndarray, source_features: np.ndarray) -> None:
    """Replace, in place, the field's sources by the candidates that are known patches and closer."""
    ok = _is_source(candidate, sources)
    if not ok.any():
        return
    distance = np.full(len(candidate), np.inf, np.float32)
    distance[ok] = _distance(candidate[ok], wanted[ok], source_features)
    better = distance < cost
    field[better] = candidate[better]
    cost[better] = distance[better]


def _vote(level: _Level, targets: np.ndarray, field: np.ndarray) -> None:
    """Repaint the level's hole pixels (in place) with the mean of what the patches that cover
    them copy there: the patch at target t, copied from source s, puts s + d at t + d."""
    h, w = level.hole.shape
    total = np.zeros(level.image.shape, np.float32)
    count = np.zeros(level.hole.shape, np.float32)
    for dy in range(-PATCH_RADIUS, PATCH_RADIUS + 1):
        for dx in range(-PATCH_RADIUS, PATCH_RADIUS + 1):
            ty, tx = targets[:, 0] + dy, targets[:, 1] + dx
            inside = (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
            inside[inside] = level.hole[ty[inside], tx[inside]]
            # each target lands on a different pixel, so the fancy-indexed += adds every vote
            total[ty[inside], tx[inside]] += level.image[field[inside, 0] + dy, field[inside, 1] + dx]
            count[ty[inside], tx[inside]] += 1.0
    voted = level.hole & (count > 0)
    level.image[voted] = total[voted] / count[voted][:, None]
