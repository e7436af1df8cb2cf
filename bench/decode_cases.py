"""Images of every mode and bit depth an upload may have, at a given pixel count.

Shared by bench/bench_decode.py (peak memory per mode) and the resource-exhaustion tests.
Content is a smooth gradient with a little texture: realistic enough for the decoders, small
on disk, quick to make.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Case:
    name: str
    kind: str                        # "scene" or "product" (modes with alpha go in as products)
    make: Callable[[int, int], bytes]
    share: float = 1.0               # of MAX_PIXELS (large WebPs are refused: see decode.py)


def _size(pixels: int, aspect: float = 1.5) -> tuple[int, int]:
    """(width, height) with about `pixels` pixels, never above it."""
    height = int(math.sqrt(pixels / aspect))
    return int(pixels // height), height


def _gradient(width: int, height: int) -> np.ndarray:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    grey = (x * 0.6 + y * 0.4).astype(np.uint8)
    grey[::7, ::5] ^= 9  # a little texture, so that nothing compresses to nothing
    return grey


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _rgb(width, height) -> np.ndarray:
    grey = _gradient(width, height)
    return np.dstack([grey, grey[::-1], 255 - grey])


def _mode(mode: str, fmt: str, **options) -> Callable[[int, int], bytes]:
    def make(width: int, height: int) -> bytes:
        rgb = Image.fromarray(_rgb(width, height))
        if mode in ("RGBA", "LA"):
            image = rgb.convert("RGBA")
            image.putalpha(Image.fromarray(_gradient(width, height)))
            image = image.convert(mode)
        else:
            image = rgb.convert(mode)
        return _save(image, fmt, **options)
    return make


def _sixteen_bit(channels: int, fmt: str) -> Callable[[int, int], bytes]:
    def make(width: int, height: int) -> bytes:
        grey = _gradient(width, height).astype(np.uint16) * 257
        if channels == 1:
            return _save(Image.fromarray(grey), fmt)
        import cv2

        planes = [grey, grey[::-1], 65535 - grey, grey][:channels]
        ok, data = cv2.imencode(f".{fmt.lower()}", np.dstack(planes[:3][::-1] + planes[3:]))
        assert ok
        return data.tobytes()
    return make


def _int32(width: int, height: int) -> bytes:
    return _save(Image.fromarray(_gradient(width, height).astype(np.int32) * 1000), "TIFF", compression="tiff_deflate")


def _float32(width: int, height: int) -> bytes:
    return _save(Image.fromarray(_gradient(width, height).astype(np.float32)), "TIFF", compression="tiff_deflate")


def _animated_gif(width: int, height: int) -> bytes:
    first = Image.fromarray(_rgb(width, height)).convert("P")
    second = Image.fromarray(_rgb(width, height)[::-1]).convert("P")
    return _save(first, "GIF", save_all=True, append_images=[second])


CASES = [
    Case("1 (bilevel) PNG", "scene", _mode("1", "PNG")),
    Case("L PNG", "scene", _mode("L", "PNG")),
    Case("LA PNG", "product", _mode("LA", "PNG")),
    Case("P PNG", "scene", _mode("P", "PNG")),
    Case("P PNG with transparency", "product", _mode("P", "PNG", transparency=0)),
    Case("I;16 PNG", "scene", _sixteen_bit(1, "PNG")),
    Case("I (32-bit) TIFF", "scene", _int32),
    Case("F (float) TIFF", "scene", _float32),
    Case("RGB PNG", "scene", _mode("RGB", "PNG")),
    Case("RGBA PNG", "product", _mode("RGBA", "PNG")),
    Case("CMYK JPEG", "scene", _mode("CMYK", "JPEG", quality=90)),
    Case("YCbCr JPEG", "scene", _mode("RGB", "JPEG", quality=90)),
    Case("progressive JPEG", "scene", _mode("RGB", "JPEG", quality=95, progressive=True)),
    Case("16-bit RGB PNG", "scene", _sixteen_bit(3, "PNG")),
    Case("16-bit RGBA PNG", "product", _sixteen_bit(4, "PNG")),
    Case("16-bit RGB TIFF", "scene", _sixteen_bit(3, "TIFF")),
    Case("16-bit RGBA TIFF", "product", _sixteen_bit(4, "TIFF")),
    Case("animated GIF", "scene", _animated_gif),
    Case("lossy WebP (24 MP: refused)", "scene", _mode("RGB", "WEBP", quality=80)),
    Case("lossy WebP, 20 MP", "scene", _mode("RGB", "WEBP", quality=80), share=0.85),
    Case("lossy WebP RGBA, 13 MP", "product", _mode("RGBA", "WEBP", quality=80), share=0.55),
    Case("lossless WebP (24 MP: refused)", "scene", _mode("RGB", "WEBP", lossless=True, quality=0)),
    Case("lossless WebP, 15 MP", "scene", _mode("RGB", "WEBP", lossless=True, quality=0), share=0.62),
    Case("lossless WebP RGBA, 15 MP", "product", _mode("RGBA", "WEBP", lossless=True, quality=0), share=0.62),
]

WEBP_MAX_SIDE = 16383


def make_case(case: Case, pixels: int) -> bytes:
    """The case's image file with just under `pixels` pixels."""
    aspect = 1.5
    width, height = _size(int(pixels * case.share), aspect)
    if "WebP" in case.name and width > WEBP_MAX_SIDE:
        width, height = WEBP_MAX_SIDE, pixels // WEBP_MAX_SIDE
    return case.make(width, height)
