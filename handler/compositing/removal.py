"""Filling the old product's region from its surroundings.

Works on a region of interest (ROI) of the scene: HxWx3 uint8 RGB plus an HxW bool mask.
"""
from __future__ import annotations

import cv2
import numpy as np

from .exemplar import search_offsets

FILL_SIDE = 160        # the smooth fill is computed at a resolution whose longer ROI side is this
TEXTURE_SEED = 7       # fixed so the same request renders the same pixels
SEARCH_SIDE = 96       # px: the patch search runs at a resolution whose longer hole side is at most this
SEARCH_CONTEXT = 0.35  # hole sides: how far around the hole the patch search looks for sources
TONE_SIGMA = 4.0       # search px: detail finer than this is copied; coarser light and colour come from the vote
BUSY_RATIO = 4.0       # sources with texture this many times stronger than around the hole are not copied
BUSY_SIGMA = 1.5       # search px: scale of the detail whose strength that compares
BUSY_RING_PX = 4       # search px: width of the ring around the hole where the typical strength is taken
BUSY_FLOOR = 2.0       # grey levels: detail weaker than this counts as this strong
COLOUR_STEP = 16       # levels: colours are told apart in steps of this many levels per channel
COLOUR_SHARE = 0.05    # a colour this rare on the hole's rim is not copied into it
COLOUR_RIM_PX = 1      # search px: width of that rim
CALM_RMS = 1.6         # grey levels: surroundings with less fine detail than this get the smooth fill and grain
TEXTURED_RMS = 2.6     # grey levels: surroundings with more get the copy alone (in between: mixed)
SHARE_SIGMA = 8.0      # search px: how far around a hole pixel that detail is looked at
SEAM_REACH = 16        # px: how far into the hole the fill is lifted to meet its edge
SEAM_RIM_PX = 1       # px: width of the hole's rim where that lift is measured
SEAM_MEAN_RADIUS = 2   # px: the rim is lifted to the mean of the known pixels this near
SEAM_RADII = (2, 4, 8, SEAM_REACH)   # px: the box windows that average the lift (see _edge_lift)
EDGE_CONTRAST = 12.0   # RGB distance of a span's two ends at which it is trusted half as much
TEXTURE_BAND_ROWS = 64   # texture is made this many rows at a time
GATHER_ROW = 4096      # px: points gathered by one cv2.remap are laid out in rows this long
HUE_CLIP = 2.0         # copied detail whose chroma is up to this many times its robust spread around the
                       # hole is copied in full; at twice that, not at all
HUE_FLOOR = 1.0        # levels: a chroma spread below this (a grey surface) counts as this
DETAIL_SAMPLES = 50_000   # about this many pixels around the hole measure that spread


def hole_for(mask: np.ndarray, grow_px: int) -> np.ndarray:
    """The mask grown by grow_px (disc) so the old product's anti-aliased fringe goes too."""
    if grow_px <= 0:
        return mask.copy()
    return cv2.dilate(mask.astype(np.uint8), disc(grow_px)).astype(bool)


def disc(radius: int) -> np.ndarray:
    """uint8 (2r+1)x(2r+1) kernel of the offsets within Euclidean distance r."""
    ys, xs = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return (xs * xs + ys * ys <= radius * radius).astype(np.uint8)


def fill_hole(image: np.ndarray, hole: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Image with the hole pixels replaced by a fill continued from around the hole.

    image: HxWx3 uint8 ROI; hole, covered: HxW bool. Pixels outside the hole are returned
    unchanged. Hole pixels that will be covered (hidden under the new product) get only the
    fill's smooth base; detail is spent on the visible ones.
    A patch search at reduced resolution (exemplar.search_offsets; see _ExemplarCopy) says
    where around the hole each visible pixel's texture is copied from. Full-resolution
    pixels are copied with its offsets, so the texture (wood grain, fabric) keeps the photo's
    sharpness, and go on a smooth base from the search's vote, made to meet the hole's edge.
    Where the surroundings are calm (a clear sky, a blurred background) the detail is grain
    of the surroundings' strength instead of the copy's. Where nothing can be copied (no
    fully known patch around the hole), the base is an interpolation across the hole with
    that grain. Near the edge the fill is lifted to meet the real pixels (_edge_lift), so no
    seam shows.
    Pixels are written a band of rows at a time, so a hole of any size costs little memory.
    """
    h = hole.shape[0]
    out = image.copy()
    copy = _ExemplarCopy.search(image, hole, covered) if (hole & ~covered).any() else None
    base = _smooth_fill(image, hole) if copy is None else copy.base
    grain = _Grain(image, hole)
    for first in range(0, h, TEXTURE_BAND_ROWS):
        stop = min(h, first + TEXTURE_BAND_ROWS)
        band_base = base.rows(first, stop)
        # cv2.copyTo with a one-channel mask is many times faster than numpy's masked copy
        cv2.copyTo(band_base.astype(np.uint8), hole[first:stop].view(np.uint8), out[first:stop])
        ys, xs = np.nonzero(hole[first:stop] & ~covered[first:stop])
        if ys.size == 0:
            continue
        texture = grain.draw(ys.size)
        if copy is not None:
            detail, share = copy.detail(first, ys, xs)
            # mixing two independent textures flattens them; rescale to keep their contrast
            keep = 1.0 / np.sqrt(share ** 2 + (1.0 - share) ** 2)
            texture = detail * (share * keep)[:, None] + texture * ((1.0 - share) * keep)[:, None]
        texture += _edge_lift(image, hole, base, (first, stop), ys, xs)
        out[ys + first, xs] = np.clip(band_base[ys, xs] + texture, 0, 255).astype(np.uint8)
    return out


def _smooth_fill(image: np.ndarray, hole: np.ndarray) -> "_SmoothFill":
    """The hole interpolated at a resolution whose longer ROI side is FILL_SIDE (light and
    colour change slowly), to be enlarged a band at a time."""
    h, w = hole.shape
    factor = min(1.0, FILL_SIDE / max(h, w))
    small_size = (max(1, round(w * factor)), max(1, round(h * factor)))
    small = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
    # any small pixel that mixes in hole pixels is part of the hole, so no old colour survives
    small_hole = _shrunk_hole(hole, small_size)
    return _SmoothFill(_interpolate_across(small.astype(np.float32), small_hole), (w, h))


def _shrunk_hole(hole: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """HxW bool hole resized to size (W, H) so that a pixel mixing in any hole pixel, or next
    to one, is hole: nothing of the old product survives in what is called known."""
    shrunk = cv2.resize(hole.astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA) > 0
    return cv2.dilate(shrunk.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


class _SmoothFill:
    """A fill computed at reduced resolution (small: hxwx3), enlarged (bilinear, as cv2.resize
    maps pixel centres) to `size` (W, H) a band of rows at a time: a float copy of a 12 MP ROI
    would take 144 MB."""

    def __init__(self, small: np.ndarray, size: tuple[int, int]):
        self._small = small
        self._size = size

    def rows(self, first: int, stop: int) -> np.ndarray:
        """Rows [first, stop) of the enlarged fill: (stop - first, W, 3) float32."""
        width, height = self._size
        sx, sy = self._small.shape[1] / width, self._small.shape[0] / height
        matrix = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, (first + 0.5) * sy - 0.5]])
        return cv2.warpAffine(self._small, matrix, (width, stop - first),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)


class _ExemplarCopy:
    """Detail for the hole copied at full resolution with the offsets of a patch search run at
    reduced resolution on a crop around the hole, and the smooth base it goes on.

    The search image's longer hole side is at most SEARCH_SIDE px; its crop reaches
    SEARCH_CONTEXT hole sides beyond the hole. A full-resolution pixel takes the offsets of
    the four search pixels around it (scaled to full resolution and rounded, so each copy is
    of real pixels) and blends the four copies bilinearly: inside a coherent copy all four
    agree and the pixel is copied exactly; between two copies they cross-fade over one search
    pixel. The copy gives the detail: the copied pixel minus `low` (the pre-filled search
    image without its detail finer than TONE_SIGMA) where it is copied from. The base (light
    and colour) is the search's vote, which changes smoothly and meets the hole's edge.
    Where the surroundings are smooth (a blurred background, a clear sky) the copy's detail
    gives way to grain (see _texture_share): there, patches copied from here and there show
    as a patchwork of slightly different tones. The base is the vote everywhere: across a
    blurred background it is the soft light of the surroundings, where an interpolation
    across the hole draws streaks.
    """

    def __init__(self, box: tuple[int, int, int, int], offsets: np.ndarray, hole: np.ndarray,
                 image: np.ndarray, low: np.ndarray, base: "_CropBase", share: np.ndarray):
        self._box, self._offsets, self._hole, self._image = box, offsets, hole, image
        self._low, self._share = low, share
        self._hue_limit = HUE_CLIP * np.maximum(_chroma_spread_around(image, box, hole, low), HUE_FLOOR)
        self.base = base
        top, left, bottom, right = box
        self._scale = ((bottom - top) / hole.shape[0], (right - left) / hole.shape[1])

    @classmethod
    def search(cls, image: np.ndarray, hole: np.ndarray, covered: np.ndarray) -> "_ExemplarCopy | None":
        """The copy for the visible hole pixels (hole & ~covered), or None when there is too
        little known around the hole to copy from."""
        h, w = hole.shape
        rows, columns = np.flatnonzero(hole.any(axis=1)), np.flatnonzero(hole.any(axis=0))
        side = max(rows[-1] - rows[0], columns[-1] - columns[0]) + 1
        reach = round(SEARCH_CONTEXT * side)
        top, bottom = max(0, rows[0] - reach), min(h, rows[-1] + 1 + reach)
        left, right = max(0, columns[0] - reach), min(w, columns[-1] + 1 + reach)
        factor = min(1.0, SEARCH_SIDE / side)
        size = (max(1, round((right - left) * factor)), max(1, round((bottom - top) * factor)))
        small = cv2.resize(image[top:bottom, left:right], size, interpolation=cv2.INTER_AREA)
        small_hole = _shrunk_hole(hole[top:bottom, left:right], size)
        visible = hole[top:bottom, left:right] & ~covered[top:bottom, left:right]
        wanted = small_hole & _shrunk_hole(visible, size)
        start = _interpolate_across(small.astype(np.float32), small_hole)
        # measured on the pre-filled image: the old product's edges are no texture
        strength = _texture_strength(start, small_hole)
        allowed = _not_busier_than_around(strength, small_hole) & _colours_seen_around(start, small_hole)
        # a full-resolution pixel copies with its neighbour cells' offsets too, from up to one
        # search pixel beside their source: keep that pixel allowed as well
        allowed = cv2.erode(allowed.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        found = search_offsets(start, small_hole, wanted, allowed, np.random.default_rng(TEXTURE_SEED))
        if found is None:
            return None
        offsets, voted = found
        box = (top, left, bottom, right)
        share = _texture_share(strength, small_hole)
        voted = _low(voted)
        voted += _edge_mismatch_across(small, small_hole, voted)
        base = _CropBase(_SmoothFill(voted, (right - left, bottom - top)), box, w)
        return cls(box, offsets, small_hole, image, _low(start), base, share)

    def detail(self, first: int, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Nx3 float32 detail, N float32 share of it to use: see _texture_share) for the
        visible hole pixels (first + ys, xs) (ROI px) of a band of rows."""
        top, left, bottom, right = self._box
        fy, fx = self._scale
        sh, sw = self._hole.shape
        ys = ys + first
        # search-pixel coordinates of the pixel centres, as cv2.resize maps them
        u = (ys - top + 0.5) / fy - 0.5
        v = (xs - left + 0.5) / fx - 0.5
        u0, v0 = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
        tu, tv = (u - u0).astype(np.float32), (v - v0).astype(np.float32)
        total = np.zeros((ys.size, 3), np.float32)
        weight = np.zeros(ys.size, np.float32)
        texture_share = np.zeros(ys.size, np.float32)
        hole_share = np.zeros(ys.size, np.float32)
        for du, dv in ((0, 0), (0, 1), (1, 0), (1, 1)):
            cell_y, cell_x = np.clip(u0 + du, 0, sh - 1), np.clip(v0 + dv, 0, sw - 1)
            share = (tu if du else 1.0 - tu) * (tv if dv else 1.0 - tv)
            texture_share += share * self._share[cell_y, cell_x]
            # a known search pixel has no offset: it is not blended in
            share *= self._hole[cell_y, cell_x]
            offset = self._offsets[cell_y, cell_x]
            copied = _pixels_at(self._image, np.clip(ys + np.rint(offset[:, 0] * fy), top, bottom - 1),
                                np.clip(xs + np.rint(offset[:, 1] * fx), left, right - 1))
            # detail around the light and colour where it is copied from: taken around what it
            # goes on, it carries the step between the two (a darker or lighter fill)
            source = (np.clip(cell_y + offset[:, 0], 0, sh - 1), np.clip(cell_x + offset[:, 1], 0, sw - 1))
            detail = copied - self._low[source]
            hole_share += share
            # a source pixel on the edge of something else (a plate's rim a search pixel away
            # from the wood the search saw) is not texture: grain takes its place
            share *= _hue_kept(detail, self._hue_limit)
            total += detail * share[:, None]
            weight += share
        texture_share *= weight / np.maximum(hole_share, 1e-6)
        return total / np.maximum(weight, 1e-6)[:, None], texture_share


def _chroma_spread_around(image: np.ndarray, box: tuple[int, int, int, int], hole: np.ndarray,
                          low: np.ndarray) -> np.ndarray:
    """(3,) float32 robust spread (median absolute deviation x 1.4826) of the chroma of the
    detail that is copied (see _chroma), measured on known full-resolution pixels in the crop
    `box` (top, left, bottom, right) whose search pixel lies within BUSY_RING_PX of the
    search-resolution `hole`: their value minus `low` (HxWx3 float32, the search-resolution
    light and colour) there; infinite when there are none. Sampled on a regular grid of about
    DETAIL_SAMPLES points over the crop."""
    top, left, bottom, right = box
    sh, sw = hole.shape
    size = 2 * BUSY_RING_PX + 1
    ring = cv2.dilate(hole.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool) & ~hole
    step = max(1, round(np.sqrt((bottom - top) * (right - left) / DETAIL_SAMPLES)))
    ys, xs = np.mgrid[top:bottom:step, left:right:step]
    u = np.clip(((ys - top) * sh) // (bottom - top), 0, sh - 1)
    v = np.clip(((xs - left) * sw) // (right - left), 0, sw - 1)
    picked = ring[u, v]
    if not picked.any():
        return np.full(3, np.inf, np.float32)
    return robust_spread(_chroma(image[ys[picked], xs[picked]].astype(np.float32) - low[u[picked], v[picked]]))


def _hue_kept(detail: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """N float32 in [0, 1]: 1 where the chroma of every channel of the Nx3 detail is within
    `limit` (3,), 0 where one is beyond twice it, linear between. Column by column: numpy's
    reductions over an axis of 3 are an order of magnitude slower."""
    mean = (detail[:, 0] + detail[:, 1] + detail[:, 2]) * np.float32(1 / 3)
    excess = np.zeros(len(detail), np.float32)
    for channel in range(3):
        np.maximum(excess, np.abs(detail[:, channel] - mean) * np.float32(1 / limit[channel]), out=excess)
    np.subtract(np.float32(2), excess, out=excess)
    return np.clip(excess, 0.0, 1.0, out=excess)


def _chroma(detail: np.ndarray) -> np.ndarray:
    """Nx3: the chroma of Nx3 RGB detail (each channel minus the pixel's mean). Wood grain or
    fabric is mostly a change of lightness; a copied piece of a red plate is a change of hue."""
    return detail - detail.mean(axis=1, keepdims=True)


def _pixels_at(image: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Nx3 uint8 image[ys, xs] (ys, xs: N integral values, any dtype), gathered by cv2.remap,
    several times faster than numpy's fancy indexing; the points are laid out in rows of
    GATHER_ROW because remap takes no side of 32767 px or more."""
    count = ys.size
    rows = -(-count // GATHER_ROW)
    map_y = np.zeros(rows * GATHER_ROW, np.float32)
    map_x = np.zeros(rows * GATHER_ROW, np.float32)
    map_y[:count], map_x[:count] = ys, xs
    gathered = cv2.remap(image, map_x.reshape(rows, GATHER_ROW), map_y.reshape(rows, GATHER_ROW),
                         cv2.INTER_NEAREST)
    return gathered.reshape(-1, 3)[:count]


def _edge_mismatch_across(small: np.ndarray, hole: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """HxWx3 float32 at search resolution: the correction that makes `fill` meet the known
    pixels on the hole's rim, spread across the whole hole, zero outside it. The vote's light
    and colour can be a little off over the whole hole (a sky's patches copied from nearer the
    horizon are lighter), which a lift near the edge alone leaves as a lighter patch.

    The mismatch on the rim (mean of the known pixels within SEAM_MEAN_RADIUS minus the fill)
    is averaged with box windows of radius 2, 4, 8, ... up to the hole's size, each
    normalised by its area: near the rim the local mismatch counts most, deeper in a wider
    average (see _edge_lift, which does the same over SEAM_REACH px at full resolution)."""
    rim = (cv2.dilate(hole.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~hole).astype(np.float32)
    mismatch = (_known_mean(small, (~hole).astype(np.float32)) - fill) * rim[..., None]
    radii = [2]
    while radii[-1] < max(hole.shape):
        radii.append(2 * radii[-1])
    offset, weight = _spread_from_rim(mismatch, rim, radii)
    correction = offset / np.maximum(weight, 1e-6)[..., None]
    correction[~hole] = 0
    return correction


def _known_mean(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """HxWx3 float32: at each pixel, the mean of the known pixels (known: HxW float32, 1 or 0)
    within SEAM_MEAN_RADIUS of it."""
    window = (2 * SEAM_MEAN_RADIUS + 1,) * 2
    mean = cv2.blur(image.astype(np.float32) * known[..., None], window)
    mean /= np.maximum(cv2.blur(known, window), 1e-6)[..., None]
    return mean


def _spread_from_rim(residual: np.ndarray, rim: np.ndarray, radii) -> tuple[np.ndarray, np.ndarray]:
    """(offset HxWx3, weight HxW) float32: the sums of box means of `residual` (zero off the
    rim) and of `rim` (HxW float32, 1 on it) over windows of the given radii. Boxes of growing
    size, each normalised by its area, add up to a kernel peaked at its centre: offset / weight
    is the rim's local residual near it and a wider average deeper in."""
    offset, weight = np.zeros_like(residual), np.zeros_like(rim)
    for radius in radii:
        window = (2 * radius + 1,) * 2
        offset += cv2.blur(residual, window)
        weight += cv2.blur(rim, window)
    return offset, weight


def _texture_strength(small: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """HxW float32 at search resolution: the local mean square of the grey detail finer than
    BUSY_SIGMA px (grey levels squared), of known pixels only: the detail within two sigmas
    of the hole is the pre-fill's streaks and its step at the hole's edge, which would make
    calm surroundings look busy."""
    grey = small.astype(np.float32).mean(axis=2)
    detail = grey - cv2.GaussianBlur(grey, (0, 0), BUSY_SIGMA)
    reach = 2 * int(np.ceil(2 * BUSY_SIGMA)) + 1
    known = (~cv2.dilate(hole.astype(np.uint8), np.ones((reach, reach), np.uint8)).astype(bool)).astype(np.float32)
    strength = cv2.GaussianBlur(detail * detail * known, (0, 0), BUSY_SIGMA)
    return strength / np.maximum(cv2.GaussianBlur(known, (0, 0), BUSY_SIGMA), 1e-6)


def _not_busier_than_around(strength: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """HxW bool at search resolution: where the texture strength is at most BUSY_RATIO times
    its typical value around the hole (taken as at least BUSY_FLOOR squared: a flat photo's
    noise is no texture), so that a hole in a smooth sky or a blurred background is not
    filled with the struts of a tower or the fur of a cat beside it."""
    typical = _typical_strength(strength, hole)
    if typical is None:
        return np.ones(hole.shape, bool)
    return strength <= BUSY_RATIO * max(typical, BUSY_FLOOR ** 2)


def _typical_strength(strength: np.ndarray, hole: np.ndarray) -> float | None:
    """The median texture strength over a ring BUSY_RING_PX wide around the hole; None when
    the hole leaves no ring."""
    size = 2 * BUSY_RING_PX + 1
    ring = cv2.dilate(hole.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool) & ~hole
    return float(np.median(strength[ring])) if ring.any() else None


def _colours_seen_around(small: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """HxW bool at search resolution: where the local colour (a Gaussian of BUSY_SIGMA px)
    is common on the hole's rim (the known pixels COLOUR_RIM_PX next to it): at least
    COLOUR_SHARE of the rim is within one step of COLOUR_STEP levels per channel of it. A
    surface that does not reach the hole, or only grazes it (a red plate beside a wooden
    table's hole), is not what the hole is filled with."""
    colours = (cv2.GaussianBlur(small.astype(np.float32), (0, 0), BUSY_SIGMA) // COLOUR_STEP).astype(np.int64)
    bins = -(-256 // COLOUR_STEP)
    index = (colours[..., 0] * bins + colours[..., 1]) * bins + colours[..., 2]
    size = 2 * COLOUR_RIM_PX + 1
    ring = cv2.dilate(hole.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool) & ~hole
    if not ring.any():
        return np.ones(hole.shape, bool)
    counts = np.bincount(index[ring], minlength=bins ** 3).astype(np.float32).reshape(bins, bins, bins)
    # the ring's pixels within one step in each channel: a 3x3x3 box sum of the histogram
    near = counts
    for axis in range(3):
        near = sum(np.roll(near, shift, axis) for shift in (-1, 0, 1))
    return (near.reshape(-1)[index] >= COLOUR_SHARE * np.count_nonzero(ring))


def _texture_share(strength: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """HxW float32 in [0, 1] at search resolution: how much of the fill is the copy (the rest
    is grain). The root of the texture strength of the known pixels
    nearby (its geometric mean under a Gaussian of SHARE_SIGMA px, over known pixels only, so
    it reaches into the hole), ramped from 0 at CALM_RMS to 1 at TEXTURED_RMS grey levels;
    times the same ramp of the typical strength around the whole hole, so that a blurred
    background with some fur or whiskers along one side stays smooth: patches copied there
    show as a patchwork of tones."""
    known = (~hole).astype(np.float32)
    # averaged as logarithms: a few strong edges nearby (a tower's struts beside a clear sky)
    # do not make the surroundings textured, a surface of grain does
    logs = np.log(strength + BUSY_FLOOR ** 2) * known
    nearby = cv2.GaussianBlur(logs, (0, 0), SHARE_SIGMA)
    nearby /= np.maximum(cv2.GaussianBlur(known, (0, 0), SHARE_SIGMA), 1e-6)
    typical = _typical_strength(strength, hole)
    around = 1.0 if typical is None else _textured(np.sqrt(typical))
    return (_textured(np.sqrt(np.exp(nearby))) * around).astype(np.float32)


def _textured(rms):
    """0 at CALM_RMS grey levels of fine detail, 1 at TEXTURED_RMS, linear between."""
    return np.clip((rms - CALM_RMS) / (TEXTURED_RMS - CALM_RMS), 0.0, 1.0)


def _low(pixels: np.ndarray) -> np.ndarray:
    """HxWx3 float32 search-resolution pixels without their detail finer than TONE_SIGMA."""
    return cv2.GaussianBlur(pixels.astype(np.float32), (0, 0), TONE_SIGMA)


class _CropBase:
    """The base of the fill inside the search's crop box (top, left, bottom, right) of an ROI
    `width` px wide; zeros outside it, where there is no hole pixel (_edge_lift reads the base
    only on the hole's rim)."""

    def __init__(self, inside: _SmoothFill, box: tuple[int, int, int, int], width: int):
        self._inside, self._box, self._width = inside, box, width

    def rows(self, first: int, stop: int) -> np.ndarray:
        """Rows [first, stop) of the base: (stop - first, W, 3) float32."""
        out = np.zeros((stop - first, self._width, 3), np.float32)
        top, left, bottom, right = self._box
        lo, hi = max(first, top), min(stop, bottom)
        if lo < hi:
            out[lo - first:hi - first, left:right] = self._inside.rows(lo - top, hi - top)
        return out


def _edge_lift(image: np.ndarray, hole: np.ndarray, smooth: "_SmoothFill | _CropBase", rows: tuple[int, int],
               ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Nx3 float32 correction for the hole pixels (ys, xs) of the band of rows [first, stop)
    (ys counted from `first`) that makes the smooth fill meet the real pixels at the hole's edge.

    The reduced-resolution fill is a few levels off the real wall right at the edge, which
    reads as a line along the outline. On the hole's inner rim (within SEAM_RIM_PX of a known
    pixel) the offset is the mean of the nearby known pixels minus the fill; it is spread
    into the hole, averaged more widely the deeper in (which also averages out texture),
    and faded out over SEAM_REACH px.
    """
    h, w = hole.shape
    first, stop = rows
    # the spreading window reaches SEAM_REACH px and the mean of known pixels SEAM_MEAN_RADIUS more
    reach = SEAM_REACH + SEAM_MEAN_RADIUS
    top, bottom = max(0, first - reach), min(h, stop + reach)
    band_hole = hole[top:bottom].view(np.uint8)
    columns = np.flatnonzero(band_hole.any(axis=0))
    left, right = max(0, int(columns[0]) - reach), min(w, int(columns[-1]) + 1 + reach)
    band_hole = band_hole[:, left:right]
    # cv2.erode does not treat the border as known, so a hole touching it has no rim there
    rim = band_hole & ~cv2.erode(band_hole, disc(SEAM_RIM_PX))
    if not rim.any():
        return np.zeros((ys.size, 3), np.float32)
    residual = _known_mean(image[top:bottom, left:right], (1 - band_hole).astype(np.float32))
    residual -= smooth.rows(top, bottom)[:, left:right]
    residual *= rim[..., None]
    offset, weight = _spread_from_rim(residual, rim.astype(np.float32), SEAM_RADII)
    distance = cv2.distanceTransform(band_hole, cv2.DIST_L2, 3)
    ys, xs = ys + first - top, xs - left
    fade = np.clip(1.0 - distance[ys, xs] / SEAM_REACH, 0.0, 1.0)
    fade = fade * fade * (3.0 - 2.0 * fade)   # smoothstep: no crease where the fade ends
    share = np.where(weight[ys, xs] > 1e-5, fade / np.maximum(weight[ys, xs], 1e-5), 0.0)
    return offset[ys, xs] * share[:, None].astype(np.float32)


def _interpolate_across(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Hole pixels interpolated from the nearest known pixels left/right and above/below.

    image: HxWx3 float32; hole: HxW bool; returns HxWx3 float32.
    Each direction gives a linear blend between its two boundary pixels. A direction is
    trusted less the longer its span and the more its two ends differ (it then crosses an
    edge, e.g. from wall to table), so horizontal structure continues across a tall hole and
    vertical structure across a wide one, where diffusion-style inpainting smears wedges of
    one region into the other.
    """
    if hole.all():
        return image.astype(np.uint8)
    horizontal, h_weight = _interpolate_rows(image, hole)
    vertical, v_weight = _interpolate_rows(image.transpose(1, 0, 2), hole.T)
    vertical, v_weight = vertical.transpose(1, 0, 2), v_weight.T
    total = h_weight + v_weight
    blend = (horizontal * h_weight[..., None] + vertical * v_weight[..., None]) / np.maximum(total, 1e-30)[..., None]
    # a pixel whose whole row and column are hole: take the mean of what is known
    blend[total == 0] = image[~hole].mean(axis=0)
    # soften the straight-line streaks the per-row interpolation leaves, inside the hole only
    blend = cv2.GaussianBlur(blend, (5, 5), 0)
    return np.where(hole[..., None], blend, image).astype(np.float32)


def _interpolate_rows(image: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, linear interpolation between the known pixels left and right of each hole pixel.

    Returns (values HxWx3 float32, trust HxW float32). Trust falls with the squared span and
    with the colour difference of the two ends; a one-sided row (hole touching the border)
    gets little trust, a row with no known pixel none.
    """
    h, w = hole.shape
    columns = np.broadcast_to(np.arange(w), (h, w))
    left = np.maximum.accumulate(np.where(hole, -1, columns), axis=1)
    right = np.minimum.accumulate(np.where(hole, w, columns)[:, ::-1], axis=1)[:, ::-1]
    has_left, has_right = left >= 0, right < w
    both = has_left & has_right
    left_v = np.take_along_axis(image, np.clip(left, 0, w - 1)[..., None], axis=1)
    right_v = np.take_along_axis(image, np.clip(right, 0, w - 1)[..., None], axis=1)
    left_v = np.where(has_left[..., None], left_v, right_v)
    right_v = np.where(has_right[..., None], right_v, left_v)
    span = np.where(both, np.maximum(right - left, 1), 2.0 * w)
    t = np.where(both, (columns - left) / span, 0.5)[..., None].astype(np.float32)
    contrast = np.square(right_v - left_v).sum(axis=2) / EDGE_CONTRAST ** 2
    trust = np.where(has_left | has_right, 1.0 / (np.square(span) * (1.0 + contrast)), 0.0)
    return left_v + (right_v - left_v) * t, trust.astype(np.float32)


class _Grain:
    """Noise with the per-channel fine-detail spread of the pixels near the hole, drawn in
    order from one seeded stream (so drawing it in pieces gives the same pixels)."""

    def __init__(self, image: np.ndarray, hole: np.ndarray):
        self.image, self.hole = image, hole
        self.rng = np.random.default_rng(TEXTURE_SEED)
        self.spread: np.ndarray | None = None

    def spread_now(self) -> np.ndarray:
        """(3,) float32: the grain's spread (measured on first use)."""
        if self.spread is None:
            self.spread = _detail_spread(self.image, self.hole)
        return self.spread

    def draw(self, count: int) -> np.ndarray:
        """count x 3 float32."""
        self.spread_now()
        if not self.spread.any():
            # no grain anywhere in this fill, so the stream's position no longer matters
            return np.zeros((count, 3), np.float32)
        # one shared normal per pixel: real grain is mostly lightness, not independent per channel
        return self.rng.standard_normal(count, dtype=np.float32)[:, None] * self.spread[None, :]


def _detail_spread(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """(3,) float32 spread of the 5x5-Gaussian detail in a 6 px ring around the hole, from 3 px
    out (nearer, the blur mixes in the old product); zeros when there is no ring. Estimated
    robustly (robust_spread), so that the few strong edges in the ring count as what they are,
    not as grain. A band of rows at a time."""
    ring = hole_for(hole, 8)
    ring &= ~hole_for(hole, 2)
    if not ring.any():
        return np.zeros(3, np.float32)
    h = hole.shape[0]
    picked = []
    step = max(1, int(np.count_nonzero(ring)) // 50_000)   # plenty for a median
    for first in range(0, h, TEXTURE_BAND_ROWS):
        stop = min(h, first + TEXTURE_BAND_ROWS)
        where = ring[first:stop]
        if not where.any():
            continue
        top, bottom = max(0, first - 2), min(h, stop + 2)   # the 5x5 blur's reach
        blurred = cv2.GaussianBlur(image[top:bottom], (5, 5), 0)[first - top:stop - top]
        picked.append((image[first:stop][where].astype(np.int16) - blurred[where])[::step])
    return robust_spread(np.concatenate(picked))


def robust_spread(values: np.ndarray) -> np.ndarray:
    """(C,) float32 standard deviation of NxC values estimated from their median absolute
    deviation (x 1.4826, a normal's): the grain among them, not the few strong edges (a
    tower's struts, a plate's rim); zeros when there are none."""
    if len(values) == 0:
        return np.zeros(values.shape[1:], np.float32)
    values = values.astype(np.float32, copy=False)
    return (1.4826 * np.median(np.abs(values - np.median(values, axis=0)), axis=0)).astype(np.float32)
