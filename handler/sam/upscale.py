"""MobileSAM's mask logits rendered at any image size, over a region only (numpy, no torch).

The predictor upscales the decoder's (256, 256) low-resolution logits with two bilinear resizes
(to the padded 1024 frame, then, after cropping the padding, to the image); this module does the
same math for any target size and evaluates it where it is asked to, a band of rows at a time.
"""
from __future__ import annotations

import numpy as np

# The encoder's square input frame (image_encoder.INPUT_SIZE; not imported: that module needs torch).
INPUT_SIZE = 1024


def upscale_logits_region(low_res: np.ndarray, input_size: tuple[int, int], size: tuple[int, int],
                          region: tuple[int, int, int, int], band_rows: int = 256) -> np.ndarray:
    """Rows y0:y1, columns x0:x1 of upscale_logits(low_res, input_size, size), computed only there.

    low_res: (256, 256) float32 logits. size: (H, W) of the image to render the mask for (the
    encoder's image, or the same photo at any other resolution). region: (x0, y0, x1, y1)
    pixels of that image. Returns (y1 - y0, x1 - x0) float32. The math is the full upscale's
    (bilinear to 1024, crop the padding, bilinear to H x W, half-pixel centres as
    F.interpolate's align_corners=False), the last step evaluated for the region's pixels
    only, a band of rows at a time: a 24 MP mask never exists as floats.
    """
    frame = _bilinear(np.asarray(low_res, np.float32), (INPUT_SIZE, INPUT_SIZE))[:input_size[0], :input_size[1]]
    x0, y0, x1, y1 = region
    columns = _linear_taps(np.arange(x0, x1), input_size[1], size[1])
    out = np.empty((y1 - y0, x1 - x0), np.float32)
    for first in range(y0, y1, band_rows):
        stop = min(y1, first + band_rows)
        top, bottom, weight = _linear_taps(np.arange(first, stop), input_size[0], size[0])
        left, right, column_weight = columns
        # torch blends the columns of both source rows first, then the rows
        upper = frame[top][:, left] * (1 - column_weight) + frame[top][:, right] * column_weight
        lower = frame[bottom][:, left] * (1 - column_weight) + frame[bottom][:, right] * column_weight
        out[first - y0:stop - y0] = upper * (1 - weight)[:, None] + lower * weight[:, None]
    return out


def _bilinear(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w) float32 resized to size (rows, columns) as F.interpolate(mode="bilinear",
    align_corners=False) does it."""
    top, bottom, row_weight = _linear_taps(np.arange(size[0]), values.shape[0], size[0])
    left, right, column_weight = _linear_taps(np.arange(size[1]), values.shape[1], size[1])
    upper = values[top][:, left] * (1 - column_weight) + values[top][:, right] * column_weight
    lower = values[bottom][:, left] * (1 - column_weight) + values[bottom][:, right] * column_weight
    return upper * (1 - row_weight)[:, None] + lower * row_weight[:, None]


def _linear_taps(positions: np.ndarray, source_length: int, target_length: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For target pixels `positions`, the two source indices and the second one's weight of a
    bilinear resize source_length -> target_length with half-pixel centres (torch's rule:
    sources left of the first centre clamp to it)."""
    # float32 throughout, as torch computes it for float32 tensors
    scale = np.float32(source_length / target_length)
    source = np.maximum(scale * (positions.astype(np.float32) + np.float32(0.5)) - np.float32(0.5), np.float32(0))
    first = np.minimum(source.astype(np.int64), source_length - 1)
    second = np.minimum(first + 1, source_length - 1)
    return first, second, source - first.astype(np.float32)
