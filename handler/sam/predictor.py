"""Pre- and post-processing around MobileSam: images in, boolean masks out.

Frames: "original" pixels are those of the caller's image (H, W); the "1024-frame" is the
image resized so its long side is 1024 (newh, neww = input_size), zero-padded at the
right/bottom to 1024 x 1024. Points are (x, y), boxes XYXY, both float pixels of the
original image. Low-res logits are on the padded 1024-frame downscaled by 4 (256 x 256).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .image_encoder import INPUT_SIZE
from .model import MobileSam


@dataclass(frozen=True)
class ImageEmbedding:
    """embedding (1, 256, 64, 64) float32; original_size (H, W); input_size (newh, neww)."""

    embedding: torch.Tensor
    original_size: tuple[int, int]
    input_size: tuple[int, int]


@dataclass(frozen=True)
class MaskPrediction:
    """mask (H, W) bool (logits > 0); score = predicted IoU; low_res_logits (256, 256) float32."""

    mask: np.ndarray
    score: float
    low_res_logits: np.ndarray


def input_size_for(original_size: tuple[int, int]) -> tuple[int, int]:
    """(newh, neww) of the image resized so that its long side is 1024."""
    h, w = original_size
    scale = INPUT_SIZE / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


def resize_longest_side(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (newh, neww, 3) uint8, long side 1024, Pillow bilinear (as the reference).

    Resized one channel at a time as 8-bit ('L') images: Pillow's 8-bit resampling does the
    same integer arithmetic per channel, so the result is identical to resizing the RGB image,
    but Pillow holds 1 byte per pixel instead of 4 (RGB images are stored as RGBX), which
    keeps the peak of this step at ~6 MB instead of ~12 MB for a 1280x960 image.
    """
    newh, neww = input_size_for(image.shape[:2])
    out = np.empty((newh, neww, 3), np.uint8)
    for c in range(3):
        channel = Image.fromarray(np.ascontiguousarray(image[..., c]))
        out[..., c] = np.asarray(channel.resize((neww, newh), Image.BILINEAR))
    return out


def to_input_frame(coords: np.ndarray, original_size: tuple[int, int],
                   input_size: tuple[int, int]) -> torch.Tensor:
    """(..., 2) xy in original pixels -> float32 tensor of xy in the 1024-frame."""
    (h, w), (newh, neww) = original_size, input_size
    scaled = np.array(coords, dtype=np.float64)
    scaled[..., 0] *= neww / w
    scaled[..., 1] *= newh / h
    return torch.from_numpy(scaled.astype(np.float32))


def upscale_logits(low_res: torch.Tensor, input_size: tuple[int, int],
                   original_size: tuple[int, int]) -> torch.Tensor:
    """(1, C, 256, 256) logits -> (1, C, H, W): bilinear to 1024, crop the padding, bilinear to H x W."""
    x = F.interpolate(low_res, (INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    x = x[..., :input_size[0], :input_size[1]]
    return F.interpolate(x, original_size, mode="bilinear", align_corners=False)


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
    frame = F.interpolate(torch.from_numpy(np.ascontiguousarray(low_res, np.float32))[None, None],
                          (INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    frame = frame[0, 0, :input_size[0], :input_size[1]].numpy()
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


class SamPredictor:
    """Stateless (thread-safe) image encoding and prompt decoding with a MobileSam."""

    def __init__(self, model: MobileSam) -> None:
        self.model = model

    def encode(self, image: np.ndarray) -> ImageEmbedding:
        """image: (H, W, 3) uint8 RGB."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError("image must be an (H, W, 3) uint8 RGB array")
        original_size = (int(image.shape[0]), int(image.shape[1]))
        resized = torch.from_numpy(resize_longest_side(image))
        with torch.inference_mode():
            embedding = self.model.image_encoder.encode_image(resized)
        return ImageEmbedding(embedding, original_size, input_size_for(original_size))

    def predict_logits(self, embedding: ImageEmbedding, box: np.ndarray | None = None,
                       points: np.ndarray | None = None, labels: np.ndarray | None = None,
                       multimask: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Low-res logits (C, 256, 256) and IoU predictions (C,), C = 3 if multimask else 1.

        box: XYXY (4,) original pixels; points: (N, 2) xy original pixels; labels: (N,) 1 / 0.
        """
        return self._decode(embedding, box, points, labels, multimask, best_only=False)

    def predict(self, embedding: ImageEmbedding, box: np.ndarray | None = None,
                points: np.ndarray | None = None, labels: np.ndarray | None = None) -> MaskPrediction:
        """Mask of the object prompted by a box (single-mask output, points optional) or by points
        alone (multimask output, the one with the highest predicted IoU)."""
        low_res, iou = self._decode(embedding, box, points, labels, multimask=box is None, best_only=True)
        with torch.inference_mode():
            logits = upscale_logits(low_res[None], embedding.input_size, embedding.original_size)
        return MaskPrediction(mask=(logits[0, 0] > 0).numpy(), score=float(iou[0]),
                              low_res_logits=low_res[0].numpy().copy())

    def _decode(self, embedding: ImageEmbedding, box: np.ndarray | None, points: np.ndarray | None,
                labels: np.ndarray | None, multimask: bool, best_only: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if box is None and points is None:
            raise ValueError("a prompt needs a box or points")
        if points is not None and (labels is None or len(labels) != len(points)):
            raise ValueError("points need one label each")
        frame = (embedding.original_size, embedding.input_size)
        box_t = None if box is None else to_input_frame(np.reshape(box, (2, 2)), *frame).view(1, 4)
        points_t = labels_t = None
        if points is not None:
            points_t = to_input_frame(np.reshape(points, (-1, 2)), *frame).unsqueeze(0)
            labels_t = torch.as_tensor(np.asarray(labels), dtype=torch.int64).view(1, -1)
        with torch.inference_mode():
            low_res, iou = self.model.decode(embedding.embedding, points_t, labels_t, box_t, multimask, best_only)
        return low_res[0], iou[0]
