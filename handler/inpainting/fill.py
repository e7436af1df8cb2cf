"""The learned fill: the old product's place repainted by the MI-GAN generator, like a retoucher.

LearnedFill(network) is a compositing fill (handler.compositing.pipeline.Fill):
fill(image, hole, covered) -> image, where only hole pixels change. The network is any
callable from the (1, 4, 512, 512) generator input to its (1, 3, 512, 512) output, so the
pipeline is testable with a fake one. Steps (numbers in px of the image given, unless said):

1. Crop a square around the hole's box: at least MIN_CROP (the network's own 512, so a
   small hole is never blown up) and the hole plus max(MIN_CONTEXT, CONTEXT_SHARE x its
   longer side) of scene on every side, so the hole fills at most 2/3 of the network's
   input (about 340 of 512 px) whatever its size, and the network always sees enough of the
   scene to continue. The square is shifted to stay inside the image; where the image is
   too small for it, the missing part is the image reflected at its edge (hole included).
2. Resize the crop to 512 x 512: area averaging when shrinking (no aliasing), bicubic when
   enlarging; a 512-scale pixel that covers any hole pixel is hole, so no colour of the old
   product reaches the network as known scene.
3. Run the network; map its output back onto the hole's box only (bicubic, exact pixel
   geometry), never onto the whole crop.
4. Grain: an enlarged output lacks the photo's fine grain, which reads as a soft patch. The
   per-channel spread of the detail finer than a 5 x 5 Gaussian is measured in a ring of
   scene just outside the hole and inside the mapped output (robustly, from the median
   absolute deviation, so that edges in the ring do not count as grain); the difference is added back
   as seeded noise, one normal draw per pixel shared by the channels (grain is mostly
   lightness), so a fill at 1:1 gets little or none.
5. Blend: hole pixels take the network's pixels, faded into the original ones over the
   hole's outer SEAM_512 network px (a smoothstep of the distance to the nearest kept
   pixel), so no edge shows. The hole is the mask grown by a margin, so that outer rim is
   scene, not product. Pixels outside the hole are returned bit-exact.

A fill keeps the network's output of its last call (Memo): called again for the same hole
at another resolution (the full-resolution render of the same replace, given only a region
of the photo around the hole), it maps the same crop, relative to the hole, and reuses the
output when what the network saw agrees with this image where the crop lies inside it (hole
and pixels at 512), so the network runs once per replace.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from ..compositing.removal import robust_spread

MODEL_SIDE = 512          # the generator's input and output side
MIN_CROP = 512            # px: a crop is at least this big (smaller only in a smaller image)
MIN_CONTEXT = 128         # px of scene kept around the hole on every side
CONTEXT_SHARE = 0.25      # ... and at least this share of the hole's longer side
SEAM_512 = 2.0            # network px over which the fill fades into the scene at the hole's rim
RING_512 = 3.0            # network px: width of the scene ring whose grain the fill gets (at least 3 px)
GRAIN_SEED = 11           # fixed, so the same request renders the same pixels
BAND_ROWS = 128           # the hole's box is mapped and blended this many rows at a time
# Share of white noise's variance left after subtracting its 5 x 5 Gaussian blur (OpenCV's
# kernel [1, 4, 6, 4, 1] / 16 each way): 1 - 2 * (6/16)^2 + (sum of squares)^2.
NOISE_DETAIL_SHARE = 1 - 2 * (6 / 16) ** 2 + ((1 + 16 + 36 + 16 + 1) / 256) ** 2
# A later call reuses the memo when the holes at 512 overlap this much (IoU) and the kept
# pixels at 512 differ by at most this many levels on average.
MEMO_HOLE_IOU = 0.9
MEMO_PIXEL_DIFF = 6.0
# The network computes this many rows more on each side than a call needs: the same hole at
# another resolution maps back through a crop rounded to whole px, which can read a row or two more.
MEMO_ROWS_MARGIN = 8

Network = Callable[..., "torch.Tensor"]  # noqa: F821 (torch is imported on use)
"""network(x, rows=(lo, hi)) -> output: x the (1, 4, 512, 512) generator input, output its
(1, 3, 512, 512) output, of which only rows [lo, hi) are used (a network may compute only
those: migan_lean.LeanMiGan does)."""
Fill = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Crop:
    """A square of the image, x, y its top-left corner and side its size in image px; it may
    reach past the image (reflected there). factor: image px per network px."""

    x: int
    y: int
    side: int

    @property
    def factor(self) -> float:
        return self.side / MODEL_SIDE


@dataclass
class Memo:
    """What a call ran the network on, and its output, for a later call at another resolution."""

    hole_box: Box
    crop: Crop
    known: np.ndarray       # 512x512 bool
    pixels: np.ndarray      # 512x512x3 uint8, the network's view of the scene
    output: np.ndarray      # 512x512x3 float32, 0..255
    rows: tuple[int, int]   # the output's rows that were computed


def crop_for(hole_box: Box, shape: tuple[int, int]) -> Crop:
    """The square crop for a hole's box (XYXY, exclusive) in an image of `shape` (H, W)."""
    h, w = shape
    x0, y0, x1, y1 = hole_box
    longer = max(x1 - x0, y1 - y0)
    context = max(MIN_CONTEXT, math.ceil(CONTEXT_SHARE * longer))
    side = max(MIN_CROP, longer + 2 * context)
    # never larger than the image's longer side needs: the rest would only be reflection
    side = max(longer, min(side, max(h, w)))
    return Crop(_placed(x0, x1, side, w), _placed(y0, y1, side, h), side)


def _placed(lo: int, hi: int, side: int, length: int) -> int:
    """Start of a span of `side` centred on [lo, hi), shifted to stay inside [0, length) when it fits."""
    start = (lo + hi - side) // 2
    if side >= length:
        return (length - side) // 2          # centred on the image: reflected equally on both ends
    return min(max(start, 0), length - side)


class LearnedFill:
    """A compositing fill backed by the network (see the module docstring).

    fallback(image, hole, covered): the fill used when the network cannot help: no hole
    pixel is visible (the classical fill is cheaper for pixels only the product will show
    through at its rim), or the network raised (then fallback_reason says so; without a
    fallback the error propagates). After a call, `used_network` says whether the
    network's pixels are in the result.
    """

    def __init__(self, network: Network, fallback: Fill | None = None) -> None:
        self.network = network
        self.fallback = fallback
        self.used_network = False
        self.network_runs = 0
        self.fallback_reason: str | None = None
        self.memo: Memo | None = None

    def __call__(self, image: np.ndarray, hole: np.ndarray, covered: np.ndarray) -> np.ndarray:
        box = _box(hole)
        if box is None:
            return image.copy()
        if not (hole & ~covered).any():
            return self.fallback(image, hole, covered) if self.fallback else image.copy()
        output, crop = self._output(image, hole, box)
        if output is None:
            return self.fallback(image, hole, covered)
        self.used_network = True
        return blend(image, hole, box, output, crop)

    def _output(self, image: np.ndarray, hole: np.ndarray, box: Box) -> tuple[np.ndarray | None, Crop]:
        """(the network's 512x512x3 float32 output for this hole, its crop); None after a failure."""
        reused = self._memo_crop(box)
        if reused is not None:
            lo, hi = rows_needed(box, reused)
            computed = self.memo.rows[0] <= lo and hi <= self.memo.rows[1]
            if computed and self._memo_matches(image, hole, reused):
                return self.memo.output, reused
        crop = crop_for(box, hole.shape)
        pixels, known = network_view(image, hole, crop)
        lo, hi = rows_needed(box, crop)
        rows = max(lo - MEMO_ROWS_MARGIN, 0), min(hi + MEMO_ROWS_MARGIN, MODEL_SIDE)
        try:
            output = run_network(self.network, pixels, known, rows)
        except Exception as error:  # any failure of the model falls back to the classical fill
            if self.fallback is None:
                raise
            self.fallback_reason = (f"the inpainting model failed during the fill "
                                    f"({_describe(error)}); the classical fill was used")
            return None, crop
        self.network_runs += 1
        self.memo = Memo(box, crop, known, pixels, output, rows)
        return output, crop

    def _memo_crop(self, box: Box) -> Crop | None:
        """The memo's crop mapped onto this hole's box, when the box is the memo's scaled."""
        if self.memo is None:
            return None
        old = self.memo.hole_box
        kx = (box[2] - box[0]) / (old[2] - old[0])
        ky = (box[3] - box[1]) / (old[3] - old[1])
        if abs(kx - ky) > 0.05 * max(kx, ky):
            return None
        k = (kx + ky) / 2
        crop = self.memo.crop
        return Crop(round(box[0] + (crop.x - old[0]) * k), round(box[1] + (crop.y - old[1]) * k),
                    round(crop.side * k))

    def _memo_matches(self, image: np.ndarray, hole: np.ndarray, crop: Crop) -> bool:
        """Whether this image and hole, seen through `crop`, are what the memo's network saw.
        Only the part of the crop inside this image is compared: the image may be a region
        of the photo the memo's image was a smaller copy of, holding the hole and a ring of
        scene around it but not all the memo's context."""
        window = _inside_512(crop, hole.shape)
        if window is None:
            return False
        top, bottom, left, right = window
        pixels, known = _window_view(image, hole, crop, window)
        memo_pixels, memo_known = self.memo.pixels[top:bottom, left:right], self.memo.known[top:bottom, left:right]
        union = np.count_nonzero(~known | ~memo_known)
        iou = np.count_nonzero(~known & ~memo_known) / max(union, 1)
        both = known & memo_known
        if iou < MEMO_HOLE_IOU or not both.any():
            return False
        diff = np.abs(pixels[both].astype(np.int16) - memo_pixels[both]).mean()
        return bool(diff <= MEMO_PIXEL_DIFF)


def network_view(image: np.ndarray, hole: np.ndarray, crop: Crop) -> tuple[np.ndarray, np.ndarray]:
    """(512x512x3 uint8 pixels, 512x512 bool known) of the crop, as the network sees it."""
    pixels = _cropped(image, crop)
    holes = _cropped(hole.view(np.uint8), crop).astype(np.float32)   # float: the least overlap counts
    size = (MODEL_SIDE, MODEL_SIDE)
    if crop.side > MODEL_SIDE:
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
        holes = cv2.resize(holes, size, interpolation=cv2.INTER_AREA)
    elif crop.side < MODEL_SIDE:
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_CUBIC)
        holes = cv2.resize(holes, size, interpolation=cv2.INTER_LINEAR)
    # any share of a hole pixel makes a network pixel hole: no old colour is passed as scene
    return np.ascontiguousarray(pixels), holes == 0


def _inside_512(crop: Crop, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right): the network px of `crop` made only of image px (none
    reflected past its edge), or None when there are hardly any."""
    f = crop.factor
    h, w = shape
    top, bottom = math.ceil(max(-crop.y, 0) / f), math.floor(min(crop.side, h - crop.y) / f)
    left, right = math.ceil(max(-crop.x, 0) / f), math.floor(min(crop.side, w - crop.x) / f)
    if bottom - top < 8 or right - left < 8:
        return None
    return top, bottom, left, right


def _window_view(image: np.ndarray, hole: np.ndarray, crop: Crop,
                 window: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """network_view over a window of the network's px only (see _inside_512), resampled from
    the image px under it alone: no reflected copy of a crop that reaches past the image."""
    top, bottom, left, right = window
    f = crop.factor
    y0, y1 = crop.y + round(top * f), crop.y + round(bottom * f)
    x0, x1 = crop.x + round(left * f), crop.x + round(right * f)
    pixels = image[y0:y1, x0:x1]
    # uint8 x 255, not float: a full-size window can be millions of px; any share still counts
    holes = hole[y0:y1, x0:x1].view(np.uint8) * np.uint8(255)
    size = (right - left, bottom - top)
    if (x1 - x0, y1 - y0) != size:
        shrinking = f > 1
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
        holes = cv2.resize(holes, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return pixels, holes == 0


def _cropped(array: np.ndarray, crop: Crop) -> np.ndarray:
    """The crop of an HxW or HxWx3 array; outside the array, the array reflected at its edge."""
    h, w = array.shape[:2]
    x0, y0, x1, y1 = crop.x, crop.y, crop.x + crop.side, crop.y + crop.side
    inner = array[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)]
    pads = (max(-y0, 0), max(y1 - h, 0), max(-x0, 0), max(x1 - w, 0))
    if any(pads):
        return cv2.copyMakeBorder(inner, *pads, cv2.BORDER_REFLECT_101)
    return inner


def rows_needed(box: Box, crop: Crop) -> tuple[int, int]:
    """The network output's rows [lo, hi) that mapping it onto the hole's box reads: the box's
    rows at 512 plus the reach of the bicubic kernel (or of the area shrink)."""
    f = crop.factor
    top, bottom = box[1] - crop.y, box[3] - crop.y     # crop rows of the box, [top, bottom)
    if f < 1:
        lo, hi = math.floor(top / f) - 1, math.ceil(bottom / f) + 1
    else:
        lo, hi = math.floor((top + 0.5) / f - 0.5) - 2, math.ceil((bottom - 0.5) / f - 0.5) + 3
    return max(lo, 0), min(hi, MODEL_SIDE)


def run_network(network: Network, pixels: np.ndarray, known: np.ndarray,
                rows: tuple[int, int] = (0, MODEL_SIDE)) -> np.ndarray:
    """The network's output for a 512x512 view: 512x512x3 float32 RGB, 0..255 (not rounded);
    only `rows` are meaningful."""
    import torch

    from .pixels import to_model_input

    with torch.inference_mode():
        output = network(to_model_input(pixels, known), rows=rows)
    if tuple(output.shape) != (1, 3, MODEL_SIDE, MODEL_SIDE):
        raise ValueError(f"the network returned {tuple(output.shape)}, not (1, 3, 512, 512)")
    rgb = output[0].permute(1, 2, 0).mul(127.5).add_(127.5).clamp_(0, 255)
    return np.ascontiguousarray(rgb.numpy(), dtype=np.float32)


def blend(image: np.ndarray, hole: np.ndarray, box: Box, output: np.ndarray, crop: Crop) -> np.ndarray:
    """image with its hole pixels taken from the network's output (mapped from `crop`), grain
    restored and faded in at the rim; every other pixel unchanged."""
    out = image.copy()
    x0, y0, x1, y1 = box
    weight = seam_weight(hole, box, max(1.0, SEAM_512 * crop.factor))
    mapped = _Mapped(output, crop, box)
    grain = _grain_spread(image, hole, box, mapped, weight, crop.factor)
    rng = np.random.default_rng(GRAIN_SEED)
    for first in range(y0, y1, BAND_ROWS):
        stop = min(y1, first + BAND_ROWS)
        band_hole = hole[first:stop, x0:x1]
        fill = mapped.rows(first, stop)
        if grain.any():
            noise = rng.standard_normal(band_hole.shape, dtype=np.float32)
            fill += noise[..., None] * grain
        w = weight[first - y0:stop - y0, :, None]
        original = image[first:stop, x0:x1].astype(np.float32)
        mixed = original + w * (fill - original)
        region = out[first:stop, x0:x1]
        np.copyto(region, np.clip(mixed + 0.5, 0, 255).astype(np.uint8), where=band_hole[..., None])
    return out


def seam_weight(hole: np.ndarray, box: Box, seam_px: float) -> np.ndarray:
    """Over the hole's box: 0 outside the hole, rising from the hole's rim to 1 once seam_px
    deep (smoothstep of the distance to the nearest kept pixel; the image's border is not a
    rim: a hole reaching it is not faded there)."""
    h, w = hole.shape
    x0, y0, x1, y1 = box
    # one more px each way, so the kept pixels next to the box count; past the image: hole
    top, left, bottom, right = max(y0 - 1, 0), max(x0 - 1, 0), min(y1 + 1, h), min(x1 + 1, w)
    around = hole[top:bottom, left:right].view(np.uint8)
    pads = (top - (y0 - 1), (y1 + 1) - bottom, left - (x0 - 1), (x1 + 1) - right)
    around = cv2.copyMakeBorder(around, *pads, cv2.BORDER_CONSTANT, value=1)
    t = cv2.distanceTransform(around, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    t *= 1.0 / (seam_px + 1.0)
    np.clip(t, 0.0, 1.0, out=t)
    # smoothstep in place, a band at a time: the box of a full-size hole can be millions of px
    for first in range(0, t.shape[0], BAND_ROWS):
        band = t[first:first + BAND_ROWS]
        band[...] = band * band * (3.0 - 2.0 * band)
    return t


class _Mapped:
    """The network's output mapped onto rows of the hole's box: bicubic (area when the crop
    is smaller than the network's side), pixel centres aligned like cv2.resize."""

    def __init__(self, output: np.ndarray, crop: Crop, box: Box) -> None:
        self.output, self.crop, self.box = output, crop, box
        self.small = None
        if crop.factor < 1:
            # the crop is smaller than 512 (a small image): shrink the whole output once
            self.small = cv2.resize(output, (crop.side, crop.side), interpolation=cv2.INTER_AREA)

    def rows(self, first: int, stop: int) -> np.ndarray:
        """(stop - first) x box width x 3 float32 for image rows [first, stop)."""
        x0, _, x1, _ = self.box
        crop, f = self.crop, self.crop.factor
        if self.small is not None:
            return self.small[first - crop.y:stop - crop.y, x0 - crop.x:x1 - crop.x].copy()
        # dst (column c, row r) of the band reads src ((x0 + c - crop.x + 0.5) / f - 0.5, ...)
        matrix = np.float32([[1 / f, 0, (x0 - crop.x + 0.5) / f - 0.5],
                             [0, 1 / f, (first - crop.y + 0.5) / f - 0.5]])
        return cv2.warpAffine(self.output, matrix, (x1 - x0, stop - first),
                              flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)


def _grain_spread(image: np.ndarray, hole: np.ndarray, box: Box, mapped: _Mapped, weight: np.ndarray,
                  factor: float) -> np.ndarray:
    """(3,) float32 standard deviation of the noise that gives the mapped output the grain of
    the scene around the hole: sqrt of (ring's detail variance - output's) / NOISE_DETAIL_SHARE."""
    ring_px = max(3, round(RING_512 * factor))
    scene_spread = _ring_detail_spread(image, hole, box, ring_px)
    if scene_spread is None:
        return np.zeros(3, np.float32)
    x0, y0, x1, y1 = box
    step = _sample_step(int(np.count_nonzero(weight >= 1.0)))
    picked = []
    for first in range(y0, y1, BAND_ROWS):
        stop = min(y1, first + BAND_ROWS)
        # 2 rows of halo for the 5x5 blur, within the box
        top, bottom = max(first - 2, y0), min(stop + 2, y1)
        rows = mapped.rows(top, bottom)
        detail = (rows - cv2.GaussianBlur(rows, (5, 5), 0))[first - top:stop - top]
        # the interior: where the fill is fully in, away from the rim's mix
        # a copy, so that each band's selection is freed (a strided view would keep it all)
        picked.append(detail[weight[first - y0:stop - y0] >= 1.0][::step].copy())
    output_spread = robust_spread(np.concatenate(picked)) if picked else np.zeros(3, np.float32)
    deficit = np.maximum(np.square(scene_spread) - np.square(output_spread), 0.0)
    return np.sqrt(deficit / NOISE_DETAIL_SHARE).astype(np.float32)


def _sample_step(count: int, wanted: int = 50_000) -> int:
    """Every how many-th pixel a spread is estimated from: about `wanted` of them are plenty."""
    return max(1, count // wanted)


def _ring_detail_spread(image: np.ndarray, hole: np.ndarray, box: Box, ring_px: int) -> np.ndarray | None:
    """(3,) spread of the 5x5-Gaussian detail of the kept pixels in a ring ring_px wide
    around the hole, from 3 px out (the blur of nearer pixels would mix in hole pixels), or
    None when there are none."""
    h, w = hole.shape
    reach = ring_px + 5
    top, left = max(box[1] - reach, 0), max(box[0] - reach, 0)
    bottom, right = min(box[3] + reach, h), min(box[2] + reach, w)
    near = hole[top:bottom, left:right].view(np.uint8)
    outer = 2 + ring_px
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * outer + 1, 2 * outer + 1))
    ring = cv2.dilate(near, kernel).astype(bool) & ~cv2.dilate(near, np.ones((5, 5), np.uint8)).astype(bool)
    if not ring.any():
        return None
    pixels = image[top:bottom, left:right]
    # the ring's pixels only: a full-size hole's box holds millions of px, its ring a few
    detail = pixels[ring].astype(np.int16) - cv2.GaussianBlur(pixels, (5, 5), 0)[ring]
    return robust_spread(detail)


def _box(mask: np.ndarray) -> Box | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    columns = np.flatnonzero(mask.any(axis=0))
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


def _describe(error: Exception) -> str:
    if isinstance(error, MemoryError):
        return "out of memory"
    return type(error).__name__
