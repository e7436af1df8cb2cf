"""SAM mask decoder: image embedding + prompt tokens -> 4 low-res mask logits + 4 predicted IoUs.

Masks are (B, 4, 256, 256) logits on the 1024-frame downscaled by 4; index 0 is the
single-mask output, 1..3 the multimask outputs.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .common import LayerNorm2d, token_table
from .transformer import DIM, TwoWayTransformer

NUM_MASK_TOKENS = 4
IOU_HEAD_HIDDEN = 256


class MLP(nn.Module):
    """Linear layers `layers.i` with ReLU between them."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


class MaskDecoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.transformer = TwoWayTransformer()
        self.iou_token = token_table(1, DIM)
        self.mask_tokens = token_table(NUM_MASK_TOKENS, DIM)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(DIM, DIM // 4, 2, 2),
            LayerNorm2d(DIM // 4),
            nn.GELU(),
            nn.ConvTranspose2d(DIM // 4, DIM // 8, 2, 2),
            nn.GELU(),
        )
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP([DIM, DIM, DIM, DIM // 8]) for _ in range(NUM_MASK_TOKENS))
        self.iou_prediction_head = MLP([DIM, IOU_HEAD_HIDDEN, IOU_HEAD_HIDDEN, NUM_MASK_TOKENS])

    def forward(self, image_embedding: torch.Tensor, image_pe: torch.Tensor, sparse: torch.Tensor,
                dense: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """image_embedding, image_pe, dense (1, 256, 64, 64); sparse (1, T, 256).

        Returns all mask logits (1, 4, 256, 256) and IoU predictions (1, 4).
        """
        output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        tokens = torch.cat([output_tokens.unsqueeze(0).expand(sparse.shape[0], -1, -1), sparse], dim=1)
        src = image_embedding + dense
        tokens_out, image_out = self.transformer(src, image_pe, tokens)

        b, c, h, w = src.shape
        upscaled = self.output_upscaling(image_out.transpose(1, 2).reshape(b, c, h, w))
        hyper = torch.stack(
            [mlp(tokens_out[:, 1 + m]) for m, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1)
        b, c, h, w = upscaled.shape
        masks = (hyper @ upscaled.view(b, c, h * w)).view(b, -1, h, w)
        iou = self.iou_prediction_head(tokens_out[:, 0])
        return masks, iou

    def predict(self, image_embedding: torch.Tensor, image_pe: torch.Tensor, sparse: torch.Tensor,
                dense: torch.Tensor, choose: Callable[[torch.Tensor], list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """The masks (B, C, 256, 256) and IoUs (B, C) at the indices `choose` picks from all 4 IoUs (B, 4)."""
        masks, iou = self(image_embedding, image_pe, sparse, dense)
        chosen = choose(iou)
        return masks[:, chosen], iou[:, chosen]
