"""MobileSam: TinyViT image encoder + SAM prompt encoder + SAM mask decoder."""
from __future__ import annotations

import torch
from torch import nn

from .image_encoder import TinyViT
from .mask_decoder import MaskDecoder
from .prompt_encoder import PromptEncoder


class MobileSam(nn.Module):
    """Holds the three networks. Call `prepare()` once after the weights are in place."""

    def __init__(self) -> None:
        super().__init__()
        self.image_encoder: nn.Module = TinyViT()
        self.prompt_encoder = PromptEncoder()
        self.mask_decoder = MaskDecoder()
        self.image_pe: torch.Tensor | None = None

    def prepare(self) -> MobileSam:
        """Freeze for inference and cache the (1, 256, 64, 64) positional encoding of the grid."""
        self.eval()
        self.requires_grad_(False)
        with torch.inference_mode():
            self.image_pe = self.prompt_encoder.dense_pe()
        return self

    def decode(self, embedding: torch.Tensor, points: torch.Tensor | None, labels: torch.Tensor | None,
               box: torch.Tensor | None, multimask: bool, best_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask logits for one prompt on one image embedding (1, 256, 64, 64).

        points (1, N, 2) xy and box (1, 4) XYXY are in the 1024-frame; labels (1, N) 1/0.
        Returns low-res logits (1, C, 256, 256) and IoU predictions (1, C): C = 1 (mask 0)
        or, when multimask, C = 3 (masks 1..3); with best_only, C = 1: the one of those
        with the highest predicted IoU (the first on ties).
        """
        def choose(iou: torch.Tensor) -> list[int]:
            candidates = [1, 2, 3] if multimask else [0]
            if best_only and len(candidates) > 1:
                return [candidates[int(torch.argmax(iou[0, candidates]))]]
            return candidates

        sparse = self.prompt_encoder.sparse_embedding(points, labels, box)
        return self.mask_decoder.predict(embedding, self.image_pe, sparse, self.prompt_encoder.dense_embedding(),
                                         choose)
