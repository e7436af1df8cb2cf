"""Uploaded bytes to the working copy: decoded safely, within a memory budget, upright, sRGB.

Arrays are numpy uint8, rows first: a scene is (H, W, 3) RGB in sRGB, a product is
(H, W, 4) RGBA with straight (not premultiplied) alpha.

Memory: an image passing the declared-size check (MAX_PIXELS) is decoded once in its own
mode, then converted to 8-bit RGB(A) and reduced a strip of rows at a time, so no full-size
copy in another mode (float, RGBA, premultiplied) ever exists. JPEGs decode at reduced scale
directly; WebP decodes through libwebp into one 3- or 4-byte buffer. The peak above the idle
process is about one native decode buffer: at most 4 bytes per pixel.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageCms

from ..errors import InvalidImage, PayloadTooLarge

log = logging.getLogger(__name__)

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP")
# Pillow refuses absurd sizes as it opens a file; our MAX_PIXELS check follows, before decoding.
Image.MAX_IMAGE_PIXELS = 200_000_000
STRIP_ROWS = 32          # reduced rows converted at a time
# What one decode may hold: an RGBA buffer of a MAX_PIXELS (24 MP) image, and some room.
DECODE_BUDGET_BYTES = 120 * 2**20
_EXIF_ORIENTATION = 0x0112
# EXIF orientation (EXIF 2.3, tag 0x0112) -> what makes the stored rows upright, applied in this
# order: (swap rows and columns, quarter turns anticlockwise, mirror left-right).
_UPRIGHT = {2: (False, 0, True), 3: (False, 2, False), 4: (False, 2, True), 5: (True, 0, False),
            6: (False, 3, False), 7: (True, 2, False), 8: (False, 1, False)}
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_WHITE = (255, 255, 255)


@dataclass(frozen=True)
class DecodedImage:
    """pixels: (H, W, 3) RGB or (H, W, 4) RGBA uint8 after orientation and downscaling.
    original_size: (width, height) of the upload after EXIF orientation, before downscaling.
    """

    pixels: np.ndarray
    original_size: tuple[int, int]


def decode_upload(data: bytes, *, kind: str, max_side: int, max_pixels: int) -> DecodedImage:
    """Decode an uploaded image for `kind` "scene" (RGB) or "product" (RGBA).

    Refuses non-images and images declaring more than max_pixels before decoding any pixel,
    and truncated or corrupt files. Animated GIF/WebP and multi-page TIFF: the first frame
    (page) is used. Every mode (bilevel, grey, palette, 16- and 32-bit, float, CMYK, with or
    without alpha) becomes 8-bit sRGB; an EXIF orientation is applied.
    """
    if not data:
        raise InvalidImage("the upload is empty: send an image file", code="empty_upload")
    image = _open(data, max_pixels)
    width, height = image.size
    if width * height > max_pixels:
        raise _too_many_pixels(f"the image declares {width}x{height} pixels", max_pixels)
    if width < 1 or height < 1:
        raise InvalidImage("the image has no pixels: send a real picture", code="corrupt_image")
    orientation = _orientation(image)
    original_size = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    with_alpha = kind == "product"
    if image.format == "WEBP" and _webp_decode_bytes(data, width * height) > DECODE_BUDGET_BYTES:
        raise PayloadTooLarge(f"a WebP of {width}x{height} pixels needs more memory to decode than this "
                              "service has: send it as JPEG or PNG, or smaller", code="image_too_large",
                              details={"decode_budget_mb": DECODE_BUDGET_BYTES // 2**20})
    try:
        _check_integrity(image, data)
        if image.format == "WEBP":
            pixels = _decode_webp(data, image, max_side, with_alpha)
        else:
            _decode_at_reduced_scale(image, max_side)
            image.load()
            pixels = _working_copy(image, max_side, with_alpha)
        pixels = upright(pixels, orientation)
    except MemoryError:
        raise _too_many_pixels("the image is too large to decode", max_pixels) from None
    # Decoders meet hostile bytes here; whatever they raise (struct.error, IndexError, ...)
    # means the file cannot be read, never that the server is broken.
    except Exception as error:
        log.info("refused an unreadable image", extra={"fields": {"error": _describe(error)}})
        raise InvalidImage("the image is truncated or corrupt: export it again and retry",
                           code="corrupt_image") from None
    return DecodedImage(pixels=downscale_to_fit(pixels, max_side), original_size=original_size)


def downscale_to_fit(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink so the longer side is at most max_side (INTER_AREA); smaller images pass through.

    RGBA is shrunk premultiplied, so colours of invisible pixels never bleed into the edge.
    """
    height, width = pixels.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return pixels
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        premultiplied = cv2.resize(cv2.cvtColor(pixels, cv2.COLOR_RGBA2mRGBA), size, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(premultiplied, cv2.COLOR_mRGBA2RGBA)
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """The image with only its header read: format, size and mode are known, no pixel is."""
    try:
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError:
        raise _too_many_pixels("the image declares a huge size", max_pixels) from None
    # As in decode_upload: any failure to parse untrusted bytes means "not an image we read".
    except Exception:
        raise InvalidImage("this is not an image Drishya can read: send a JPEG, PNG, WebP, GIF, TIFF "
                           "or BMP file", code="unsupported_image") from None


def _check_integrity(image: Image.Image, data: bytes) -> None:
    """PNG chunks carry checksums that decoding skips: a damaged file would decode to garbage."""
    if image.format == "PNG":
        Image.open(io.BytesIO(data), formats=("PNG",)).verify()


def _decode_at_reduced_scale(image: Image.Image, max_side: int) -> None:
    # JPEG can decode at 1/2, 1/4 or 1/8 scale directly: a 24 MP photo never exists at full size.
    if image.format in ("JPEG", "MPO") and max(image.size) > max_side:
        scale = max_side / max(image.size)
        image.draft(image.mode, (int(image.size[0] * scale) + 1, int(image.size[1] * scale) + 1))


def _working_copy(image: Image.Image, max_side: int, with_alpha: bool) -> np.ndarray:
    """The loaded image as 8-bit sRGB (H, W, 3) RGB ((H, W, 4) RGBA with alpha), box-reduced by
    the largest whole factor that keeps its longer side at least max_side, converted a strip
    at a time straight into the array."""
    factor = max(1, max(image.size) // max_side)
    width, height = image.size
    converter = _Converter(image.info.get("icc_profile"), with_alpha)
    out = np.empty((-(-height // factor), -(-width // factor), 4 if with_alpha else 3), np.uint8)
    rows = STRIP_ROWS * factor
    for top in range(0, height, rows):
        strip = converter.convert(image.crop((0, top, width, min(height, top + rows))))
        strip = strip.reduce(factor) if factor > 1 else strip
        out[top // factor:top // factor + strip.height] = np.asarray(strip)
    return out


class _Converter:
    """Turns strips of any mode into 8-bit sRGB RGB or RGBA (one ICC transform, built once)."""

    def __init__(self, icc_profile: bytes | None, with_alpha: bool):
        self._icc_profile = icc_profile
        self._with_alpha = with_alpha
        self._transforms: dict[str, ImageCms.ImageCmsTransform | None] = {}

    def convert(self, strip: Image.Image) -> Image.Image:
        strip = _colour_mode(_to_8bit(strip))
        transform = self._transform(strip.mode)
        if transform is not None:
            strip = ImageCms.applyTransform(strip, transform)
        if self._with_alpha:
            return strip.convert("RGBA")
        if strip.mode == "RGBA":
            flat = Image.new("RGB", strip.size, _WHITE)
            flat.paste(strip, mask=strip.getchannel("A"))
            return flat
        return strip.convert("RGB")

    def _transform(self, mode: str) -> ImageCms.ImageCmsTransform | None:
        if not self._icc_profile or mode not in ("RGB", "RGBA", "CMYK", "L"):
            return None
        if mode not in self._transforms:
            try:
                source = ImageCms.ImageCmsProfile(io.BytesIO(self._icc_profile))
                self._transforms[mode] = ImageCms.buildTransform(source, _SRGB, mode, "RGBA" if mode == "RGBA" else "RGB")
            except (ImageCms.PyCMSError, OSError, ValueError):
                log.info("ignored an unreadable ICC profile")
                self._transforms[mode] = None
        return self._transforms[mode]


def _to_8bit(image: Image.Image) -> Image.Image:
    """16- and 32-bit grey and float images as 8-bit grey; Pillow's convert() clips them."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        values = np.asarray(image, dtype=np.float32)
        return Image.fromarray(np.clip(values / 257.0 + 0.5, 0, 255).astype(np.uint8))
    if image.mode == "F":
        return Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8))
    return image


def _colour_mode(image: Image.Image) -> Image.Image:
    """Palette, bilevel, grey+alpha and other modes as L, RGB, RGBA or CMYK."""
    if image.mode in ("L", "RGB", "RGBA", "CMYK"):
        return image
    if image.mode == "1":
        return image.convert("L")
    if image.mode in ("LA", "PA", "La", "RGBa") or "transparency" in image.info:
        return image.convert("RGBA")
    return image.convert("RGB")


def _decode_webp(data: bytes, image: Image.Image, max_side: int, with_alpha: bool) -> np.ndarray:
    """libwebp decodes straight into one BGR(A) buffer (Pillow's animation decoder holds two
    RGBA copies), which is then reduced a strip at a time; the first frame of an animation."""
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.ndim != 3:
        raise ValueError("libwebp could not decode the image")
    small = Image.fromarray(_reduced_in_strips(decoded, max(1, max(decoded.shape[:2]) // max_side)))
    del decoded
    small.info["icc_profile"] = image.info.get("icc_profile")
    return _working_copy(small, max_side, with_alpha)


def _webp_decode_bytes(data: bytes, pixels: int) -> int:
    """Bytes decoding this file holds at its peak (measured, bench/RESULTS.md): lossless
    (VP8L) images are decoded into a 4-byte ARGB buffer and copied out; lossy ones hold their
    YUV planes beside the output, and an alpha plane adds its own buffers."""
    chunks = set(_riff_chunks(data))
    if b"VP8L" in chunks:
        return pixels * 8
    return pixels * (9 if b"ALPH" in chunks else 6)


def _riff_chunks(data: bytes, limit: int = 32):
    """The fourcc of each chunk of a RIFF (WebP) file, at most `limit` of them."""
    position = 12
    for _ in range(limit):
        if position + 8 > len(data):
            return
        yield data[position:position + 4]
        size = int.from_bytes(data[position + 4:position + 8], "little")
        position += 8 + size + (size & 1)


def _reduced_in_strips(bgr: np.ndarray, factor: int) -> np.ndarray:
    """(H, W, 3|4) BGR(A) -> RGB(A) box-averaged over factor x factor blocks (alpha
    premultiplied while averaged), a strip of rows at a time."""
    height, width, channels = bgr.shape
    alpha = channels == 4
    out = np.empty((-(-height // factor), -(-width // factor), channels), np.uint8)
    rows = STRIP_ROWS * factor
    for top in range(0, height, rows):
        strip = bgr[top:top + rows]
        strip = cv2.cvtColor(strip, cv2.COLOR_BGRA2RGBA if alpha else cv2.COLOR_BGR2RGB)
        if alpha:
            strip = cv2.cvtColor(strip, cv2.COLOR_RGBA2mRGBA)
        size = (out.shape[1], -(-strip.shape[0] // factor))
        if factor > 1:
            strip = cv2.resize(strip, size, interpolation=cv2.INTER_AREA)
        out[top // factor:top // factor + size[1]] = cv2.cvtColor(strip, cv2.COLOR_mRGBA2RGBA) if alpha else strip
    return out


def _orientation(image: Image.Image) -> int | None:
    try:
        return image.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # a broken EXIF block only loses the orientation
        return None


def upright(pixels: np.ndarray, orientation: int | None) -> np.ndarray:
    """(H, W, C) pixels turned as their EXIF orientation (1-8) says; the same array for 1."""
    steps = _UPRIGHT.get(orientation)
    if steps is None:
        return pixels
    transpose, rotate, flip = steps
    if transpose:
        pixels = pixels.transpose(1, 0, 2)
    if rotate:
        pixels = np.rot90(pixels, rotate)
    if flip:
        pixels = pixels[:, ::-1]
    return np.ascontiguousarray(pixels)


def _describe(error: Exception) -> str:
    """One short line for the log: the decoder's complaint, not its traceback."""
    return f"{type(error).__name__}: {str(error)[:200]}"


def _too_many_pixels(what: str, max_pixels: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"{what}, more than the {max_pixels / 1e6:g} megapixels this service accepts: "
                           "send a smaller image", code="image_too_large", details={"max_pixels": max_pixels})
