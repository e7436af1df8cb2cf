"""replace_product: the old product out, the new one in, looking like it belongs there."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .blending import (alpha_blend, contact_shadow, extend_colours, feather_alpha,
                       feather_reach, seamless_blend, wants_seamless)
from .cutout import OPAQUE, bleed_colours, cut_out
from .errors import CompositingError
from .grading import LabStats, grade, lab_stats, ring_around
from .placement import Box, bounding_box, expand, intersect, place, render_sprite, union
from .removal import fill_hole, hole_for
from .settings import CompositeSettings

OPAQUE_U8 = 128         # uint8 alpha of an opaque (body) pixel, as OPAQUE for float alpha
IMAGE_STAT_STRIDE = 4
FULLY_COVERED = 254.5 / 255   # feathered alpha that rounds to the product alone: no fill needed   # "image" grading target: every 4th pixel each way is plenty


@dataclass(frozen=True)
class CompositeResult:
    """image: HxWx3 uint8 RGB. cutout: "alpha" | "background_model" | "grabcut" | "none".
    blend_mode: "alpha" | "seamless" (the one actually used). placement: XYXY box (x2/y2
    exclusive) of the product's opaque pixels in scene px, before clipping to the image."""

    image: np.ndarray
    cutout: str
    blend_mode: str
    placement: tuple[int, int, int, int]


def replace_product(scene: np.ndarray, mask: np.ndarray, product: np.ndarray,
                    settings: CompositeSettings = CompositeSettings()) -> CompositeResult:
    """Replace the product under `mask` in `scene` by `product`.

    scene: HxWx3 uint8 RGB. mask: HxW bool, the old product's pixels. product: hxwx4 uint8
    RGBA (hxwx3 RGB or hxw grey are taken as opaque). Only a region of interest around the
    mask and the new product is processed; all other pixels are copied unchanged.
    Raises CompositingError for an empty mask, a product with nothing opaque, or malformed
    arrays.
    """
    scene, mask, product = _checked_inputs(scene, mask, product)
    height, width = mask.shape
    mask_box = bounding_box(mask)
    if mask_box is None:
        raise CompositingError("the mask has no pixels: draw a box around the product",
                               code="empty_mask")
    rgba, method = cut_out(product, settings.cutout)
    product_box = bounding_box(rgba[..., 3] >= OPAQUE_U8)
    if product_box is None:
        raise CompositingError(
            "the product image has no opaque pixels after cut-out: upload an image in which "
            "the product is visible and not fully transparent", code="empty_product")
    target = place(product_box, mask_box, settings.scale, settings.anchor, settings.offset)
    reach = feather_reach(settings.feather)
    grow = _hole_grow_px(mask_box, settings.feather) if settings.remove_old else 0
    context = _context_px(mask_box)
    image_box = (0, 0, width, height)
    visible = bounding_box(rgba[..., 3] > 0)
    rgba, product_box = _cropped(rgba, visible), _shifted(product_box, visible)
    outer = _map_box(_shifted(visible, visible), product_box, target)
    window = intersect(expand(outer, reach + 1), image_box)
    shadowed = settings.shadow > 0 and settings.anchor == "bottom"

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
    layer = None
    if window is not None:
        layer = _product_layer(rgba, product_box, target, window, settings,
                               lambda: _grading_target(settings.grading_target, scene, mask, surroundings))
    background = original.copy()
    if settings.remove_old:
        covered = np.zeros(mask_roi.shape, bool)
        if layer is not None:
            covered[_local(window, roi)] = layer.alpha >= FULLY_COVERED
        background = fill_hole(original, hole_for(mask_roi, grow), covered)
    blend_used = "alpha"
    if layer is not None:
        if shadowed:
            background = _with_shadow(background, layer.coverage, window, roi, target, settings.shadow)
        blend_used = _blend_mode(settings.blend_mode, layer.rgb, layer.coverage, surroundings)
        blend = seamless_blend if blend_used == "seamless" else alpha_blend
        region = _local(window, roi)
        background[region] = blend(background[region], layer.rgb, layer.alpha)
    out = scene.copy()
    out[y1:y2, x1:x2] = background
    return CompositeResult(out, method, blend_used, target)


@dataclass(frozen=True)
class _Layer:
    """The product ready to blend over `window`: graded colours (float32 0..255), the
    feathered alpha used for blending and the unfeathered coverage (both float32 0..1)."""

    rgb: np.ndarray
    alpha: np.ndarray
    coverage: np.ndarray


def _product_layer(rgba: np.ndarray, product_box: Box, target: Box, window: Box,
                   settings: CompositeSettings, grading_target) -> _Layer:
    sprite = render_sprite(rgba, product_box, target, window)
    rgb = bleed_colours(sprite.rgb, sprite.alpha)
    rgb = extend_colours(rgb, sprite.alpha, feather_reach(settings.feather) + 1)
    if settings.color_grading and settings.color_strength > 0:
        rgb = grade(rgb, sprite.alpha, grading_target(), settings.color_strength)
    return _Layer(rgb, feather_alpha(sprite.alpha, settings.feather), sprite.alpha)


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


def _hole_grow_px(mask_box: Box, feather: int) -> int:
    """How far past the mask the old product is removed: wider for big masks (their edges are
    less exact), but never past the area the feather may touch anyway (feather + 2 px)."""
    side = max(mask_box[2] - mask_box[0], mask_box[3] - mask_box[1])
    return min(feather + 2, 2 + round(0.01 * side))


def _context_px(mask_box: Box) -> int:
    """Width of the scene ring around the mask used for filling and for grading statistics."""
    side = max(mask_box[2] - mask_box[0], mask_box[3] - mask_box[1])
    return int(np.clip(0.15 * side, 16, 96))


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


def _grading_target(name: str, scene: np.ndarray, mask: np.ndarray,
                    surroundings: LabStats | None) -> LabStats:
    if name == "area":
        return lab_stats(scene[mask])
    if name == "surroundings" and surroundings is not None:
        return surroundings
    # "image", and "surroundings" when the mask fills the whole frame
    s = IMAGE_STAT_STRIDE
    return lab_stats(scene[::s, ::s].reshape(-1, 3))


def _blend_mode(requested: str, rgb: np.ndarray, alpha: np.ndarray,
                surroundings: LabStats | None) -> str:
    if requested != "auto":
        return requested
    opaque = alpha >= OPAQUE
    if surroundings is None or not opaque.any():
        return "alpha"
    product_l = float(lab_stats(rgb[opaque]).mean[0])
    return "seamless" if wants_seamless(product_l, float(surroundings.mean[0])) else "alpha"


def _with_shadow(background: np.ndarray, sprite_alpha: np.ndarray, window: Box, roi: Box,
                 target: Box, strength: float) -> np.ndarray:
    """Background (ROI) darkened under the product; untouched pixels keep their exact values."""
    alpha = np.zeros(background.shape[:2], np.float32)
    wx, wy = window[0] - roi[0], window[1] - roi[1]
    alpha[wy:wy + sprite_alpha.shape[0], wx:wx + sprite_alpha.shape[1]] = sprite_alpha
    multiplier = contact_shadow(alpha.shape, alpha, target[3] - 1 - roi[1], strength)
    darker = multiplier < 1.0
    out = background.copy()
    out[darker] = np.round(background[darker] * multiplier[darker][:, None]).astype(np.uint8)
    return out
