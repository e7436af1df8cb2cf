"""Rendering a replacement at the working copy's size (previews) or at the photo's own size.

A full-size render composites on the working copy first, which says which region of the
scene the replacement touches; that region, scaled to the photo and widened by a margin, is
then composited again from the photo itself: its own pixels, the mask rendered at its
resolution (segmentation/fullres.py), the product in its colour space, the settings scaled
(compositing.Frame). Every pixel outside the region is the photo's own, untouched.

Compositing holds about 11 bytes per pixel of its region. A region over MAX_REGION_PX (a
product filling most of a 24 MP photo) is composited at the largest scale that fits, then
enlarged into the photo band by band, only where it changed, with a warning saying so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from .. import compositing
from ..compositing import CompositeResult, CompositeSettings, Fill, Frame, QualityWarning
from ..errors import Unprocessable
from ..imaging.original import Original, decode_original, in_photo_space
from ..inpainting.service import Inpainting
from ..platform.runtime import Runtime
from ..segmentation.base import MaskLogits
from ..segmentation.fullres import mask_region
from ..storage.records import StoredImage
from .answers import Stopwatch

# Around the region the working render touched: a little more of the photo, so rounding at
# the larger scale never cuts into what the full-size composite needs.
MARGIN_WORKING_PX = 8
MAX_REGION_PX = 8_000_000
BAND_ROWS = 256


@dataclass(frozen=True)
class Rendered:
    """pixels: (H, W, 3) RGB of the result; result: the composite of the region (placement in
    the result's px); scale: result px per working px; original: the photo's metadata to keep,
    or None for a working-size result."""

    pixels: np.ndarray
    result: CompositeResult
    scale: float
    original: Original | None = None


def render(runtime: Runtime, scene: StoredImage, mask: np.ndarray, logits: MaskLogits | None, product: np.ndarray,
           settings: CompositeSettings, size: str, inpainting: Inpainting, clock: Stopwatch) -> Rendered:
    """The replacement at `size` "working" or "original", the old product's place repainted by
    `inpainting`'s fill (whose time is reported as its own stage, "fill")."""
    working = _timed(clock, "composite", inpainting, scene.pixels, mask, product, settings)
    if size == "working" or tuple(scene.original_size) == (scene.pixels.shape[1], scene.pixels.shape[0]):
        return Rendered(working.image, working, 1.0)
    with clock.stage("decode_original"):
        original = decode_original(runtime.records.load_original(scene))
    photo = original.pixels
    height, width = photo.shape[:2]
    scale = width / scene.pixels.shape[1]
    x0, y0, x1, y1 = _photo_region(working.region, scale, (height, width))
    shrink = min(1.0, math.sqrt(MAX_REGION_PX / ((x1 - x0) * (y1 - y0))))
    with clock.stage("composite_full_size"):
        crop = photo[y0:y1, x0:x1]
        if shrink < 1.0:
            crop = cv2.resize(crop, (round((x1 - x0) * shrink), round((y1 - y0) * shrink)),
                              interpolation=cv2.INTER_AREA)
        origin = (round(x0 * shrink), round(y0 * shrink))
        region = (*origin, origin[0] + crop.shape[1], origin[1] + crop.shape[0])
        size = (round(height * shrink), round(width * shrink))
        region_mask = mask_region(mask, logits, size, region, crop)
        if not region_mask.any():  # a sliver at the working size that vanished at full size
            return Rendered(working.image, working, 1.0)
        product = in_photo_space(product, original.icc_profile)
    full = _timed(clock, "composite_full_size", inpainting, crop, region_mask, product, settings,
                  Frame(scale * shrink, origin))
    with clock.stage("composite_full_size"):
        if shrink < 1.0:
            _enlarge_changes(full.image, crop, photo[y0:y1, x0:x1])
            full = replace(full, warnings=full.warnings + (_reduced_warning(shrink),))
        else:
            photo[y0:y1, x0:x1] = full.image
    return Rendered(photo, _in_photo(full, (x0, y0), shrink), scale, original)


def _timed(clock: Stopwatch, stage: str, inpainting: Inpainting, scene: np.ndarray, mask: np.ndarray,
           product: np.ndarray, settings: CompositeSettings, frame: Frame = Frame()) -> CompositeResult:
    """composite() timed as `stage`, less the learned fill's time, which goes to "fill"."""
    before = inpainting.fill_ms
    with clock.stage(stage):
        result = composite(scene, mask, product, settings, frame, inpainting.fill)
    spent = inpainting.fill_ms - before
    if spent:
        clock.record(stage, -spent)
        clock.record("fill", spent)
    return result


def composite(scene: np.ndarray, mask: np.ndarray, product: np.ndarray, settings: CompositeSettings,
              frame: Frame = Frame(), fill: Fill | None = None) -> CompositeResult:
    try:
        return compositing.replace_product(scene, mask, product, settings, frame, fill)
    except compositing.CompositingError as error:
        status = 400 if error.code in ("invalid_image", "invalid_mask") else 422
        raise Unprocessable(error.message, code=error.code, status=status) from None


def _photo_region(region: tuple[int, int, int, int], scale: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A working-copy region, in photo px, widened by MARGIN_WORKING_PX and clipped to it."""
    margin = MARGIN_WORKING_PX
    x0, y0, x1, y1 = region
    return (max(0, int((x0 - margin) * scale)), max(0, int((y0 - margin) * scale)),
            min(size[1], int(np.ceil((x1 + margin) * scale))), min(size[0], int(np.ceil((y1 + margin) * scale))))


def _enlarge_changes(small_result: np.ndarray, small_before: np.ndarray, target: np.ndarray) -> None:
    """Write into `target` (the region of the photo) the pixels where a composite made at a
    reduced size differs from its input, enlarged bilinearly, a band of rows at a time."""
    changed = cv2.dilate((small_result != small_before).any(axis=2).astype(np.uint8), np.ones((3, 3), np.uint8))
    height, width = target.shape[:2]
    sx, sy = small_result.shape[1] / width, small_result.shape[0] / height
    for first in range(0, height, BAND_ROWS):
        stop = min(height, first + BAND_ROWS)
        matrix = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, (first + 0.5) * sy - 0.5]])
        rows = (width, stop - first)
        band = cv2.warpAffine(small_result, matrix, rows, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
        where = cv2.warpAffine(changed, matrix, rows, flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REPLICATE)
        cv2.copyTo(band, where, target[first:stop])


def _reduced_warning(shrink: float) -> QualityWarning:
    return QualityWarning(
        "rendered_below_full_size",
        "The replacement covers most of the photo, so it was made at a lower resolution and enlarged to "
        "the photo's size: it may look a little soft. A smaller product, or a box around less of the photo, "
        "gives a sharper result.", {"scale": round(shrink, 3), "max_region_px": MAX_REGION_PX})


def _in_photo(result: CompositeResult, origin: tuple[int, int], shrink: float) -> CompositeResult:
    """The crop's composite with its placement and region moved into the whole photo's px (and
    enlarged from a reduced render's)."""
    ox, oy = origin

    def moved(box):  # from the crop's px (at the render's scale) to the photo's
        return (round(box[0] / shrink) + ox, round(box[1] / shrink) + oy,
                round(box[2] / shrink) + ox, round(box[3] / shrink) + oy)

    return replace(result, placement=replace(result.placement, box=moved(result.placement.box)),
                   region=moved(result.region))
