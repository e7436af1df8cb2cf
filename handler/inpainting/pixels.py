"""Conversions between 8-bit images and the MI-GAN generator's input and output tensors."""
from __future__ import annotations

import numpy as np
import torch


def to_model_input(image: np.ndarray | torch.Tensor, known: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(H, W, 3) uint8 RGB and (H, W) bool known mask -> (1, 4, H, W) float32 generator input.

    Channel 0 is `known - 0.5` (+0.5 keep, -0.5 hole); channels 1-3 are RGB scaled to [-1, 1]
    (`v * 2 / 255 - 1`) times `known`, so hole pixels are 0. The generator needs H = W = 512.
    """
    image, known = _tensor(image), _tensor(known)
    if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) uint8, got {tuple(image.shape)} {image.dtype}")
    if known.dtype != torch.bool or tuple(known.shape) != tuple(image.shape[:2]):
        raise ValueError(f"known must be (H, W) bool matching the image, got {tuple(known.shape)} {known.dtype}")
    keep = known.to(torch.float32)
    out = torch.empty(1, 4, *known.shape)
    torch.sub(keep, 0.5, out=out[0, 0])
    rgb = out[0, 1:]
    rgb.copy_(image.permute(2, 0, 1))
    rgb.mul_(2).div_(255).sub_(1).mul_(keep)
    return out


def to_pixels(output: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float32 generator output, RGB nominally in [-1, 1] -> (H, W, 3) uint8 RGB.

    `clamp((y * 0.5 + 0.5) * 255, 0, 255)`, rounded to the nearest level.
    """
    if output.ndim != 4 or output.shape[:2] != (1, 3):
        raise ValueError(f"output must be (1, 3, H, W), got {tuple(output.shape)}")
    pixels = (output[0].permute(1, 2, 0) * 0.5 + 0.5).mul_(255).clamp_(0, 255).round_()
    return pixels.to(torch.uint8).numpy()


def _tensor(array: np.ndarray | torch.Tensor) -> torch.Tensor:
    # A copy of numpy input: arrays from Pillow are read-only, which torch.from_numpy warns about.
    return array if isinstance(array, torch.Tensor) else torch.tensor(np.asarray(array))
