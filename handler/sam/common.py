"""Small building blocks shared by the encoder and the decoders."""
from __future__ import annotations

import torch
from torch import nn


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel dim of an NCHW tensor (eps 1e-6), per-channel affine."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


def token_table(count: int, dim: int) -> nn.Embedding:
    """An uninitialised (count, dim) learned-token table stored as `weight` (filled by the checkpoint).

    Skipping the random init matters: on the meta device, normal_() pulls in sympy (~1 s, ~80 MB).
    """
    return nn.Embedding(count, dim, _weight=torch.empty(count, dim))
