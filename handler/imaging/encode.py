"""Pixels to bytes: results for the client, and lossless copies for the store.

Arrays are numpy uint8, rows first: (H, W) grey, (H, W, 3) RGB, (H, W, 4) RGBA.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..errors import InvalidField, Unprocessable

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
