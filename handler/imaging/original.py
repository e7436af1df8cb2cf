"""The uploaded photo at its own resolution, for rendering full-size results.

The original is decoded once, straight into the (H, W, 3) RGB array the result is composited
into (a 24 MP photo is 72 MB): JPEGs by libjpeg-turbo through simplejpeg, which writes RGB rows
into the array itself (OpenCV's decoder holds a second full-size buffer, Pillow a 4-byte copy
before numpy's); other formats by OpenCV. Its colour space is kept (the result
carries the same ICC profile), and so is its EXIF, but for the orientation: the pixels are
turned upright, so the result says orientation 1.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import cv2
import numpy as np
import simplejpeg
from PIL import Image, ImageCms

from ..errors import InvalidImage
from .decode import ACCEPTED_FORMATS, STRIP_ROWS, upright

log = logging.getLogger(__name__)

_EXIF_ORIENTATION = 0x0112
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_WHITE = 255


@dataclass(frozen=True)
class Original:
    """pixels: (H, W, 3) uint8 RGB, upright, in the photo's own colour space.
    icc_profile: that colour space (None: sRGB). exif: EXIF to write into results (TIFF
    bytes after the "Exif\\0\\0" header, orientation 1), or None."""

    pixels: np.ndarray
    icc_profile: bytes | None
    exif: bytes | None


def decode_original(data: bytes) -> Original:
    """The photo `data` holds, as uploaded (its size was checked when it was uploaded)."""
    try:
        header = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        orientation, exif = _exif(header)
        has_alpha = header.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in header.info
        pixels = _decode_rgb(data, has_alpha)
        return Original(upright(pixels, orientation), header.info.get("icc_profile"), exif)
    except MemoryError:
        raise
    except Exception as error:  # it decoded at upload time: the stored bytes are damaged
        log.error("the stored original cannot be decoded", extra={"fields": {"error": type(error).__name__}})
        raise InvalidImage("the uploaded photo cannot be read at its full size: upload it again",
                           code="corrupt_image") from None


def _decode_rgb(data: bytes, has_alpha: bool) -> np.ndarray:
    if data[:3] == b"\xff\xd8\xff":
        try:
            return simplejpeg.decode_jpeg(data, colorspace="RGB")
        except ValueError:  # CMYK and other JPEGs libjpeg-turbo cannot turn into RGB itself
            pass
    buffer = np.frombuffer(data, np.uint8)
    flags = cv2.IMREAD_UNCHANGED if has_alpha else cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    decoded = cv2.imdecode(buffer, flags)
    if decoded is None:
        raise ValueError("OpenCV cannot decode the photo")
    if decoded.ndim == 2:
        return cv2.cvtColor(decoded, cv2.COLOR_GRAY2RGB)
    if decoded.dtype != np.uint8:  # 16-bit, read unchanged because of its alpha
        decoded = (decoded >> 8).astype(np.uint8)
    if decoded.shape[2] == 4:
        return _flattened_on_white(decoded)
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB, dst=decoded)


def _flattened_on_white(bgra: np.ndarray) -> np.ndarray:
    """A transparent photo on white (as the working copy), a strip of rows at a time."""
    height, width = bgra.shape[:2]
    out = np.empty((height, width, 3), np.uint8)
    for top in range(0, height, STRIP_ROWS):
        strip = bgra[top:top + STRIP_ROWS].astype(np.float32)
        alpha = strip[..., 3:] / 255.0
        rgb = strip[..., 2::-1] * alpha + _WHITE * (1.0 - alpha)
        out[top:top + STRIP_ROWS] = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    return out


def _exif(header: Image.Image) -> tuple[int | None, bytes | None]:
    """(orientation, the EXIF to keep with orientation 1) of a photo; (None, None) without."""
    try:
        exif = header.getexif()
    except Exception:  # a broken EXIF block only loses the EXIF
        return None, None
    if not exif:
        return None, None
    orientation = exif.get(_EXIF_ORIENTATION)
    if orientation is not None:
        exif[_EXIF_ORIENTATION] = 1
    try:
        return orientation, exif.tobytes()[len(b"Exif\x00\x00"):]
    except Exception:
        return orientation, None


def in_photo_space(rgba: np.ndarray, icc_profile: bytes | None) -> np.ndarray:
    """A product (sRGB, (h, w, 4) uint8) in the colour space of a photo with this ICC profile,
    so its colours stay true in a result that carries the photo's profile. The same array
    when the photo is sRGB (or its profile unreadable)."""
    if not icc_profile:
        return rgba
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if "srgb" in ImageCms.getProfileDescription(profile).lower():
            return rgba
        transform = ImageCms.buildTransform(_SRGB, profile, "RGBA", "RGBA")
        return np.asarray(ImageCms.applyTransform(Image.fromarray(rgba), transform))
    except (ImageCms.PyCMSError, OSError, ValueError):
        log.info("ignored an unreadable ICC profile")
        return rgba
