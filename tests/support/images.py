"""Test images: synthetic scenes and products with known geometry, and their encodings."""
from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

# The red product in synthetic_scene(), XYXY with some margin.
PRODUCT_BOX = [250, 140, 390, 390]


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes(pixels: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=92, **options)
    return buffer.getvalue()


def synthetic_scene() -> np.ndarray:
    """A 640x480 scene: a textured wall, a table, and a red box-shaped product inside PRODUCT_BOX."""
    rng = np.random.default_rng(7)
    rows = np.linspace(170, 215, 480, dtype=np.float32)[:, None, None]
    scene = np.repeat(np.repeat(rows, 640, axis=1), 3, axis=2) * np.array([1.0, 0.97, 0.9], np.float32)
    scene[360:] *= 0.6
    scene += rng.normal(0, 4, scene.shape)
    cv2.rectangle(scene, (260, 150), (379, 379), (200, 40, 35), -1)
    cv2.rectangle(scene, (260, 230), (379, 260), (240, 230, 220), -1)
    return np.clip(scene, 0, 255).astype(np.uint8)


def synthetic_product() -> np.ndarray:
    """A 200x300 RGBA product: a green shaded disc on a transparent background."""
    product = np.zeros((300, 200, 4), np.uint8)
    cv2.ellipse(product, (100, 150), (80, 140), 0, 0, 360, (30, 170, 60, 255), -1)
    cv2.ellipse(product, (80, 110), (25, 50), 0, 0, 360, (120, 230, 140, 255), -1)
    return product
