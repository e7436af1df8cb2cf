"""Pixels to bytes: results for the client, and lossless copies for the store.

Arrays are numpy uint8, rows first: (H, W) grey, (H, W, 3) RGB, (H, W, 4) RGBA.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..errors import InvalidField

OUTPUT_FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


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
