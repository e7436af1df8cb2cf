"""replace_product: the old product out, the new one in, looking like it belongs there."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .blending import (
    auto_feather,
    contact_shadow,
    feather_reach,
    wants_seamless,
    wrap_band_px,
)
from .cutout import OPAQUE, cut_out
from .errors import CompositingError
from .grading import Grading, LabStats, grade, grading, lab_stats, lighting, ring_around
from .layer import ProductLayer, composite, fully_covered, opaque_colours, product_layer
from .placement import (
    Box,
    bounding_box,
    expand,
    fit_into,
    fit_scale,
    intersect,
    oriented,
    place,
    scaled_size,
    union,
)
from .removal import fill_hole, hole_for
from .settings import CompositeSettings
from .warnings import QualityWarning, product_background_busy, product_upscaled

OPAQUE_U8 = 128          # uint8 alpha of an opaque (body) pixel, as OPAQUE for float alpha
IMAGE_STAT_STRIDE = 4    # "image" grading target: every 4th pixel each way is plenty
MASK_STAT_ROWS = 64      # the "area" grading target gathers the mask's pixels this many rows at a time
FILL_CONTEXT_PX = 256    # an injected fill sees at least this much scene around the hole (x frame.scale)

Fill = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""fill(image, hole, covered) -> image: HxWx3 uint8 scene region, HxW bool hole (the pixels
to repaint) and covered (hole pixels the new product will hide); returns a new HxWx3 uint8
image in which only hole pixels differ from `image`."""


@dataclass(frozen=True)
class Placement:
    """Where the product went.

    box: XYXY (x1/y1 exclusive) of the product's opaque pixels in output px, turned as
    shown; it may extend past the image (the product is then clipped). scale: output px per
    px of the product image (above 1: enlarged). anchor: "bottom" | "center" (at the old
    product's place) or "box" (fitted into settings.placement). rotation: degrees
    clockwise; flipped: mirrored left to right.
    """

    box: Box
    scale: float
    anchor: str
    rotation: float = 0.0
    flipped: bool = False

    def as_dict(self) -> dict:
        """JSON-ready: {"box": [x0, y0, x1, y1], "scale", "anchor", "rotation", "flipped"}."""
        return {"box": list(self.box), "scale": round(self.scale, 4), "anchor": self.anchor,
                "rotation": self.rotation, "flipped": self.flipped}


@dataclass(frozen=True)
class Frame:
    """How the scene given to replace_product relates to the pixels the settings are given in
    (the working copy a person edits on): this image's px = working px * scale - origin.

    A full-size render passes a crop of the photo: scale = photo px per working px, origin =
    the crop's top-left corner in photo px. Offsets, placement boxes, explicit feathers and
    the context rings follow the scale, so the result looks like the working render, larger.
    """

    scale: float = 1.0
    origin: tuple[int, int] = (0, 0)

    def box(self, box: Box) -> Box:
        """A box in working px, in this image's px (rounded to whole pixels)."""
        return (round(box[0] * self.scale) - self.origin[0], round(box[1] * self.scale) - self.origin[1],
                round(box[2] * self.scale) - self.origin[0], round(box[3] * self.scale) - self.origin[1])

    def length(self, px: float) -> int:
        return round(px * self.scale)


@dataclass(frozen=True)
class CompositeResult:
    """image: HxWx3 uint8 RGB. cutout: "alpha" | "background_model" | "none" (the method
    used). blend_mode: "alpha" | "seamless" (the one used). placement: where the product
    went. feather: the edge softening used, px (the automatic value when not set).
    warnings: what the user should check, most important first. region: the XYXY box of
    the scene the result may differ in (every pixel outside it is the scene's own)."""

    image: np.ndarray
    cutout: str
    blend_mode: str
    placement: Placement
    feather: int
    warnings: tuple[QualityWarning, ...] = ()
    region: Box = (0, 0, 0, 0)


def replace_product(scene: np.ndarray, mask: np.ndarray, product: np.ndarray,
                    settings: CompositeSettings = CompositeSettings(), frame: Frame = Frame(),
                    fill: Fill | None = None) -> CompositeResult:
    """Replace the product under `mask` in `scene` by `product`.

    scene: HxWx3 uint8 RGB. mask: HxW bool, the old product's pixels. product: hxwx4 uint8
    RGBA (hxwx3 RGB or hxw grey are taken as opaque). The product is cut out, turned and
    mirrored as set, sized and placed at the old product's place (or in settings.placement),
    the old product is painted over, and the product is matched to the scene and blended in.
    Only a region of interest around the mask and the new product is processed; all other
    pixels are copied unchanged. The result says where the product went and what the user
    should check (warnings). frame: how `scene` relates to the pixels the settings are given
    in (the whole working copy by default).
    The old product's place (the hole: the mask grown by settings.remove_margin) is repainted
    by `fill` (see Fill), which sees the hole with at least FILL_CONTEXT_PX of scene around it;
    None: removal.fill_hole.
    Raises CompositingError for an empty mask, a product with nothing opaque, or malformed
    arrays.
    """
    scene, mask, product = _checked_inputs(scene, mask, product)
    height, width = mask.shape
    mask_box = bounding_box(mask)
    if mask_box is None:
        raise CompositingError("the mask has no pixels: draw a box around the product",
                               code="empty_mask")
    cut = cut_out(product, settings.cutout)
    upright_box = bounding_box(cut.rgba[..., 3] >= OPAQUE_U8)
    rgba = oriented(cut.rgba, settings.rotation, settings.flip)
    product_box = None if upright_box is None else bounding_box(rgba[..., 3] >= OPAQUE_U8)
    if product_box is None:
        raise CompositingError(
            "the product image has no opaque pixels after cut-out: upload an image in which "
            "the product is visible and not fully transparent", code="empty_product")
    target, anchor = _target(upright_box, product_box, mask_box, settings, frame)
    size = (target[2] - target[0], target[3] - target[1])
    scale = size[0] / (product_box[2] - product_box[0])
    warnings = _warnings(cut.background_busy, scale, product_box)
    feather = auto_feather(size) if settings.feather is None else frame.length(settings.feather)
    wrap = wrap_band_px(size) if settings.blend_mode != "alpha" else 0
    reach = max(feather_reach(feather), wrap)
    grow = round(settings.remove_margin * frame.scale) if settings.remove_old else 0
    context = _context_px(mask_box, frame.scale)
    image_box = (0, 0, width, height)
    visible = bounding_box(rgba[..., 3] > 0)
    rgba, product_box = _cropped(rgba, visible), _shifted(product_box, visible)
    outer = _map_box(_shifted(visible, visible), product_box, target)
    window = intersect(expand(outer, reach + 1), image_box)
    shadowed = settings.shadow > 0 and anchor in ("bottom", "box")

    # wide enough that texture can be mirrored into the hole from both sides
    half_width = (mask_box[2] - mask_box[0] + 1) // 2 + grow + 2
    roi = (mask_box[0] - max(context, half_width) - grow, mask_box[1] - context - grow,
           mask_box[2] + max(context, half_width) + grow, mask_box[3] + context + grow)
    for box in (window, _shadow_box(target) if shadowed else None):
        roi = union(roi, box) if box else roi
    roi = intersect(roi, image_box)
    x1, y1, x2, y2 = roi
    original = scene[y1:y2, x1:x2]
    mask_roi = mask[y1:y2, x1:x2]
    surroundings = _surroundings_stats(original, mask_roi, grow, context)
    layer = None if window is None else product_layer(rgba, product_box, target, window, feather)
    out = scene.copy()
    background = out[y1:y2, x1:x2]   # a view: the steps below edit the result in place
    if settings.remove_old:
        _remove(scene, mask, mask_box, background, roi, layer, grow, fill, frame.scale)
    blend_used = "alpha"
    if layer is not None:
        if shadowed:
            _add_shadow(background, layer, roi, target, settings.shadow)
        transform, graded_opaque = _grading(layer, settings, lambda: _grading_target(
            settings.grading_target, scene, mask, surroundings))
        blend_used = _blend_mode(settings.blend_mode, graded_opaque, surroundings)
        region = background[_local(window, roi)]
        region[...] = composite(region, layer, transform, wrap if blend_used == "seamless" else 0)
    placement = Placement(target, scale, anchor, settings.rotation, settings.flip)
    return CompositeResult(out, cut.method, blend_used, placement, feather, warnings, roi)


def _remove(scene: np.ndarray, mask: np.ndarray, mask_box: Box, background: np.ndarray, roi: Box,
            layer: ProductLayer | None, grow: int, fill: Fill | None, pixel_scale: float) -> None:
    """Repaint the old product's place (its mask grown by `grow` px) in `background`, the
    output's ROI (edited in place). An injected fill works on a region wide enough for its
    context (FILL_CONTEXT_PX, or the hole's size); only hole pixels inside the ROI are copied."""
    region = roi
    if fill is not None:
        side = max(mask_box[2] - mask_box[0], mask_box[3] - mask_box[1]) + 2 * grow
        reach = max(round(FILL_CONTEXT_PX * pixel_scale), side) + grow
        region = union(roi, _inside(expand(mask_box, reach), (0, 0, mask.shape[1], mask.shape[0])))
    x1, y1, x2, y2 = region
    hole = hole_for(mask[y1:y2, x1:x2], grow)
    covered = np.zeros(hole.shape, bool)
    if layer is not None:
        covered[_local(layer.window, region)] = fully_covered(layer)
    filled = (fill or fill_hole)(scene[y1:y2, x1:x2], hole, covered)
    del covered
    inner = _local(roi, region)
    if fill is None:
        background[...] = filled[inner]
    else:
        # only hole pixels, whatever the fill returned elsewhere
        np.copyto(background, filled[inner], where=hole[inner][..., None])


def _inside(box: Box, image_box: Box) -> Box:
    """box shifted to lie inside image_box where it fits (a fill centred on a hole near the
    frame's edge takes its context from the other side), then clipped to it."""
    x1, y1, x2, y2 = box
    dx = max(image_box[0] - x1, 0) - max(x2 - image_box[2], 0)
    dy = max(image_box[1] - y1, 0) - max(y2 - image_box[3], 0)
    return intersect((x1 + dx, y1 + dy, x2 + dx, y2 + dy), image_box)


def _target(upright_box: Box, product_box: Box, mask_box: Box, settings: CompositeSettings,
            frame: Frame) -> tuple[Box, str]:
    """(scene box of the product's opaque box, the anchor used). upright_box / product_box:
    the opaque box in the cut-out before / after turning and mirroring it."""
    if settings.placement is not None:
        return fit_into(product_box, frame.box(settings.placement)), "box"
    # sized upright, so turning the product never shrinks it; its turned box is anchored
    factor = fit_scale(upright_box, mask_box, settings.scale)
    offset = (frame.length(settings.offset[0]), frame.length(settings.offset[1]))
    return place(scaled_size(product_box, factor), mask_box, settings.anchor, offset), settings.anchor


def _warnings(background_busy: bool, scale: float, product_box: Box) -> tuple[QualityWarning, ...]:
    """What the user should know about the product image, most important first."""
    found = [product_background_busy()] if background_busy else []
    upscaled = product_upscaled(scale, (product_box[2] - product_box[0], product_box[3] - product_box[1]))
    return tuple(found + ([upscaled] if upscaled else []))


def _local(box: Box, roi: Box) -> tuple[slice, slice]:
    """Array slices of `box` (scene px) inside an array covering `roi`."""
    return slice(box[1] - roi[1], box[3] - roi[1]), slice(box[0] - roi[0], box[2] - roi[0])


def _checked_inputs(scene, mask, product) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not (isinstance(scene, np.ndarray) and scene.dtype == np.uint8 and scene.ndim == 3
            and scene.shape[2] == 3 and min(scene.shape[:2]) > 0):
        raise CompositingError("the scene must be an RGB image", code="invalid_image")
    if not (isinstance(mask, np.ndarray) and mask.shape == scene.shape[:2]):
        raise CompositingError("the mask must have the same size as the scene", code="invalid_mask")
    if not (isinstance(product, np.ndarray) and product.dtype == np.uint8
            and product.ndim in (2, 3) and min(product.shape[:2]) > 0
            and (product.ndim == 2 or product.shape[2] in (3, 4))):
        raise CompositingError("the product must be an RGB or RGBA image", code="invalid_image")
    if product.ndim == 2:
        product = np.repeat(product[..., None], 3, axis=2)
    if product.shape[2] == 3:
        product = np.dstack([product, np.full(product.shape[:2], 255, np.uint8)])
    return scene, mask.astype(bool, copy=False), product


def _cropped(image: np.ndarray, box: Box) -> np.ndarray:
    return image[box[1]:box[3], box[0]:box[2]]


def _shifted(box: Box, origin: Box) -> Box:
    """box expressed relative to origin's top-left corner."""
    return box[0] - origin[0], box[1] - origin[1], box[2] - origin[0], box[3] - origin[1]


def _context_px(mask_box: Box, scale: float) -> int:
    """Width of the scene ring around the mask used for filling and for grading statistics
    (its bounds are working-copy px: `scale` this image's px each)."""
    side = max(mask_box[2] - mask_box[0], mask_box[3] - mask_box[1])
    return int(np.clip(0.15 * side, 16 * scale, 96 * scale))


def _map_box(box: Box, product_box: Box, target: Box) -> Box:
    """A box in product px mapped to scene px by the product_box -> target transform, rounded out."""
    sx = (target[2] - target[0]) / (product_box[2] - product_box[0])
    sy = (target[3] - target[1]) / (product_box[3] - product_box[1])
    return (math.floor((box[0] - product_box[0]) * sx + target[0]),
            math.floor((box[1] - product_box[1]) * sy + target[1]),
            math.ceil((box[2] - product_box[0]) * sx + target[0]),
            math.ceil((box[3] - product_box[1]) * sy + target[1]))


def _shadow_box(target: Box) -> Box:
    w = target[2] - target[0]
    return target[0] - w // 4, target[3] - 2, target[2] + w // 4, target[3] + w // 4 + 4


def _surroundings_stats(original: np.ndarray, mask_roi: np.ndarray, grow: int, context: int) -> LabStats | None:
    # every other pixel each way: a quarter of the work, the same statistics
    ring = ring_around(mask_roi[::2, ::2], (grow + 3) // 2, context // 2)
    return lab_stats(original[::2, ::2][ring]) if ring.any() else None


def _grading(layer: ProductLayer, settings: CompositeSettings, grading_target
             ) -> tuple[Grading | None, np.ndarray | None]:
    """(the grading transform or None, the graded colours of the product's opaque pixels
    (Nx3 float32), or None unless blend_mode "auto" needs them)."""
    wants_grading = settings.color_grading != "off" and settings.color_strength > 0
    auto = settings.blend_mode == "auto"
    if not (wants_grading or auto):
        return None, None
    opaque = opaque_colours(layer)
    if not (wants_grading and len(opaque)):
        return None, opaque if auto else None
    match = lighting if settings.color_grading == "lighting" else grading
    transform = match(lab_stats(opaque, subsample=False), grading_target(), settings.color_strength)
    return transform, grade(opaque.reshape(1, -1, 3), transform).reshape(-1, 3) if auto else None


def _grading_target(name: str, scene: np.ndarray, mask: np.ndarray,
                    surroundings: LabStats | None) -> LabStats:
    if name == "area":
        return lab_stats(_masked_pixels(scene, mask))
    if name == "surroundings" and surroundings is not None:
        return surroundings
    # "image", and "surroundings" when the mask fills the whole frame
    s = IMAGE_STAT_STRIDE
    return lab_stats(scene[::s, ::s].reshape(-1, 3))


def _masked_pixels(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """image[mask] (Nx3), gathered a few rows at a time: indexing the whole frame at once
    builds index arrays of 16 bytes per selected pixel."""
    step = MASK_STAT_ROWS
    return np.concatenate([image[r:r + step][mask[r:r + step]] for r in range(0, mask.shape[0], step)])


def _blend_mode(requested: str, graded_opaque: np.ndarray | None,
                surroundings: LabStats | None) -> str:
    """The blend mode to use. "auto" picks seamless when the graded product's lightness is far
    from its surroundings' (its rim then needs the scene's light most). Either mode keeps the
    default limits on the product's interior (colours, lightness, sharpness): seamless only
    changes a rim shallower than what those limits measure, so auto need not check more."""
    if requested != "auto":
        return requested
    if surroundings is None or graded_opaque is None or not len(graded_opaque):
        return "alpha"
    product_l = float(lab_stats(graded_opaque).mean[0])
    return "seamless" if wants_seamless(product_l, float(surroundings.mean[0])) else "alpha"


def _add_shadow(background: np.ndarray, layer: ProductLayer, roi: Box, target: Box,
                strength: float) -> None:
    """Darken `background` (the ROI, HxWx3 uint8, edited in place) under the product;
    untouched pixels keep their exact values."""
    h = background.shape[0]
    bottom_row = target[3] - 1 - roi[1]
    if not 0 <= bottom_row < h:
        return
    window = layer.window
    wx, wy = window[0] - roi[0], window[1] - roi[1]
    first = max(0, bottom_row - max(2, h // 40) - wy)
    base_rows = layer.coverage[first:max(first, bottom_row + 1 - wy)] >= OPAQUE
    columns = np.flatnonzero(base_rows.any(axis=0))
    if columns.size == 0:
        return
    region, multiplier = contact_shadow((columns[0] + wx, columns[-1] + wx), bottom_row,
                                        background.shape[:2], strength)
    ground = background[region]
    darker = multiplier < 1.0
    ground[darker] = np.round(ground[darker] * multiplier[darker][:, None]).astype(np.uint8)
