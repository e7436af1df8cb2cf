"""Two-way transformer of the SAM mask decoder.

Queries are the prompt/output tokens (B, T, 256); keys are the image tokens (B, 4096, 256)
of the 64x64 embedding grid, row-major.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DIM = 256
HEADS = 8
MLP_DIM = 2048
DEPTH = 2
DOWNSAMPLE = 2


class Attention(nn.Module):
    """Multi-head attention with projections DIM -> internal_dim (split into HEADS heads) -> DIM."""

    def __init__(self, dim: int, heads: int, internal_dim: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, internal_dim)
        self.k_proj = nn.Linear(dim, internal_dim)
        self.v_proj = nn.Linear(dim, internal_dim)
        self.out_proj = nn.Linear(internal_dim, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.view(b, n, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """q (B, Nq, DIM), k and v (B, Nk, DIM) -> (B, Nq, DIM)."""
        q = self._split(self.q_proj(q))
        k = self._split(self.k_proj(k))
        v = self._split(self.v_proj(v))
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(head dim)) v
        b, h, n, d = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, h * d))


class MLPBlock(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(torch.relu(self.lin1(x)))


class TwoWayAttentionBlock(nn.Module):
    """Token self-attention, token->image cross-attention, token MLP, image->token cross-attention."""

    def __init__(self, skip_first_layer_pe: bool) -> None:
        super().__init__()
        self.skip_first_layer_pe = skip_first_layer_pe
        self.self_attn = Attention(DIM, HEADS, DIM)
        self.norm1 = nn.LayerNorm(DIM)
        self.cross_attn_token_to_image = Attention(DIM, HEADS, DIM // DOWNSAMPLE)
        self.norm2 = nn.LayerNorm(DIM)
        self.mlp = MLPBlock(DIM, MLP_DIM)
        self.norm3 = nn.LayerNorm(DIM)
        self.norm4 = nn.LayerNorm(DIM)
        self.cross_attn_image_to_token = Attention(DIM, HEADS, DIM // DOWNSAMPLE)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, query_pe: torch.Tensor,
                key_pe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.skip_first_layer_pe:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)

        keys_with_pe = keys + key_pe
        queries = self.norm2(queries + self.cross_attn_token_to_image(queries + query_pe, keys_with_pe, keys))
        queries = self.norm3(queries + self.mlp(queries))
        keys = self.norm4(keys + self.cross_attn_image_to_token(keys_with_pe, queries + query_pe, queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(TwoWayAttentionBlock(skip_first_layer_pe=i == 0) for i in range(DEPTH))
        self.final_attn_token_to_image = Attention(DIM, HEADS, DIM // DOWNSAMPLE)
        self.norm_final_attn = nn.LayerNorm(DIM)

    def forward(self, image: torch.Tensor, image_pe: torch.Tensor,
                tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """image, image_pe (B, 256, 64, 64); tokens (B, T, 256) -> (tokens (B, T, 256), image (B, 4096, 256))."""
        keys = image.flatten(2).transpose(1, 2)
        key_pe = image_pe.flatten(2).transpose(1, 2)
        queries = tokens
        for layer in self.layers:
            queries, keys = layer(queries, keys, tokens, key_pe)
        attended = self.final_attn_token_to_image(queries + tokens, keys + key_pe, keys)
        return self.norm_final_attn(queries + attended), keys
