"""Real-photo test scenes: scikit-image's bundled photos with a product pasted in at a known
alpha, and procedural replacement products with known alpha.

Everything is deterministic. Images are uint8 RGB / RGBA; masks are bool; boxes are XYXY in
pixels, x2/y2 exclusive. The photos ship inside the scikit-image wheel (no download).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SUPERSAMPLE = 4                     # shapes are drawn this many times larger, then shrunk: smooth edges
LIGHT_BACKDROP_RGB = (242, 242, 240)  # a studio sweep: the opaque can is photographed on it
OLD_PRODUCT_RGB = (60, 90, 190)     # the product that was in the ad: a blue bottle

# name -> (scikit-image loader, crop XYXY of the photo or None, output size (W, H) or None,
#          box of the old product XYXY in output px)
PHOTOS = {
    "coffee": ("coffee", (33, 0, 566, 400), (1280, 960), (1085, 380, 1245, 800)),
    "cat": ("chelsea", None, (902, 600), (735, 250, 880, 580)),
    "astronaut": ("astronaut", None, None, (292, 70, 362, 250)),
    "rocket": ("rocket", None, None, (200, 200, 280, 400)),
}


@dataclass(frozen=True)
class PastedScene:
    """A real photo with an old product pasted in.

    image: HxWx3 the ad (photo + old product); photo: the photo alone; mask: the old
    product's pixels (alpha >= 0.5); name: key of PHOTOS.
    """

    name: str
    image: np.ndarray
    photo: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class Product:
    """A replacement product. rgba: hxwx4 as uploaded; truth: hxwx4 the product with its true
    alpha (equal to rgba for a transparent PNG); band: hxw bool, its white band (empty when
    it has none)."""

    name: str
    rgba: np.ndarray
    truth: np.ndarray
    band: np.ndarray


def photo(name: str) -> np.ndarray:
    """The photo of PHOTOS[name], cropped and resized: HxWx3 uint8."""
    from skimage import data

    loader, crop, size, _ = PHOTOS[name]
    image = getattr(data, loader)()
    if crop is not None:
        image = image[crop[1]:crop[3], crop[0]:crop[2]]
    if size is not None:
        image = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(image)


def pasted_scene(name: str) -> PastedScene:
    """PHOTOS[name] with a shaded blue bottle pasted into its box."""
    image = photo(name)
    box = PHOTOS[name][3]
    alpha = _canvas_coverage(image.shape[:2], lambda canvas, s: _bottle_outline(canvas, s, box))
    shade = _cylinder(image.shape[1], box[0], box[2])[None, :, None]
    colour = np.float32(OLD_PRODUCT_RGB) * shade
    mixed = image * (1 - alpha[..., None]) + colour * alpha[..., None]
    return PastedScene(name, np.clip(mixed + 0.5, 0, 255).astype(np.uint8), image, alpha >= 0.5)


def red_can(width: int = 200, height: int = 340) -> Product:
    """A red can with a white band across its middle (edge to edge), on transparency."""
    rgba, band = _can(width, height)
    return Product("red can", rgba, rgba, band)


def opaque_can_on_light_backdrop(width: int = 200, height: int = 340) -> Product:
    """The red can photographed on a light studio backdrop: no alpha, and its white band,
    which runs from one edge of the can to the other, is close to the backdrop's colour."""
    truth, band = _can(width, height)
    a = truth[..., 3:] / np.float32(255)
    rgb = truth[..., :3] * a + np.float32(LIGHT_BACKDROP_RGB) * (1 - a)
    rgb += np.random.default_rng(5).normal(0, 1.2, rgb.shape)
    opaque = np.dstack([np.clip(rgb + 0.5, 0, 255).astype(np.uint8), np.full(a.shape[:2], 255, np.uint8)])
    return Product("opaque can", opaque, truth, band)


def teal_jar(width: int = 240, height: int = 260) -> Product:
    """A teal jar with a white label and a ridged gold lid, on transparency."""
    m = 12
    lid = (m + 14, m, width - m - 14, m + height // 4)
    body = (m, lid[3] - 4, width - m, height - m)

    def outline(canvas, s):
        _rounded(canvas, body, 18, s)
        _rounded(canvas, lid, 6, s)

    alpha = _canvas_coverage((height, width), outline)
    shade = _cylinder(width, m, width - m)[None, :, None]
    rgb = np.broadcast_to(np.float32([18, 138, 138]) * shade, (height, width, 3)).copy()
    label = np.zeros((height, width), bool)
    label[int(height * 0.45):int(height * 0.78), m:width - m] = True
    rgb = np.where(label[..., None], np.float32([246, 244, 238]) * (0.88 + 0.12 * shade), rgb)
    _print(rgb, "AQUA", (width // 2, int(height * 0.64)), 0.0022 * width, (10, 90, 95), 2)
    ridges = 0.9 + 0.1 * np.cos(np.arange(width, dtype=np.float32) * 1.3)
    rgb[lid[1]:lid[3] - 4] = (np.float32([212, 172, 62]) * (shade[0] * ridges[:, None]))[None]
    _print(rgb, "since 1921", (width // 2, int(height * 0.36)), 0.0012 * width, (240, 240, 235), 1)
    return _product("teal jar", rgb, alpha)


def green_bottle(width: int = 150, height: int = 400) -> Product:
    """A green glass bottle with a cream label and a red cap, on transparency."""
    return _bottle("green bottle", width, height, (30, 112, 58), (236, 226, 200), (30, 90, 50), "GREEN")


def white_bottle(width: int = 150, height: int = 400) -> Product:
    """A white bottle with a pale blue label and a red cap, on transparency: far lighter than
    a night scene, so blend_mode auto picks seamless for it there."""
    return _bottle("white bottle", width, height, (244, 244, 240), (205, 225, 250), (30, 60, 150), "MILK")


def _bottle(name: str, width: int, height: int, glass: tuple[int, int, int], label_rgb: tuple[int, int, int],
            ink: tuple[int, int, int], text: str) -> Product:
    box = (8, 8, width - 8, height - 8)
    alpha = _canvas_coverage((height, width), lambda canvas, s: _bottle_outline(canvas, s, box))
    shade = _cylinder(width, box[0], box[2])[None, :, None]
    rgb = np.broadcast_to(np.float32(glass) * shade, (height, width, 3)).copy()
    rgb[:int(height * 0.09)] = (np.float32([200, 30, 35]) * shade)[0]
    label = slice(int(height * 0.55), int(height * 0.8))
    rgb[label] = (np.float32(label_rgb) * (0.85 + 0.15 * shade))[0]
    _print(rgb, text, (width // 2, int(height * 0.69)), 0.0045 * width, ink, 2)
    return _product(name, rgb, alpha)


def busy_photo_product(size: tuple[int, int] = (300, 240)) -> Product:
    """A 'product' photographed on a busy background: a crop of the cat photo, no alpha."""
    from skimage import data

    crop = data.chelsea()[20:260, 60:360]
    rgb = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    return Product("busy photo", rgba, rgba, np.zeros(rgb.shape[:2], bool))


def _can(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(hxwx4 uint8 red can with true alpha, hxw bool its white band)."""
    m = 10
    body = (m, m + 10, width - m, height - m)
    rim = (m + 8, m, width - m - 8, m + 24)

    def outline(canvas, s):
        _rounded(canvas, body, 14, s)
        _rounded(canvas, rim, 6, s)

    alpha = _canvas_coverage((height, width), outline)
    shade = _cylinder(width, m, width - m)[None, :, None]
    rgb = np.broadcast_to(np.float32([206, 24, 34]) * shade, (height, width, 3)).copy()
    rgb[:m + 24] = (np.float32([196, 196, 200]) * shade)[0]
    band = np.zeros((height, width), bool)
    band[int(height * 0.4):int(height * 0.62)] = True
    # printed white, lit evenly: within a few ΔE of a light backdrop at both of its ends
    rgb = np.where(band[..., None], np.float32([250, 250, 248]) * (0.93 + 0.07 * shade), rgb)
    _print(rgb, "FIZZ", (width // 2, int(height * 0.55)), 0.0035 * width, (200, 20, 30), 3)
    _print(rgb, "classic", (width // 2, int(height * 0.3)), 0.0018 * width, (250, 235, 235), 1)
    rgba = _product("can", rgb, alpha).rgba
    return rgba, band & (alpha >= 0.99)


def _product(name: str, rgb: np.ndarray, alpha: np.ndarray) -> Product:
    rgba = np.dstack([np.clip(rgb + 0.5, 0, 255).astype(np.uint8),
                      np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)])
    return Product(name, rgba, rgba, np.zeros(alpha.shape, bool))


def _print(rgb: np.ndarray, text: str, centre: tuple[int, int], scale: float,
           colour: tuple[int, int, int], thickness: int) -> None:
    """Anti-aliased text centred at `centre`, drawn into rgb (float32 HxWx3) in place."""
    s = SUPERSAMPLE
    font = cv2.FONT_HERSHEY_DUPLEX
    (tw, th), _ = cv2.getTextSize(text, font, scale * s, thickness * s)
    h, w = rgb.shape[:2]
    ink = np.zeros((h * s, w * s), np.uint8)
    cv2.putText(ink, text, (centre[0] * s - tw // 2, centre[1] * s + th // 2), font, scale * s, 255,
                thickness * s, cv2.LINE_AA)
    cover = cv2.resize(ink, (w, h), interpolation=cv2.INTER_AREA)[..., None] / np.float32(255)
    rgb *= 1 - cover
    rgb += cover * np.float32(colour)


def _canvas_coverage(shape: tuple[int, int], draw) -> np.ndarray:
    """float32 HxW anti-aliased coverage of what draw(canvas, s) paints at s times the size."""
    h, w = shape
    canvas = np.zeros((h * SUPERSAMPLE, w * SUPERSAMPLE), np.uint8)
    draw(canvas, SUPERSAMPLE)
    return cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def _rounded(canvas: np.ndarray, box: tuple[int, int, int, int], radius: int, s: int) -> None:
    x1, y1, x2, y2 = (v * s for v in box)
    r = radius * s
    cv2.rectangle(canvas, (x1 + r, y1), (x2 - r, y2), 255, -1)
    cv2.rectangle(canvas, (x1, y1 + r), (x2, y2 - r), 255, -1)
    for cx in (x1 + r, x2 - r):
        for cy in (y1 + r, y2 - r):
            cv2.circle(canvas, (cx, cy), r, 255, -1)


def _bottle_outline(canvas: np.ndarray, s: int, box: tuple[int, int, int, int]) -> None:
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    cx, neck = (x1 + x2) / 2, 0.18 * bw
    shoulder = y1 + 0.33 * bh
    outline = [(x1, y2), (x1, shoulder + 0.25 * bw), (cx - neck, shoulder - 0.05 * bh), (cx - neck, y1),
               (cx + neck, y1), (cx + neck, shoulder - 0.05 * bh), (x2, shoulder + 0.25 * bw), (x2, y2)]
    cv2.fillPoly(canvas, [np.round(np.array(outline) * s).astype(np.int32)], 255)


def _cylinder(width: int, x1: int, x2: int) -> np.ndarray:
    """1-D float32 brightness across the columns: a cylinder between x1 and x2 lit from the left."""
    u = np.clip((np.arange(width, dtype=np.float32) + 0.5 - x1) / max(1, x2 - x1), 0, 1)
    return 0.72 + 0.33 * np.cos((u - 0.35) * np.pi) ** 2
