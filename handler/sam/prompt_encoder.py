"""SAM prompt encoder: points and boxes -> sparse tokens; (no mask) -> dense embedding.

Coordinates handed in are (x, y) pixels of the resized 1024-frame (see predictor.py), not
of the original image. Embedding grid 64 x 64, embed dim 256.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .common import LayerNorm2d, token_table

EMBED_DIM = 256
GRID = 64
INPUT_SIZE = 1024


class RandomFourierEncoding(nn.Module):
    """Positional encoding of normalised (x, y) in [0, 1]^2 -> 256 features [sin | cos]."""

    def __init__(self, num_feats: int) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.empty(2, num_feats))

    def encode(self, coords: torch.Tensor) -> torch.Tensor:
        """coords (..., 2) normalised xy -> (..., 2 * num_feats)."""
        coords = (2 * coords - 1) @ self.positional_encoding_gaussian_matrix
        coords = 2 * math.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def dense(self, side: int) -> torch.Tensor:
        """(1, 2 * num_feats, side, side): encoding of every grid-cell centre, (i, j) = (row, col)."""
        centres = (torch.arange(side, dtype=torch.float32) + 0.5) / side
        ys, xs = torch.meshgrid(centres, centres, indexing="ij")
        return self.encode(torch.stack([xs, ys], dim=-1)).permute(2, 0, 1).unsqueeze(0)


class PromptEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pe_layer = RandomFourierEncoding(EMBED_DIM // 2)
        # 0: background point, 1: foreground point, 2: box top-left, 3: box bottom-right.
        self.point_embeddings = nn.ModuleList(token_table(1, EMBED_DIM) for _ in range(4))
        self.not_a_point_embed = token_table(1, EMBED_DIM)
        # Only used when a previous mask is fed back in, which this app never does.
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, 4, 2, 2), LayerNorm2d(4), nn.GELU(),
            nn.Conv2d(4, 16, 2, 2), LayerNorm2d(16), nn.GELU(),
            nn.Conv2d(16, EMBED_DIM, 1),
        )
        self.no_mask_embed = token_table(1, EMBED_DIM)

    def dense_pe(self) -> torch.Tensor:
        """(1, 256, 64, 64) positional encoding of the image-embedding grid."""
        return self.pe_layer.dense(GRID)

    def dense_embedding(self) -> torch.Tensor:
        """(1, 256, 64, 64): the 'no mask' embedding broadcast over the grid (a view)."""
        return self.no_mask_embed.weight.view(1, EMBED_DIM, 1, 1).expand(1, EMBED_DIM, GRID, GRID)

    def sparse_embedding(self, points: torch.Tensor | None, labels: torch.Tensor | None,
                         box: torch.Tensor | None) -> torch.Tensor:
        """(1, T, 256) tokens: points first (plus a padding point when there is no box), then box corners.

        points: (1, N, 2) float xy in the 1024-frame; labels: (1, N) 1 = foreground, 0 = background;
        box: (1, 4) XYXY in the 1024-frame.
        """
        tokens = []
        if points is not None:
            tokens.append(self._embed_points(points, labels, pad=box is None))
        if box is not None:
            tokens.append(self._embed_box(box))
        return torch.cat(tokens, dim=1)

    def _embed_points(self, points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        points = points + 0.5
        if pad:
            points = torch.cat([points, torch.zeros_like(points[:, :1])], dim=1)
            labels = torch.cat([labels, -torch.ones_like(labels[:, :1])], dim=1)
        emb = self.pe_layer.encode(points / INPUT_SIZE)
        labels = labels.unsqueeze(-1)
        emb = torch.where(labels == -1, self.not_a_point_embed.weight, emb)
        emb = emb + torch.where(labels == 0, self.point_embeddings[0].weight, 0.0)
        return emb + torch.where(labels == 1, self.point_embeddings[1].weight, 0.0)

    def _embed_box(self, box: torch.Tensor) -> torch.Tensor:
        corners = (box + 0.5).view(-1, 2, 2)
        emb = self.pe_layer.encode(corners / INPUT_SIZE)
        corner_weights = torch.cat([self.point_embeddings[2].weight, self.point_embeddings[3].weight])
        return emb + corner_weights
