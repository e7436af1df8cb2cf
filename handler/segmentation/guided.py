"""He et al.'s guided filter, for moving a mask's outline onto the image's own edges."""
from __future__ import annotations

import cv2
import numpy as np


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """`source` smoothed so that it follows the edges of `guide` (both (H, W) float32): locally
    slope * guide + offset, fitted over (2 radius + 1)^2 windows. eps: how strong an edge
    (variance of the guide) must be to count; lower follows weaker edges."""
    size = (2 * radius + 1,) * 2

    def mean(values: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(values, -1, size, borderType=cv2.BORDER_REFLECT)

    mean_guide, mean_source = mean(guide), mean(source)
    variance = mean(guide * guide) - mean_guide * mean_guide
    covariance = mean(guide * source) - mean_guide * mean_source
    slope = covariance / (variance + eps)
    offset = mean_source - slope * mean_guide
    return mean(slope) * guide + mean(offset)
