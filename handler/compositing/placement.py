"""Where the product goes, and rendering it at that place in scene pixels.

Boxes are XYXY tuples of ints in scene (or product) pixels, x2/y2 exclusive.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[int, int, int, int]

ALIGN_SEARCH_PX = 12   # transparent padding tried on each side to align a shrunk product's pixels


@dataclass(frozen=True)
class Resampling:
    """The cut-out ready to be resampled onto the scene pixels of `window`.

    premultiplied: hxwx4 uint8 RGBA with colours multiplied by alpha (already shrunk by area
    when the product is drawn smaller than it is); matrix: 2x3 float64 mapping its pixel
    indices onto window pixel indices; window: XYXY scene box, already clipped to the image;
    interpolation: the cv2 flag its pixels are warped with.
    """

    premultiplied: np.ndarray
    matrix: np.ndarray
    window: Box
    interpolation: int

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the window."""
        return self.window[3] - self.window[1], self.window[2] - self.window[0]


def bounding_box(mask: np.ndarray) -> Box | None:
    """Bounding box of the True pixels of a 2-D mask, or None if it has none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def fit_scale(product_box: Box, mask_box: Box, scale: float) -> float:
    """Scene px per product px that fit product_box into mask_box keeping its aspect ratio,
    times `scale`."""
    pw, ph = product_box[2] - product_box[0], product_box[3] - product_box[1]
    return min((mask_box[2] - mask_box[0]) / pw, (mask_box[3] - mask_box[1]) / ph) * scale


def scaled_size(product_box: Box, factor: float) -> tuple[int, int]:
    """(width, height) in scene px of product_box drawn at `factor` scene px per product px."""
    return (max(1, round((product_box[2] - product_box[0]) * factor)),
            max(1, round((product_box[3] - product_box[1]) * factor)))


def place(size: tuple[int, int], mask_box: Box, anchor: str, offset: tuple[int, int]) -> Box:
    """Scene box of a product of size (width, height) scene px at the old product's place.

    It is centred horizontally on mask_box and either stands on its lowest row (anchor
    "bottom") or is centred (anchor "center"), then moved by offset (dx, dy). The box may
    extend past the mask and the image.
    """
    w, h = size
    mx1, my1, mx2, my2 = mask_box
    x1 = round((mx1 + mx2 - w) / 2)
    y1 = my2 - h if anchor == "bottom" else round((my1 + my2 - h) / 2)
    dx, dy = offset
    return x1 + dx, y1 + dy, x1 + dx + w, y1 + dy + h


def fit_into(product_box: Box, box: Box) -> Box:
    """Scene box for product_box made as large as fits inside `box` keeping its aspect ratio,
    centred in it (the other axis spans `box` exactly)."""
    size = scaled_size(product_box, fit_scale(product_box, box, 1.0))
    x1 = box[0] + (box[2] - box[0] - size[0]) // 2
    y1 = box[1] + (box[3] - box[1] - size[1]) // 2
    return x1, y1, x1 + size[0], y1 + size[1]


def oriented(rgba: np.ndarray, rotation: float, flip: bool) -> np.ndarray:
    """The cut-out (hxwx4 uint8 RGBA) mirrored left to right when `flip`, then rotated by
    `rotation` degrees clockwise (as on screen, y down) about its centre, on a canvas grown to
    hold all of it. Quarter turns are exact; other angles are interpolated bicubically with
    premultiplied colours, so the transparent surroundings do not darken the edge.
    """
    if flip:
        rgba = rgba[:, ::-1]
    turns = rotation / 90.0
    if turns == round(turns):
        # np.rot90 turns counter-clockwise
        return np.ascontiguousarray(np.rot90(rgba, k=-round(turns) % 4))
    h, w = rgba.shape[:2]
    angle = np.deg2rad(rotation)
    cos, sin = abs(np.cos(angle)), abs(np.sin(angle))
    size = (int(np.ceil(w * cos + h * sin)) + 2, int(np.ceil(w * sin + h * cos)) + 2)
    # about the image's centre (pixel centres at i + 0.5), landing on the canvas's centre;
    # cv2's positive angle turns counter-clockwise on screen
    matrix = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), -rotation, 1.0)
    matrix[:, 2] += (size[0] - w) / 2, (size[1] - h) / 2
    premultiplied = cv2.cvtColor(np.ascontiguousarray(rgba), cv2.COLOR_RGBA2mRGBA)
    turned = cv2.warpAffine(premultiplied, matrix, size, flags=cv2.INTER_CUBIC,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    return cv2.cvtColor(turned, cv2.COLOR_mRGBA2RGBA)


def expand(box: Box, px: int) -> Box:
    return box[0] - px, box[1] - px, box[2] + px, box[3] + px


def intersect(a: Box, b: Box) -> Box | None:
    box = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return box if box[0] < box[2] and box[1] < box[3] else None


def union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def resampling(rgba: np.ndarray, product_box: Box, target: Box, window: Box) -> Resampling:
    """Prepare the cut-out (hxwx4 uint8 RGBA) so product_box (product px) lands exactly on
    target (scene px) when rendered over `window`.

    Colours are resampled premultiplied, so the transparent background never bleeds into
    the edge. A product drawn smaller is shrunk by area onto a pixel grid that lines up with
    the scene's (then only shifted by whole pixels, which keeps it as sharp as a shrink can
    be: interpolating between pixels at half-pixel offsets blurs it visibly); a product
    drawn larger is interpolated bicubically.
    """
    tw, th = target[2] - target[0], target[3] - target[1]
    pw, ph = product_box[2] - product_box[0], product_box[3] - product_box[1]
    sx, sy = tw / pw, th / ph
    # rounds v * a / 255 to the nearest integer, in one pass and one output array
    premultiplied = cv2.cvtColor(rgba, cv2.COLOR_RGBA2mRGBA)
    interpolation = cv2.INTER_CUBIC
    if min(sx, sy) < 1.0:
        h, w = rgba.shape[:2]
        left, right, small_w = _aligned_shrink(w, product_box[0], pw, tw)
        top, bottom, small_h = _aligned_shrink(h, product_box[1], ph, th)
        padded = cv2.copyMakeBorder(premultiplied, top, bottom, left, right, cv2.BORDER_CONSTANT, value=0)
        premultiplied = cv2.resize(padded, (small_w, small_h), interpolation=cv2.INTER_AREA)
        del padded
        rx, ry = small_w / (w + left + right), small_h / (h + top + bottom)
        product_box = ((product_box[0] + left) * rx, (product_box[1] + top) * ry, 0, 0)
        sx, sy = sx / rx, sy / ry
        interpolation = cv2.INTER_LINEAR
    # map pixel centres: (x + 0.5 - px1) * sx + tx1 = X + 0.5 + wx1
    matrix = np.array([
        [sx, 0.0, (0.5 - product_box[0]) * sx + target[0] - 0.5 - window[0]],
        [0.0, sy, (0.5 - product_box[1]) * sy + target[1] - 0.5 - window[1]],
    ])
    return Resampling(premultiplied, matrix, window, interpolation)


def _aligned_shrink(length: int, start: int, size: int, target: int) -> tuple[int, int, int]:
    """How to shrink one axis of the product by area so its box lands on whole pixels.

    length: the product image's length along the axis; [start, start + size): its box there;
    target: the box's length in the scene (< size). Returns (pad before, pad after, shrunk
    length): with that many transparent pixels added on each side, the shrunk image's box
    starts closest to a pixel edge and is closest to `target` px long (over up to
    ALIGN_SEARCH_PX pixels of padding per side).
    """
    before, after = np.meshgrid(np.arange(ALIGN_SEARCH_PX), np.arange(ALIGN_SEARCH_PX), indexing="ij")
    total = length + before + after
    shrunk = np.maximum(1, np.round(total * (target / size)))
    scale = shrunk / total
    edge = (start + before) * scale
    error = np.abs(edge - np.round(edge)) + np.abs(size * scale - target)
    best = np.unravel_index(np.argmin(error), error.shape)
    return int(before[best]), int(after[best]), int(shrunk[best])


def render_alpha(product: Resampling, rows: tuple[int, int]) -> np.ndarray:
    """The product's alpha over window rows [first, stop), all columns: float32 0..1."""
    columns = (0, product.shape[1])
    warped = _warped(product, rows, columns, slice(3, 4))[..., 0]
    return np.clip(warped * (1 / 255.0), 0.0, 1.0, out=warped)


def render_colours(product: Resampling, rows: tuple[int, int], columns: tuple[int, int],
                   alpha: np.ndarray) -> np.ndarray:
    """Straight (not premultiplied) colours over window rows [first, stop) and columns
    [first, stop): float32 RxCx3 in 0..255. alpha: the product's alpha there (render_alpha)."""
    warped = _warped(product, rows, columns, slice(0, 3))
    warped /= np.maximum(alpha, 1e-6)[..., None]
    return np.clip(warped, 0.0, 255.0, out=warped)


def _warped(product: Resampling, rows: tuple[int, int], columns: tuple[int, int],
            channels: slice) -> np.ndarray:
    """Premultiplied channels warped onto a part of the window, RxCx(channels) float32.

    Only the source pixels that part samples are converted to float, so a product of any
    size costs memory in proportion to the part asked for.
    """
    (sx, _, tx), (_, sy, ty) = product.matrix
    source_h, source_w = product.premultiplied.shape[:2]
    top, bottom = _source_span(rows, sy, ty, source_h)
    left, right = _source_span(columns, sx, tx, source_w)
    size = (columns[1] - columns[0], rows[1] - rows[0])
    if top >= bottom or left >= right:
        return np.zeros((size[1], size[0], channels.stop - channels.start), np.float32)
    source = product.premultiplied[top:bottom, left:right, channels].astype(np.float32)
    matrix = np.array([[sx, 0.0, tx + sx * left - columns[0]], [0.0, sy, ty + sy * top - rows[0]]])
    warped = cv2.warpAffine(source, matrix, size, flags=product.interpolation,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    return warped.reshape(size[1], size[0], -1)


def _source_span(span: tuple[int, int], scale: float, shift: float, length: int) -> tuple[int, int]:
    """[first, stop) source indices that window indices [first, stop) read, along one axis.

    Bicubic interpolation reads the four source pixels around each mapped position (linear,
    the two nearest); one spare on each side keeps the cut clear of them.
    """
    first = max(0, int(np.floor((span[0] - shift) / scale)) - 2)
    stop = min(length, int(np.ceil((span[1] - 1 - shift) / scale)) + 3)
    return first, stop
