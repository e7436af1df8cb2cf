"""Filling the old product's region from its surroundings.

Works on a region of interest (ROI) of the scene: HxWx3 uint8 RGB plus an HxW bool mask.
"""
from __future__ import annotations

import cv2
import numpy as np

FILL_SIDE = 160        # the fill is computed at a resolution whose longer ROI side is this
TEXTURE_SEED = 7       # fixed so the same request renders the same pixels
TEXTURE_RADIUS = 8     # px: detail finer than this is copied into the hole
CROSSFADE_PX = 12      # px: width over which texture copied from the left and right is mixed
SEAM_REACH = 16        # px: how far into the hole the fill is lifted to meet its edge
SEAM_RIM_PX = 1       # px: width of the hole's rim where that lift is measured
SEAM_MEAN_RADIUS = 2   # px: the rim is lifted to the mean of the known pixels this near
SEAM_RADII = (2, 4, 8, SEAM_REACH)   # px: the box windows that average the lift (see _edge_lift)
EDGE_CONTRAST = 12.0   # RGB distance of a span's two ends at which it is trusted half as much
TEXTURE_BAND_ROWS = 64   # texture is made this many rows at a time
DETAIL_CLIP = 3.0      # copied detail is limited to this many times its typical spread around the hole
SOURCE_MATCH = 45.0    # RGB distance between a source's local colour and the fill's beyond which it is not copied


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
    smooth fill; texture is spent on the visible ones.
    The fill is interpolated at reduced resolution (light and colour change slowly) and
    upsampled; near the hole's edge it is lifted to meet the real pixels, so no seam shows;
    then it is given texture copied from the same row beside the hole, shifted by one
    constant offset per side so the copy has no mirror lines where the hole changes width;
    where there is nothing to copy, grain of matching strength.
    Visible pixels are finished a band of rows at a time, so a hole of any shape costs little memory.
    """
    h, w = hole.shape
    factor = min(1.0, FILL_SIDE / max(h, w))
    small_size = (max(1, round(w * factor)), max(1, round(h * factor)))
    small = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
    # any small pixel that mixes in hole pixels is part of the hole, so no old colour survives
    small_hole = cv2.resize(hole.astype(np.uint8) * 255, small_size, interpolation=cv2.INTER_AREA) > 0
    small_hole = cv2.dilate(small_hole.astype(np.uint8), np.ones((3, 3), np.uint8))
    smooth = _SmoothFill(_interpolate_across(small.astype(np.float32), small_hole.astype(bool)), (w, h))
    out = image.copy()
    grain = _Grain(image, hole)
    shifts = _SourceShifts(hole)
    limit = None
    for first in range(0, h, TEXTURE_BAND_ROWS):
        stop = min(h, first + TEXTURE_BAND_ROWS)
        band_smooth = smooth.rows(first, stop)
        # cv2.copyTo with a one-channel mask is many times faster than numpy's masked copy
        cv2.copyTo(band_smooth.astype(np.uint8), hole[first:stop].view(np.uint8), out[first:stop])
        ys, xs = np.nonzero(hole[first:stop] & ~covered[first:stop])
        if ys.size == 0:
            continue
        if limit is None:
            limit = DETAIL_CLIP * _copied_detail_spread(image, hole)
        texture, copied = _copied_texture(image, hole, (first, stop), ys, xs, shifts, limit,
                                          band_smooth[ys, xs])
        if not copied.all():
            texture[~copied] = grain.draw(int(np.count_nonzero(~copied)))
        texture += _edge_lift(image, hole, smooth, (first, stop), ys, xs)
        out[ys + first, xs] = np.clip(band_smooth[ys, xs] + texture, 0, 255).astype(np.uint8)
    return out


class _SmoothFill:
    """The fill interpolated at reduced resolution, enlarged (bilinear, as cv2.resize maps pixel
    centres) to the ROI's size a band of rows at a time: a float copy of a 12 MP ROI would
    take 144 MB."""

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


class _SourceShifts:
    """Where texture for the hole is copied from: every hole pixel (y, x) looks at (y, x - left)
    and (y, x + right), one offset per side for the whole hole, so the copied texture is a
    plain translation and shows no seam where the hole's outline changes width.

    The offsets reach just past the middle of the hole's column span (plus the crossfade),
    but no further than the ROI has room for, so the left half draws from left of the hole
    and the right half from right of it. `middle` is where the two sources are mixed evenly.
    """

    def __init__(self, hole: np.ndarray):
        w = hole.shape[1]
        columns = np.flatnonzero(hole.any(axis=0))
        start, stop = (int(columns[0]), int(columns[-1]) + 1) if columns.size else (0, w)
        wanted = (stop - start + 1) // 2 + CROSSFADE_PX + 1
        self.left = max(1, min(wanted, start))
        self.right = max(1, min(wanted, w - stop))
        self.middle = (start + stop - 1) / 2.0


def _copied_texture(image: np.ndarray, hole: np.ndarray, rows: tuple[int, int],
                    ys: np.ndarray, xs: np.ndarray, shifts: _SourceShifts,
                    limit: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Texture (detail finer than TEXTURE_RADIUS px) for the hole pixels (ys, xs) of the band
    of rows [first, stop) (ys counted from `first`), Nx3 float32.

    Each pixel takes the detail of its left and right source pixel (see _SourceShifts),
    crossfaded over CROSSFADE_PX around the hole's middle; where only one source is usable it
    is used alone. A source is usable when it is a known pixel whose detail is within +-limit
    (3,) in every channel: grain is, the edges of objects beside the hole (a tower's struts,
    a rocket's side, a plate's rim) are not, and copied they would show as ghosts; and whose
    local colour is within SOURCE_MATCH of the smooth fill where it goes (target, Nx3): the
    texture of another surface (hair beside a wall) is not the texture of what is filled.
    Returns (texture, valid) where valid is False if neither source is usable (the caller
    draws grain there).
    """
    w = hole.shape[1]
    band_hole = hole[rows[0]:rows[1]]
    sources = [xs - shifts.left, xs + shifts.right]
    detail = _Detail(image, hole, rows)
    known, values = [], []
    for source in sources:
        inside = (source >= 0) & (source < w)
        np.clip(source, 0, w - 1, out=source)
        ok = inside & ~band_hole[ys, source]
        value = np.zeros((ys.size, 3), np.float32)
        value[ok] = detail.at(ys[ok], source[ok])
        ok &= (np.abs(value) <= limit).all(axis=1)
        near = np.zeros(ys.size, np.float32)
        near[ok] = np.square(detail.mean_at(ys[ok], source[ok]) - target[ok]).sum(axis=1)
        ok &= near <= SOURCE_MATCH ** 2
        known.append(ok)
        values.append(value)
    left_ok, right_ok = known
    texture = np.zeros((ys.size, 3), np.float32)
    valid = left_ok | right_ok
    if not valid.any():
        return texture, valid
    ramp = np.clip(0.5 + (shifts.middle - xs) / (2.0 * CROSSFADE_PX), 0.0, 1.0).astype(np.float32)
    left_share = np.where(left_ok, np.where(right_ok, ramp, 1.0), 0.0)
    right_share = np.where(right_ok, np.where(left_ok, 1.0 - ramp, 1.0), 0.0)
    # averaging two independent textures flattens them; rescale to keep their contrast
    keep = 1.0 / np.sqrt(np.maximum(left_share ** 2 + right_share ** 2, 0.5))
    for value, share in zip(values, (left_share, right_share), strict=True):
        texture += value * (share * keep)[:, None].astype(np.float32)
    return texture, valid


def _edge_lift(image: np.ndarray, hole: np.ndarray, smooth: "_SmoothFill", rows: tuple[int, int],
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
    known = (1 - band_hole).astype(np.float32)
    window = (2 * SEAM_MEAN_RADIUS + 1,) * 2
    residual = cv2.blur(image[top:bottom, left:right] * known[..., None], window)
    residual /= np.maximum(cv2.blur(known, window), 1e-6)[..., None]
    residual -= smooth.rows(top, bottom)[:, left:right]
    residual *= rim[..., None]
    rim = rim.astype(np.float32)
    # boxes of growing size, each normalised by its area, add up to a kernel peaked at its
    # centre: near the edge the offset is the local one, deeper in it is averaged more widely
    offset, weight = np.zeros_like(residual), np.zeros_like(rim)
    for radius in SEAM_RADII:
        window = (2 * radius + 1,) * 2
        offset += cv2.blur(residual, window)
        weight += cv2.blur(rim, window)
    distance = cv2.distanceTransform(band_hole, cv2.DIST_L2, 3)
    ys, xs = ys + first - top, xs - left
    fade = np.clip(1.0 - distance[ys, xs] / SEAM_REACH, 0.0, 1.0)
    fade = fade * fade * (3.0 - 2.0 * fade)   # smoothstep: no crease where the fade ends
    share = np.where(weight[ys, xs] > 1e-5, fade / np.maximum(weight[ys, xs], 1e-5), 0.0)
    return offset[ys, xs] * share[:, None].astype(np.float32)


def _copied_detail_spread(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """(3,) float32 typical spread of the detail that is copied (_Detail) in a ring 8 px wide
    around the hole, from the median absolute deviation: what the texture's grain is, without
    the strong edges of objects beside the hole."""
    ring = hole_for(hole, 8) & ~hole
    if not ring.any():
        return np.zeros(3, np.float32)
    step = max(1, int(np.count_nonzero(ring)) // 50_000)
    picked = []
    for first in range(0, hole.shape[0], TEXTURE_BAND_ROWS):
        stop = min(hole.shape[0], first + TEXTURE_BAND_ROWS)
        ys, xs = np.nonzero(ring[first:stop])
        if ys.size:
            picked.append(_Detail(image, hole, (first, stop)).at(ys[::step], xs[::step]))
    detail = np.concatenate(picked)
    deviation = np.abs(detail - np.median(detail, axis=0))
    return (1.4826 * np.median(deviation, axis=0)).astype(np.float32)


class _Detail:
    """Detail finer than TEXTURE_RADIUS px of the known pixels of a band of image rows."""

    def __init__(self, image: np.ndarray, hole: np.ndarray, rows: tuple[int, int]):
        # the box blurs reach TEXTURE_RADIUS rows past the band
        self.top = max(0, rows[0] - TEXTURE_RADIUS)
        self.offset = rows[0] - self.top
        bottom = min(hole.shape[0], rows[1] + TEXTURE_RADIUS)
        band_hole = hole[self.top:bottom]
        self.image = image[self.top:bottom]
        # uint8 blurs: detail is only gathered at a few pixels, float copies cost more; a box
        # blur costs the same at any size, a Gaussian this wide does not
        size = (2 * TEXTURE_RADIUS + 1,) * 2
        self.weight = cv2.blur((~band_hole).astype(np.uint8) * 255, size)
        known = self.image.copy()
        known[band_hole] = 0
        self.base = cv2.blur(known, size)

    def at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Nx3 float32 detail at band rows `rows` (counted from the band's first row), `cols`."""
        return self.image[rows + self.offset, cols].astype(np.float32) - self.mean_at(rows, cols)

    def mean_at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Nx3 float32 local mean of the known pixels around band rows `rows`, `cols`."""
        rows = rows + self.offset
        share = np.maximum(self.weight[rows, cols].astype(np.float32), 1.0) / 255.0
        return self.base[rows, cols].astype(np.float32) / share[:, None]


def _interpolate_across(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Hole pixels interpolated from the nearest known pixels left/right and above/below.

    image: HxWx3 float32 holding uint8 values; hole: HxW bool; returns HxWx3 uint8.
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
    return np.where(hole[..., None], blend, image).astype(np.uint8)


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
    from the median absolute deviation (x 1.4826, a normal's standard deviation), so that the
    few strong edges in the ring count as what they are, not as grain. A band of rows at a time."""
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
    detail = np.concatenate(picked).astype(np.float32)
    deviation = np.abs(detail - np.median(detail, axis=0))
    return (1.4826 * np.median(deviation, axis=0)).astype(np.float32)
