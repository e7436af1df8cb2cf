"""What every segmenter takes and returns.

Coordinates are in the pixels of the image handed to the segmenter (the stored scene),
x to the right, y down; boxes are XYXY.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Prompt:
    """Where the product is.

    box: (x0, y0, x1, y1) floats, x0 < x1 and y0 < y1, or None.
    points: (N, 2) float32 array of (x, y), or None.
    labels: (N,) int array, 1 = product, 0 = not product; present exactly when points are.
    """

    box: tuple[float, float, float, float] | None = None
    points: np.ndarray | None = None
    labels: np.ndarray | None = None


@dataclass(frozen=True)
class Segmentation:
    """A segmenter's answer.

    mask: (H, W) bool, True on the product.
    score: confidence in 0..1 (the model's predicted IoU, or the fallback's own estimate).
    segmenter: name of the segmenter that produced it ("mobilesam", "grabcut").
    cache_hit: whether an image embedding was reused instead of computed.
    timings_ms: stage name -> milliseconds ("encode", "segment").
    logits: the model's mask logits, when it has them, to render the mask at another
        resolution (see fullres.py); None for segmenters without (GrabCut).
    """

    mask: np.ndarray
    score: float
    segmenter: str
    cache_hit: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)
    logits: "MaskLogits | None" = None


@dataclass(frozen=True)
class MaskLogits:
    """MobileSAM's low-resolution answer: (256, 256) float32 logits over its 1024-pixel frame,
    of which the image filled input_size (rows, columns)."""

    low_res: np.ndarray
    input_size: tuple[int, int]


class Segmenter(Protocol):
    name: str

    def segment(self, image: np.ndarray, prompt: Prompt, image_key: str | None = None) -> Segmentation:
        """Segment the product in `image` ((H, W, 3) uint8 RGB).

        image_key identifies the stored image, so that a segmenter may cache per-image work;
        None means the image is not stored (inline upload) and nothing is cached.
        """
        ...
