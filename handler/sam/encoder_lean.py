"""Lean execution of the TinyViT image encoder: same weights, same math, less time and memory.

What differs from image_encoder.TinyViT (all numerically equivalent within float32 rounding):
- BatchNorm is folded into the preceding convolutions; conv weights are channels-last.
- The input is normalised and padded strip by strip from the resized uint8 image, so the
  (1, 3, 1024, 1024) float input never exists either.
- The 256x256 stage (patch_embed, layers.0 MBConv blocks and its PatchMerging) runs in
  horizontal strips of output rows, each computed from the input rows it needs (a one-row
  halo per 3x3 conv), so no 256x256x256 (or 512x512x32) tensor ever exists.
- Token stages keep tokens as an NHWC map (1, H, W, C), which is the row-major (1, L, C)
  token layout; windowed attention runs one band of window rows at a time through
  F.scaled_dot_product_attention with a precomputed (heads, N, N) bias table as attn_mask,
  and MLPs run over chunks of tokens, updating the residual in place.
GELU is the exact (erf) GELU throughout, applied in place where the input is a temporary.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .image_encoder import INPUT_SIZE, ConvBN, TinyViT, _record, normalise_rows

CHANNELS_LAST = torch.channels_last
# Output rows per strip in the 256x256 stage and tokens per MLP chunk: small enough to keep
# temporaries to a few MB (cache-friendly), large enough to amortise per-call overhead.
STRIP_ROWS = 16
MLP_CHUNK_BYTES = 4 << 20
ATTENTION_CHUNK_TOKENS = 1024


def _gelu_(x: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten.gelu_(x)


def _input_rows(stride: int, o0: int, o1: int, in_rows: int) -> tuple[int, int, int]:
    """Input rows [lo, hi) that a 3x3, padding-1 conv needs for output rows [o0, o1).

    lo is a multiple of the stride so that, with the conv's own padding, output `skip` of the
    slice is output row o0 of the whole map; rows computed from the slice edges are dropped.
    """
    lo = stride * (o0 - 1) if o0 > 0 else 0
    hi = min(stride * (o1 - 1) + 2, in_rows)
    return lo, hi, 1 if o0 > 0 else 0


def _fold_batchnorms(module: nn.Module) -> None:
    """Replace every ConvBN below `module` by its folded Conv2d (channels-last weights)."""
    for name, child in module.named_children():
        if isinstance(child, ConvBN):
            conv = child.folded()
            conv.weight = nn.Parameter(conv.weight.contiguous(memory_format=CHANNELS_LAST), requires_grad=False)
            setattr(module, name, conv)
        else:
            _fold_batchnorms(child)


class LeanImageEncoder(nn.Module):
    """Drop-in for TinyViT: `encode_image(resized)` or `forward(x)` -> (1, 256, 64, 64), optional stage record."""

    def __init__(self, encoder: TinyViT) -> None:
        super().__init__()
        _fold_batchnorms(encoder)
        self.patch_embed = encoder.patch_embed
        self.layers = encoder.layers
        self.neck = encoder.neck
        for conv in (self.neck[0], self.neck[2]):
            conv.weight = nn.Parameter(conv.weight.contiguous(memory_format=CHANNELS_LAST), requires_grad=False)
        # (1, heads, N, N) bias per attention, gathered once instead of on every call. Being 4-D
        # lets scaled_dot_product_attention take its fused kernel (a 3-D mask falls back to the
        # unfused path: 3x slower and it materialises the scores).
        self.bias_tables = [[block.attn.bias().unsqueeze(0).contiguous() for block in layer.blocks]
                            for layer in self.layers[1:]]

    def encode_image(self, resized: torch.Tensor, stages: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """resized (newh, neww, 3) uint8 RGB, long side 1024 -> embedding (1, 256, 64, 64)."""
        def input_rows(lo: int, hi: int) -> torch.Tensor:
            return normalise_rows(resized, lo, hi).permute(2, 0, 1).unsqueeze(0)
        return self._encode(input_rows, stages)

    def forward(self, x: torch.Tensor, stages: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """x (1, 3, 1024, 1024) normalised, padded input -> embedding (1, 256, 64, 64)."""
        def input_rows(lo: int, hi: int) -> torch.Tensor:
            return x[:, :, lo:hi].contiguous(memory_format=CHANNELS_LAST)
        return self._encode(input_rows, stages)

    def _encode(self, input_rows: Callable[[int, int], torch.Tensor],
                stages: dict[str, torch.Tensor] | None) -> torch.Tensor:
        x = self._patch_embed(input_rows)
        _record(stages, "patch_embed", x)
        for block in self.layers[0].blocks:
            self._mbconv_(block, x)
        x = self._merge(self.layers[0].downsample, x, STRIP_ROWS)
        _record(stages, "layers.0", _tokens(x))
        for i, (layer, biases) in enumerate(zip(self.layers[1:], self.bias_tables), start=1):
            for block, bias in zip(layer.blocks, biases):
                x = self._tinyvit_block(block, bias, x)
            if layer.downsample is not None:
                x = self._merge(layer.downsample, x.permute(0, 3, 1, 2), STRIP_ROWS)
            _record(stages, f"layers.{i}", _tokens(x))
        x = self._neck(x)
        _record(stages, "neck", x)
        return x

    def _patch_embed(self, input_rows: Callable[[int, int], torch.Tensor]) -> torch.Tensor:
        """Input rows [lo, hi) as channels-last (1, 3, hi - lo, 1024) -> (1, 64, 256, 256) channels-last."""
        conv_a, conv_b = self.patch_embed.seq[0], self.patch_embed.seq[2]
        mid_rows, out_side = INPUT_SIZE // 2, INPUT_SIZE // 4
        out = torch.empty(1, conv_b.out_channels, out_side, out_side).contiguous(memory_format=CHANNELS_LAST)
        for o0 in range(0, out_side, STRIP_ROWS):
            o1 = min(o0 + STRIP_ROWS, out_side)
            m0, m1, skip = _input_rows(2, o0, o1, mid_rows)
            lo, hi, mid_skip = _input_rows(2, m0, m1, INPUT_SIZE)
            mid = _gelu_(conv_a(input_rows(lo, hi))[:, :, mid_skip:mid_skip + m1 - m0])
            out[:, :, o0:o1] = conv_b(mid)[:, :, skip:skip + o1 - o0]
        return out

    @staticmethod
    def _mbconv_(block: nn.Module, x: torch.Tensor) -> None:
        """One MBConv block on a channels-last (1, C, H, W) map, in place, strip by strip.

        A strip's result is written back only after the next strip has been computed, because
        that one still reads the last original row of this strip (its halo).
        """
        rows = x.shape[2]
        pending: tuple[int, torch.Tensor] | None = None
        for o0 in range(0, rows, STRIP_ROWS):
            o1 = min(o0 + STRIP_ROWS, rows)
            lo, hi, skip = _input_rows(1, o0, o1, rows)
            y = _gelu_(block.conv1(x[:, :, lo:hi]))
            y = _gelu_(block.conv2(y)[:, :, skip:skip + o1 - o0])
            y = block.conv3(y)
            y += x[:, :, o0:o1]
            _gelu_(y)
            if pending is not None:
                x[:, :, pending[0]:o0] = pending[1]
            pending = (o0, y)
        x[:, :, pending[0]:] = pending[1]

    @staticmethod
    def _merge(merge: nn.Module, x: torch.Tensor, strip_rows: int) -> torch.Tensor:
        """PatchMerging of a (1, C, H, W) map -> NHWC (1, H', W', C') tokens, strip by strip."""
        stride = merge.conv2.stride[0]
        rows, out_rows = x.shape[2], x.shape[2] // stride
        out = x.new_empty(1, out_rows, x.shape[3] // stride, merge.conv3.out_channels)
        for o0 in range(0, out_rows, strip_rows):
            o1 = min(o0 + strip_rows, out_rows)
            lo, hi, skip = _input_rows(stride, o0, o1, rows)
            y = _gelu_(merge.conv1(x[:, :, lo:hi]))
            y = _gelu_(merge.conv2(y)[:, :, skip:skip + o1 - o0])
            out[:, o0:o1] = merge.conv3(y).permute(0, 2, 3, 1)
        return out

    def _tinyvit_block(self, block: nn.Module, bias: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """NHWC (1, H, W, C) -> NHWC: windowed attention + residual, local conv, MLP + residual."""
        x = _windowed_attention(block.attn, bias, block.window, x)
        x = block.local_conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1).contiguous()
        _mlp_residual_(block.mlp, x.view(-1, x.shape[-1]))
        return x

    def _neck(self, x: torch.Tensor) -> torch.Tensor:
        """NHWC (1, 64, 64, 320) -> (1, 256, 64, 64) channels-last (the lean decoder's token layout)."""
        conv_a, norm_a, conv_b, norm_b = self.neck
        y = conv_a(x.permute(0, 3, 1, 2))
        y = _layer_norm_channels(norm_a, y)
        y = conv_b(y)
        return _layer_norm_channels(norm_b, y)


def _tokens(x: torch.Tensor) -> torch.Tensor:
    """NHWC map -> (1, L, C) row-major tokens (a view)."""
    return x.reshape(1, -1, x.shape[-1])


def _layer_norm_channels(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """LayerNorm2d on a channels-last NCHW map, computed on its NHWC view; returns channels-last NCHW."""
    nhwc = x.permute(0, 2, 3, 1)
    return F.layer_norm(nhwc, nhwc.shape[-1:], norm.weight, norm.bias, norm.eps).permute(0, 3, 1, 2)


def _windowed_attention(attn: nn.Module, bias: torch.Tensor, window: int, x: torch.Tensor) -> torch.Tensor:
    """x + attention over zero-padded w x w windows of the NHWC map x, a band of window rows at a time."""
    _, rows, cols, c = x.shape
    win_cols = -(-cols // window)
    band_rows = window * max(1, ATTENTION_CHUNK_TOKENS // (win_cols * window * window))
    out = torch.empty_like(x)
    for r0 in range(0, rows, band_rows):
        r1 = min(r0 + band_rows, rows)
        win_rows = -(-(r1 - r0) // window)
        padded = x.new_zeros(win_rows * window, win_cols * window, c)
        padded[:r1 - r0, :cols] = x[0, r0:r1]
        windows = padded.view(win_rows, window, win_cols, window, c).transpose(1, 2)
        attended = _attention(attn, bias, windows.reshape(-1, window * window, c))
        attended = attended.view(win_rows, win_cols, window, window, c).transpose(1, 2)
        attended = attended.reshape(win_rows * window, win_cols * window, c)[:r1 - r0, :cols]
        torch.add(x[0, r0:r1], attended, out=out[0, r0:r1])
    return out


def _attention(attn: nn.Module, bias: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(B, N, C) windows -> (B, N, C), as image_encoder.Attention."""
    b, n, c = x.shape
    qkv = attn.qkv(attn.norm(x)).view(b, n, attn.heads, 3 * attn.key_dim).transpose(1, 2)
    q, k, v = qkv.split(attn.key_dim, dim=3)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    return attn.proj(out.transpose(1, 2).reshape(b, n, c))


def _mlp_residual_(mlp: nn.Module, tokens: torch.Tensor) -> None:
    """tokens (L, C) += mlp(tokens), in chunks of tokens."""
    chunk = max(1, MLP_CHUNK_BYTES // (4 * mlp.fc1.out_features))
    for t0 in range(0, tokens.shape[0], chunk):
        part = tokens[t0:t0 + chunk]
        hidden = _gelu_(mlp.fc1(mlp.norm(part)))
        part += mlp.fc2(hidden)
