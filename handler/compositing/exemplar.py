"""Exemplar (patch-based) search for the removal fill: for each hole pixel, where in the known
surroundings its texture is copied from.

Runs at a reduced "search" resolution, coarse to fine. On each level a nearest-neighbour field
(NNF) maps every patch that overlaps the hole to a fully known patch, found by randomised
search and by trying the offsets of neighbours (the PatchMatch idea, run for all patches at
once with numpy); the hole is then repainted by letting the overlapping patches vote (the
expectation-maximisation completion of Wexler, Shechtman and Irani), and the two steps
alternate. What is returned is the finest field's offsets and vote; removal.fill_hole copies
full-resolution pixels with the offsets, so the copy is as sharp as the photo.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PATCH_RADIUS = 3          # px at a level's resolution: patches are 7x7
COSINE_ORDER = 4          # patches are compared by their grey levels' 2-D cosine components up to this order
COARSEST_HOLE_SIDE = 48   # px: levels are halved until the hole's longer side is at most this
EM_STEPS_COARSE = 3       # search-and-vote rounds on every level but the finest
EM_STEPS_FINEST = 2       # fewer on the finest: the enlarged coarser field is already close
SEARCH_ROUNDS = 1         # propagation + random search passes per search step
JUMPS = (4, 1)            # px: distances at which a neighbour's offset is tried (coherent copies)
COHERENCE_SLACK = 0.15    # a neighbour's offset is taken if its patch distance is at most this much worse
MIN_SOURCES = 16          # fewer fully known patches than this on a level: nothing to copy from
NO_SOURCE = -1e6          # px: where a vote's map points when there is no patch to read from
DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0))


@dataclass
class _Level:
    """One pyramid level: image HxWx3 float32 (hole pixels hold the current fill); hole,
    wanted (see search_offsets), sources (centres of fully known patches): HxW bool."""

    image: np.ndarray
    hole: np.ndarray
    wanted: np.ndarray
    sources: np.ndarray


def search_offsets(start: np.ndarray, hole: np.ndarray, wanted: np.ndarray, allowed: np.ndarray,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-pixel copy offsets for the hole, at the resolution of `start`.

    start: HxWx3 (uint8 or float32 levels), the image with its hole pre-filled smoothly (the
    coarsest level starts from it); hole: HxW bool; wanted: HxW bool, the hole pixels whose
    offsets are needed (the rest of the hole keeps its smooth fill and is searched only as
    far as patches over wanted pixels reach); allowed: HxW bool, where patches may be copied
    from; rng: the seeded generator of the random search.
    Returns (offsets, voted): offsets HxWx2 int32 (dy, dx) px, a wanted pixel (y, x) takes
    its texture from the known pixel (y + dy, x + dx), whose 7x7 patch is known and allowed,
    zeros outside the hole; voted HxWx3 float32, the image with its hole repainted by the
    patches' votes (blurrier than a copy, but without seams). None when the image has fewer
    than MIN_SOURCES fully known, allowed patches.
    """
    levels = _pyramid(start, hole, wanted, allowed)
    if levels is None:
        return None
    offsets = None
    for index in range(len(levels) - 1, -1, -1):
        level = levels[index]
        targets = _targets(level.wanted)
        if offsets is None:
            field = _random_sources(len(targets), level.sources, rng)
        else:
            field = _enlarged_field(offsets, targets, level.sources, rng)
            _vote(level, targets, field)
        source_features = _features(level.image)
        for _ in range(EM_STEPS_FINEST if index == 0 else EM_STEPS_COARSE):
            field = _searched(field, targets, level, source_features, rng)
            _vote(level, targets, field)
        offsets = np.zeros(level.hole.shape + (2,), np.int32)
        offsets[targets[:, 0], targets[:, 1]] = field - targets
    offsets[~hole] = 0
    return offsets, levels[0].image


def _pyramid(start: np.ndarray, hole: np.ndarray, wanted: np.ndarray,
             allowed: np.ndarray) -> list[_Level] | None:
    """Levels from `start` (index 0) down, each half the size of the one before, until the
    hole's longer side is COARSEST_HOLE_SIDE or a smaller level would have too few sources;
    None if even `start` has too few.

    A coarser pixel is the mean of the known pixels under it and is hole only if none is:
    the hole does not grow from level to level, and its colour never leaks into the known."""
    level = _Level(start.astype(np.float32), hole, wanted, _source_centres(hole) & allowed)
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
        # a coarser pixel may be copied from if most of what it averages may
        allowed = cv2.resize(allowed.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5
        sources = _source_centres(smaller_hole) & allowed
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


def _cosine_kernels() -> np.ndarray:
    """Kx7x7 float32: the orthonormal 2-D cosine (DCT-II) basis patches of order 1 <= u + v <=
    COSINE_ORDER (the mean, order 0, is taken per channel instead), as correlation kernels."""
    size = 2 * PATCH_RADIUS + 1
    span = np.arange(size)
    kernels = []
    for u in range(COSINE_ORDER + 1):
        for v in range(COSINE_ORDER + 1 - u):
            if u + v == 0:
                continue
            cu = np.cos(np.pi * (2 * span + 1) * u / (2 * size)) * np.sqrt((1 if u == 0 else 2) / size)
            cv = np.cos(np.pi * (2 * span + 1) * v / (2 * size)) * np.sqrt((1 if v == 0 else 2) / size)
            kernels.append(np.outer(cu, cv))
    return np.array(kernels, np.float32)


COSINES = _cosine_kernels()


def _features(image: np.ndarray) -> np.ndarray:
    """HxWx(3 + K) float32: each pixel's patch described by its mean per channel and the K
    COSINES of its grey levels, scaled so that squared distances approximate the patches'
    summed squared RGB differences. Texture is mostly a matter of lightness; colour is kept
    in the means. Up to order COSINE_ORDER the comparison sees the texture's grain (so that
    a smooth sky does not take a tower's struts), not its finest noise."""
    size = 2 * PATCH_RADIUS + 1
    out = np.empty(image.shape[:2] + (3 + len(COSINES),), np.float32)
    for c in range(3):
        # the mean kernel of an orthonormal basis: 1/size per tap, times size
        out[..., c] = cv2.blur(image[..., c], (size, size), borderType=cv2.BORDER_REFLECT) * size
    # an equal grey difference d in each channel is 3 d^2 per pixel: grey x sqrt(3)
    grey = image.sum(axis=2) * np.float32(1 / np.sqrt(3.0))
    for k, kernel in enumerate(COSINES):
        out[..., 3 + k] = cv2.filter2D(grey, cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT)
    return out


def _target_features(level: _Level, targets: np.ndarray) -> np.ndarray:
    """NxK float32 features of the target patches, computed on their bounding box only."""
    h, w = level.hole.shape
    top, left = np.maximum(targets.min(axis=0) - PATCH_RADIUS, 0)
    bottom, right = targets.max(axis=0) + PATCH_RADIUS + 1
    box = _features(level.image[top:min(h, bottom), left:min(w, right)])
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
              rng: np.random.Generator) -> np.ndarray:
    """The field improved for the level's current fill: each target tries the offsets of
    neighbours JUMPS px away (a good copy continues) and random sources in windows shrinking
    around its own. A neighbour's offset is taken even when it is up to COHERENCE_SLACK
    worse: one copy over a large area shows the photo's own texture, many small ones
    blended at their borders show blur."""
    wanted = _target_features(level, targets)
    field = field.copy()
    cost = _distance(field, wanted, source_features)
    neighbours = _neighbours(targets, level.hole.shape)
    h, w = level.hole.shape
    for _ in range(SEARCH_ROUNDS):
        for who, neighbour, step in neighbours:
            _keep_better(field, cost, who, field[neighbour] - step, wanted, level.sources,
                         source_features, 1.0 + COHERENCE_SLACK)
        radius = max(h, w)
        everyone = np.arange(len(targets))
        while radius >= 1:
            candidate = field + rng.integers(-radius, radius + 1, field.shape, dtype=np.int32)
            _keep_better(field, cost, everyone, candidate, wanted, level.sources, source_features, 1.0)
            radius //= 2
    return field


def _neighbours(targets: np.ndarray, shape: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For each jump and direction: (who, neighbour, step), the indices of the targets whose
    target neighbour `step` (2,) px away exists, and that neighbour's index."""
    slot = np.full(shape, -1, np.int64)
    slot[targets[:, 0], targets[:, 1]] = np.arange(len(targets))
    h, w = shape
    found = []
    for jump in JUMPS:
        for dy, dx in DIRECTIONS:
            step = np.array([dy * jump, dx * jump], np.int32)
            at = targets + step
            inside = np.flatnonzero((at[:, 0] >= 0) & (at[:, 0] < h) & (at[:, 1] >= 0) & (at[:, 1] < w))
            index = slot[at[inside, 0], at[inside, 1]]
            has = index >= 0
            found.append((inside[has], index[has], step))
    return found


def _distance(points: np.ndarray, wanted: np.ndarray, source_features: np.ndarray) -> np.ndarray:
    """N float32 squared feature distance of the patches at `points` to the wanted features."""
    difference = source_features[points[:, 0], points[:, 1]] - wanted
    return np.einsum("nk,nk->n", difference, difference)


def _keep_better(field: np.ndarray, cost: np.ndarray, who: np.ndarray, candidate: np.ndarray,
                 wanted: np.ndarray, sources: np.ndarray, source_features: np.ndarray, slack: float) -> None:
    """For the targets `who`, replace (in place) the field's sources by the candidates (one
    per target in `who`) that are known patches and closer than `slack` times the current cost."""
    ok = _is_source(candidate, sources)
    who, candidate = who[ok], candidate[ok]
    distance = _distance(candidate, wanted[who], source_features)
    better = distance < cost[who] * slack
    field[who[better]] = candidate[better]
    cost[who[better]] = distance[better]


def _vote(level: _Level, targets: np.ndarray, field: np.ndarray) -> None:
    """Repaint the level's hole pixels (in place) with the mean of what the patches that cover
    them copy there: the patch at target t, copied from source s, puts s + d at t + d.

    Per patch offset d, one cv2.remap over the targets' box (grown by the patch) reads, for
    every pixel q, the source pixel that target q - d sends it; a pixel with no target at
    q - d reads from far outside the image, which gives 0."""
    r = PATCH_RADIUS
    h, w = level.hole.shape
    top, left = targets.min(axis=0) - r
    bottom, right = targets.max(axis=0) + r + 1
    box_h, box_w = bottom - top, right - left
    # padded by r more, so that the box's view shifted by any d fits in it
    map_y = np.full((box_h + 2 * r, box_w + 2 * r), NO_SOURCE, np.float32)
    map_x = map_y.copy()
    map_y[targets[:, 0] - top + r, targets[:, 1] - left + r] = field[:, 0]
    map_x[targets[:, 0] - top + r, targets[:, 1] - left + r] = field[:, 1]
    total = np.zeros((box_h, box_w, 3), np.float32)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            # pixel q of the box reads target q - d
            view = (slice(r - dy, r - dy + box_h), slice(r - dx, r - dx + box_w))
            total += cv2.remap(level.image, map_x[view] + dx, map_y[view] + dy, cv2.INTER_NEAREST,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    is_target = (map_y[r:-r, r:-r] != NO_SOURCE).astype(np.float32)
    count = cv2.boxFilter(is_target, -1, (2 * r + 1, 2 * r + 1), normalize=False,
                          borderType=cv2.BORDER_CONSTANT)
    # the part of the box inside the level
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(bottom, h), min(right, w)
    inner = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
    voted = level.hole[y0:y1, x0:x1] & (count[inner] > 0.5)
    region = level.image[y0:y1, x0:x1]
    region[voted] = total[inner][voted] / count[inner][voted][:, None]
