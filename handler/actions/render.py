"""Rendering a replacement at the working copy's size (previews) or at the photo's own size.

A full-size render composites on the working copy first, which says which region of the
scene the replacement touches; that region, scaled to the photo and widened by a margin, is
then composited again from the photo itself: its own pixels, the mask rendered at its
resolution (segmentation/fullres.py), the product in its colour space, the settings scaled
(compositing.Frame). Every pixel outside the region is the photo's own, untouched.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .. import compositing
from ..compositing import CompositeResult, CompositeSettings, Frame
from ..errors import Unprocessable
from ..imaging.original import Original, decode_original, in_photo_space
from ..platform.runtime import Runtime
from ..segmentation.base import MaskLogits
from ..segmentation.fullres import mask_region
from ..storage.records import StoredImage
from .answers import Stopwatch

# Around the region the working render touched: a little more of the photo, so rounding at
# the larger scale never cuts into what the full-size composite needs.
MARGIN_WORKING_PX = 8


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
           settings: CompositeSettings, size: str, clock: Stopwatch) -> Rendered:
    """The replacement at `size` "working" or "original"."""
    with clock.stage("composite"):
        working = composite(scene.pixels, mask, product, settings)
    if size == "working" or tuple(scene.original_size) == (scene.pixels.shape[1], scene.pixels.shape[0]):
        return Rendered(working.image, working, 1.0)
    with clock.stage("decode_original"):
        original = decode_original(runtime.records.load_original(scene))
    photo = original.pixels
    height, width = photo.shape[:2]
    scale = width / scene.pixels.shape[1]
    region = _photo_region(working.region, scale, (height, width))
    with clock.stage("composite_full_size"):
        full_mask = mask_region(mask, logits, (height, width), region, photo)
        if not full_mask.any():  # a sliver at the working size that vanished at full size
            return Rendered(working.image, working, 1.0)
        product = in_photo_space(product, original.icc_profile)
        x0, y0, x1, y1 = region
        full = composite(photo[y0:y1, x0:x1], full_mask, product, settings, Frame(scale, (x0, y0)))
        photo[y0:y1, x0:x1] = full.image
    return Rendered(photo, _in_photo(full, (x0, y0)), scale, original)


def composite(scene: np.ndarray, mask: np.ndarray, product: np.ndarray, settings: CompositeSettings,
              frame: Frame = Frame()) -> CompositeResult:
    try:
        return compositing.replace_product(scene, mask, product, settings, frame)
    except compositing.CompositingError as error:
        status = 400 if error.code in ("invalid_image", "invalid_mask") else 422
        raise Unprocessable(error.message, code=error.code, status=status) from None


def _photo_region(region: tuple[int, int, int, int], scale: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A working-copy region, in photo px, widened by MARGIN_WORKING_PX and clipped to it."""
    margin = MARGIN_WORKING_PX
    x0, y0, x1, y1 = region
    return (max(0, int((x0 - margin) * scale)), max(0, int((y0 - margin) * scale)),
            min(size[1], int(np.ceil((x1 + margin) * scale))), min(size[0], int(np.ceil((y1 + margin) * scale))))


def _in_photo(result: CompositeResult, origin: tuple[int, int]) -> CompositeResult:
    """The crop's composite with its placement and region moved into the whole photo's px."""
    ox, oy = origin

    def moved(box):
        return box[0] + ox, box[1] + oy, box[2] + ox, box[3] + oy

    return replace(result, placement=replace(result.placement, box=moved(result.placement.box)),
                   region=moved(result.region))
