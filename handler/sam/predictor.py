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
