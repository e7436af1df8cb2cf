"""Pixels to bytes: results for the client, and lossless copies for the store.

Arrays are numpy uint8, rows first: (H, W) grey, (H, W, 3) RGB, (H, W, 4) RGBA.
"""
from __future__ import annotations

import zlib

import cv2
import numpy as np
import simplejpeg

from ..errors import InvalidField, Unprocessable

OUTPUT_FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
WEBP_MAX_SIDE = 16383
PNG_LEVEL = 1
_BAND_ROWS = 256
_SEGMENT_MAX = 65535                 # a JPEG segment's length field counts itself: 65533 bytes of payload
_ICC_CHUNK = _SEGMENT_MAX - 2 - 14   # minus the length field, "ICC_PROFILE\0" and its two counters


def encode_image(pixels: np.ndarray, fmt: str, quality: int = 90) -> bytes:
    """Encode (H, W), (H, W, 3) RGB or (H, W, 4) RGBA uint8 pixels as png, jpeg or webp."""
    if pixels.ndim == 3:
        conversion = cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR
        pixels = cv2.cvtColor(pixels, conversion)
    parameters = {
        "png": [cv2.IMWRITE_PNG_COMPRESSION, 3],
        "jpeg": [cv2.IMWRITE_JPEG_QUALITY, quality],
        "webp": [cv2.IMWRITE_WEBP_QUALITY, quality],
    }[fmt]
    ok, encoded = cv2.imencode(f".{fmt}", pixels, parameters)
    if not ok:
        raise InvalidField(f"the result could not be encoded as {fmt}")
    return encoded.tobytes()


def encode_photo(pixels: np.ndarray, fmt: str, quality: int, *, icc_profile: bytes | None = None,
                 exif: bytes | None = None) -> bytes:
    """A result photo as png, jpeg or webp, with its colour profile and EXIF.

    pixels: (H, W, 3) RGB uint8. JPEG (libjpeg-turbo through simplejpeg, from RGB rows as they
    are): `quality`, 4:4:4 chroma from quality 90 (no colour bleeding at edges), ICC profile and
    EXIF in APP2/APP1 segments. PNG: zlib level PNG_LEVEL (fast; files ~10 % larger than level
    6), ICC profile in iCCP, EXIF in eXIf; the pixels are turned to BGR in place for OpenCV's
    encoder, so the caller gives the array up. WebP (whose format stops at 16383 px) keeps
    neither. A 24 MP result is never copied.
    """
    height, width = pixels.shape[:2]
    if fmt == "webp" and max(height, width) > WEBP_MAX_SIDE:
        raise Unprocessable(f"WebP images can be at most {WEBP_MAX_SIDE} px wide or high and this result is "
                            f"{width}x{height}: choose JPEG or PNG", code="too_large_for_webp")
    if fmt == "jpeg":
        jpeg = simplejpeg.encode_jpeg(np.ascontiguousarray(pixels), quality=quality, colorspace="RGB",
                                      colorsubsampling="444" if quality >= 90 else "420")
        return _with_jpeg_metadata(jpeg, icc_profile, exif)
    bgr = _to_bgr_in_place(pixels)
    if fmt == "png":
        return _with_png_metadata(_encoded(bgr, ".png", [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL]), icc_profile, exif)
    return _encoded(bgr, ".webp", [cv2.IMWRITE_WEBP_QUALITY, quality])


def _to_bgr_in_place(pixels: np.ndarray) -> np.ndarray:
    """RGB to BGR in place, a band of rows at a time (OpenCV's in-place conversion of a whole
    image allocates a second one)."""
    for first in range(0, pixels.shape[0], _BAND_ROWS):
        band = pixels[first:first + _BAND_ROWS]
        cv2.cvtColor(band, cv2.COLOR_RGB2BGR, dst=band)
    return pixels


def _encoded(pixels: np.ndarray, extension: str, parameters: list[int]) -> bytes:
    ok, encoded = cv2.imencode(extension, pixels, parameters)
    if not ok:
        raise InvalidField(f"the result could not be encoded as {extension[1:]}")
    return encoded.tobytes()


def _with_jpeg_metadata(jpeg: bytes, icc_profile: bytes | None, exif: bytes | None) -> bytes:
    """The JPEG with APP1 (EXIF) and APP2 (ICC, split into numbered chunks) after its JFIF APP0."""
    segments = []
    if exif and len(exif) + 8 <= _SEGMENT_MAX:
        segments.append(_segment(0xE1, b"Exif\x00\x00" + exif))
    if icc_profile:
        chunks = [icc_profile[i:i + _ICC_CHUNK] for i in range(0, len(icc_profile), _ICC_CHUNK)]
        if len(chunks) < 256:
            segments += [_segment(0xE2, b"ICC_PROFILE\x00" + bytes([number, len(chunks)]) + chunk)
                         for number, chunk in enumerate(chunks, 1)]
    if not segments:
        return jpeg
    position = 2
    if jpeg[2:4] == b"\xff\xe0":  # keep JFIF's APP0 first, as its specification asks
        position = 4 + int.from_bytes(jpeg[4:6], "big")
    return b"".join([jpeg[:position], *segments, jpeg[position:]])


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def _with_png_metadata(png: bytes, icc_profile: bytes | None, exif: bytes | None) -> bytes:
    """The PNG with iCCP and eXIf chunks right after IHDR (both must precede the image data)."""
    chunks = []
    if icc_profile:
        chunks.append(_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc_profile)))
    if exif:
        chunks.append(_chunk(b"eXIf", exif))
    if not chunks:
        return png
    header_end = 8 + 8 + int.from_bytes(png[8:12], "big") + 4  # signature, then IHDR
    return b"".join([png[:header_end], *chunks, png[header_end:]])


def _chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def encode_lossless(pixels: np.ndarray) -> bytes:
    """(H, W, 3) RGB or (H, W, 4) RGBA uint8 as a quickly made PNG (for storage, not display)."""
    conversion = cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(pixels, conversion), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("pixels could not be encoded")
    return encoded.tobytes()


def decode_lossless(data: bytes) -> np.ndarray | None:
    """The pixels encode_lossless stored, or None when the bytes are not a readable PNG."""
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.ndim != 3:
        return None
    conversion = cv2.COLOR_BGRA2RGBA if decoded.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(decoded, conversion)


def encode_mask_png(mask: np.ndarray) -> bytes:
    """A bool (H, W) mask as a grayscale PNG with 0 and 255."""
    return encode_image(mask.astype(np.uint8) * 255, "png")


def decode_mask_png(data: bytes, size: tuple[int, int]) -> np.ndarray:
    """A mask sent back by a client: a PNG of size (height, width), every pixel 0 or 255 (or 0
    or 1), some of them set; as (H, W) bool. InvalidField / Unprocessable say what is wrong."""
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise InvalidField("mask_png_base64 is not a PNG image", code="invalid_mask")
    if decoded.ndim == 3:
        if decoded.shape[2] == 4:  # a canvas export: the mask is in the alpha channel
            decoded = decoded[..., 3]
        elif (decoded == decoded[..., :1]).all():
            decoded = decoded[..., 0]
        else:
            raise InvalidField("the mask must be black and white (one channel)", code="invalid_mask")
    if decoded.shape != tuple(size):
        raise InvalidField(f"the mask is {decoded.shape[1]}x{decoded.shape[0]} but the scene is "
                           f"{size[1]}x{size[0]}: send a mask of the scene's size", code="invalid_mask")
    values = np.unique(decoded)
    if not (set(values.tolist()) <= {0, 255} or set(values.tolist()) <= {0, 1}):
        raise InvalidField("the mask must be binary: only 0 (not product) and 255 (product)", code="invalid_mask")
    mask = decoded > 0
    if not mask.any():
        raise Unprocessable("the mask is empty: paint the product before sending it", code="empty_mask")
    return mask
