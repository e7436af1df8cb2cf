"""Lean execution of the TinyViT image encoder: same weights, same math, less time and memory.

What differs from image_encoder.TinyViT (all numerically equivalent within float32 rounding):
- BatchNorm is folded into the preceding convolutions; conv weights are channels-last.
- The input is normalised and padded strip by strip from the resized uint8 image, so the
  (1, 3, 1024, 1024) float input never exists either.
- patch_embed, layers.0 and layers.1 run as one pipeline of row streams (_RowStream): each
  step computes a strip of its output rows from the rows it needs of the step before (a
  one-row halo per 3x3 conv, whole bands of windows for attention), which that step
  computes on demand. Only a few strips of their maps exist at any time, never the whole
  256x256x64 or 128x128x128 maps (16 MB and 8 MB), let alone the 256x256x256 expansions.
- Later token stages keep tokens as an NHWC map (1, H, W, C), which is the row-major
  (1, L, C) token layout, and update it in place: attention band by band, the local conv
  strip by strip, MLPs over chunks of tokens.
- Windowed attention runs one band of window rows at a time through
  F.scaled_dot_product_attention with a precomputed (heads, N, N) bias table as attn_mask.
GELU is the exact (erf) GELU throughout, applied in place where the input is a temporary.
The embedding is returned channels-last (the lean decoder's token layout).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .image_encoder import INPUT_SIZE, ConvBN, TinyViT, _record, normalise_rows

CHANNELS_LAST = torch.channels_last
# Rows per strip, bytes of MLP hidden activations per chunk, tokens per attention band:
# small enough to keep temporaries at 1-3 MB (cache-friendly, and few large blocks for
# glibc to scatter over the heap), large enough to amortise per-call overhead.
STRIP_ROWS = 8
MLP_CHUNK_BYTES = 1 << 20
ATTENTION_CHUNK_TOKENS = 512


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
        x = self._streamed_stages(input_rows, stages)
        for i, (layer, biases) in enumerate(zip(self.layers[2:], self.bias_tables[1:]), start=2):
            for block, bias in zip(layer.blocks, biases):
                self._tinyvit_block_(block, bias, x)
            if layer.downsample is not None:
                x = _merge(layer.downsample, _nhwc_rows(x), x.shape[1], x.shape[2])
            _record(stages, f"layers.{i}", _tokens(x))
        # The neck's first (1x1) conv runs here, so that the 5 MB layers.3 map is freed before
        # the rest of the neck allocates its maps.
        x = self.neck[0](x.permute(0, 3, 1, 2))
        x = self._neck_rest(x)
        _record(stages, "neck", x)
        return x

    def _streamed_stages(self, input_rows: Callable[[int, int], torch.Tensor],
                         stages: dict[str, torch.Tensor] | None) -> torch.Tensor:
        """patch_embed, layers.0 and layers.1 as one pipeline of row streams -> NHWC (1, 64, 64, 160).

        Every step of these stages only looks at nearby rows, so none of their maps (256x256x64,
        128x128x128) ever exists whole, only a few strips of each.
        """
        side = INPUT_SIZE // 4
        merge_0, layer_1 = self.layers[0].downsample, self.layers[1]
        patch_record = merge_record = None
        if stages is not None:
            patch_record = torch.empty(1, self.patch_embed.seq[2].out_channels, side, side,
                                       memory_format=CHANNELS_LAST)
            merge_record = torch.empty(1, merge_0.conv3.out_channels, side // 2, side // 2,
                                       memory_format=CHANNELS_LAST)
        rows = _RowStream(self._patch_embed_rows(input_rows), side, record=patch_record)
        for block in self.layers[0].blocks:
            rows = _RowStream(_mbconv_rows(block, rows, side), side)
        side //= 2
        rows = _RowStream(_merge_rows(merge_0, rows.rows, side * 2), side, record=merge_record)
        for block, bias in zip(layer_1.blocks, self.bias_tables[0]):
            rows = _RowStream(_attention_rows(block.attn, bias, block.window, rows), side, align=block.window)
            rows = _RowStream(_local_conv_mlp_rows(block, rows, side), side)
        x = _merge(layer_1.downsample, rows.rows, side, side)
        if stages is not None:
            stages["patch_embed"] = patch_record
            stages["layers.0"] = _tokens(merge_record.permute(0, 2, 3, 1))
            stages["layers.1"] = _tokens(x).clone()
        return x

    def _patch_embed_rows(self, input_rows: Callable[[int, int], torch.Tensor]) -> Callable[[int, int], torch.Tensor]:
        """Rows [o0, o1) of the (1, 64, 256, 256) patch_embed output (channels-last) from input rows [lo, hi)
        given as channels-last (1, 3, hi - lo, 1024)."""
        conv_a, conv_b = self.patch_embed.seq[0], self.patch_embed.seq[2]
        mid_rows = INPUT_SIZE // 2

        def rows(o0: int, o1: int) -> torch.Tensor:
            m0, m1, skip = _input_rows(2, o0, o1, mid_rows)
            lo, hi, mid_skip = _input_rows(2, m0, m1, INPUT_SIZE)
            mid = _gelu_(conv_a(input_rows(lo, hi))[:, :, mid_skip:mid_skip + m1 - m0])
            return conv_b(mid)[:, :, skip:skip + o1 - o0]
        return rows

    @staticmethod
    def _tinyvit_block_(block: nn.Module, bias: torch.Tensor, x: torch.Tensor) -> None:
        """On an NHWC (1, H, W, C) map, in place: windowed attention + residual, local conv, MLP + residual."""
        _windowed_attention_(block.attn, bias, block.window, x)
        _conv3x3_(block.local_conv, x.permute(0, 3, 1, 2))
        _mlp_residual_(block.mlp, x.view(-1, x.shape[-1]))

    def _neck_rest(self, x: torch.Tensor) -> torch.Tensor:
        """The neck after its first conv: channels-last (1, 256, 64, 64) -> the embedding, channels-last
        (the lean decoder's token layout)."""
        _, norm_a, conv_b, norm_b = self.neck
        x = _layer_norm_channels(norm_a, x)
        x = conv_b(x)
        return _layer_norm_channels(norm_b, x)


def _tokens(x: torch.Tensor) -> torch.Tensor:
    """NHWC map -> (1, L, C) row-major tokens (a view)."""
    return x.reshape(1, -1, x.shape[-1])


class _RowStream:
    """Rows of a channels-last (1, C, H, W) map, computed strip by strip when first asked for.

    Callers ask for row ranges [lo, hi) whose lo and hi never decrease; rows below the last
    lo are dropped, so only about a strip and its halo are ever held. Rows are computed in
    runs of about STRIP_ROWS that start and end at multiples of `align` (or at the last row). `record`, if given,
    receives every computed row (for stage checks).
    """

    def __init__(self, compute: Callable[[int, int], torch.Tensor], height: int, *, align: int = 1,
                 record: torch.Tensor | None = None) -> None:
        self._compute, self._height, self._record = compute, height, record
        self._step = align * max(1, STRIP_ROWS // align)
        self._held: torch.Tensor | None = None
        self._lo = 0

    def rows(self, lo: int, hi: int) -> torch.Tensor:
        held_hi = self._lo + (0 if self._held is None else self._held.shape[2])
        parts = [] if self._held is None or lo >= held_hi else [self._held[:, :, lo - self._lo:]]
        # Computed a strip at a time (however many rows are asked for), so that the wide
        # temporaries inside `compute` stay strip-sized.
        while held_hi < hi:
            top = min(held_hi + self._step, self._height)
            fresh = self._compute(held_hi, top)
            if self._record is not None:
                self._record[:, :, held_hi:top] = fresh
            parts.append(fresh)
            held_hi = top
        self._held = parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)
        self._lo = lo
        return self._held[:, :, :hi - lo]


def _mbconv_rows(block: nn.Module, source: _RowStream, height: int) -> Callable[[int, int], torch.Tensor]:
    """Rows [o0, o1) of MBConv `block` applied to the map that `source` streams (a one-row halo)."""
    def rows(o0: int, o1: int) -> torch.Tensor:
        lo, hi, skip = _input_rows(1, o0, o1, height)
        x = source.rows(lo, hi)
        y = _gelu_(block.conv1(x))
        y = _gelu_(block.conv2(y)[:, :, skip:skip + o1 - o0])
        y = block.conv3(y)
        y += x[:, :, skip:skip + o1 - o0]
        return _gelu_(y)
    return rows


def _nhwc_rows(x: torch.Tensor) -> Callable[[int, int], torch.Tensor]:
    """Rows [lo, hi) of an NHWC map as a channels-last (1, C, hi - lo, W) view."""
    return lambda lo, hi: x[:, lo:hi].permute(0, 3, 1, 2)


def _merge_rows(merge: nn.Module, rows: Callable[[int, int], torch.Tensor],
                height: int) -> Callable[[int, int], torch.Tensor]:
    """Output rows [o0, o1) of PatchMerging, channels-last (1, C', o1 - o0, W'), of the (1, C, height, W)
    map given by `rows(lo, hi)`."""
    stride = merge.conv2.stride[0]

    def out_rows(o0: int, o1: int) -> torch.Tensor:
        lo, hi, skip = _input_rows(stride, o0, o1, height)
        y = _gelu_(merge.conv1(rows(lo, hi)))
        y = _gelu_(merge.conv2(y)[:, :, skip:skip + o1 - o0])
        return merge.conv3(y)
    return out_rows


def _merge(merge: nn.Module, rows: Callable[[int, int], torch.Tensor], height: int, width: int) -> torch.Tensor:
    """PatchMerging of a (1, C, height, width) map given by `rows(lo, hi)` -> NHWC (1, H', W', C') tokens."""
    stride = merge.conv2.stride[0]
    out_rows, strip = height // stride, max(1, STRIP_ROWS // stride)
    out = torch.empty(1, out_rows, width // stride, merge.conv3.out_channels)
    compute = _merge_rows(merge, rows, height)
    for o0 in range(0, out_rows, strip):
        o1 = min(o0 + strip, out_rows)
        out[:, o0:o1] = compute(o0, o1).permute(0, 2, 3, 1)
    return out


def _attention_rows(attn: nn.Module, bias: torch.Tensor, window: int,
                    source: _RowStream) -> Callable[[int, int], torch.Tensor]:
    """Rows [o0, o1) (whole bands of windows: o0, o1 multiples of `window` or the last row) of
    x + windowed attention(x), x the map `source` streams."""
    def rows(o0: int, o1: int) -> torch.Tensor:
        x = source.rows(o0, o1).clone(memory_format=CHANNELS_LAST)
        _windowed_attention_(attn, bias, window, x.permute(0, 2, 3, 1))
        return x
    return rows


def _local_conv_mlp_rows(block: nn.Module, source: _RowStream, height: int) -> Callable[[int, int], torch.Tensor]:
    """Rows [o0, o1) of y = local_conv(x); y + mlp(y), x the map `source` streams (a one-row halo)."""
    def rows(o0: int, o1: int) -> torch.Tensor:
        lo, hi, skip = _input_rows(1, o0, o1, height)
        y = block.local_conv(source.rows(lo, hi))[:, :, skip:skip + o1 - o0]
        _mlp_residual_(block.mlp, y.permute(0, 2, 3, 1).reshape(-1, y.shape[1]))
        return y
    return rows


def _conv3x3_(conv: nn.Module, x: torch.Tensor) -> None:
    """x = conv(x) for a 3x3, stride-1, padding-1 conv on a channels-last (1, C, H, W) map, in place.

    A strip's result is written back only after the next strip has been computed, because
    that one still reads the last original row of this strip (its halo).
    """
    rows = x.shape[2]
    pending: tuple[int, torch.Tensor] | None = None
    for o0 in range(0, rows, STRIP_ROWS):
        o1 = min(o0 + STRIP_ROWS, rows)
        lo, hi, skip = _input_rows(1, o0, o1, rows)
        y = conv(x[:, :, lo:hi])[:, :, skip:skip + o1 - o0]
        if pending is not None:
            x[:, :, pending[0]:o0] = pending[1]
        pending = (o0, y)
    x[:, :, pending[0]:] = pending[1]


def _layer_norm_channels(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """LayerNorm2d on a channels-last NCHW map, computed on its NHWC view; returns channels-last NCHW."""
    nhwc = x.permute(0, 2, 3, 1)
    return F.layer_norm(nhwc, nhwc.shape[-1:], norm.weight, norm.bias, norm.eps).permute(0, 3, 1, 2)


def _windowed_attention_(attn: nn.Module, bias: torch.Tensor, window: int, x: torch.Tensor) -> None:
    """x += attention over zero-padded w x w windows of the NHWC map x, in place, a band of window rows
    at a time (a band's windows read only the band's rows)."""
    _, rows, cols, c = x.shape
    win_cols = -(-cols // window)
    band_rows = window * max(1, ATTENTION_CHUNK_TOKENS // (win_cols * window * window))
    for r0 in range(0, rows, band_rows):
        r1 = min(r0 + band_rows, rows)
        win_rows = -(-(r1 - r0) // window)
        padded = x.new_zeros(win_rows * window, win_cols * window, c)
        padded[:r1 - r0, :cols] = x[0, r0:r1]
        windows = padded.view(win_rows, window, win_cols, window, c).transpose(1, 2)
        attended = _attention(attn, bias, windows.reshape(-1, window * window, c))
        attended = attended.view(win_rows, win_cols, window, window, c).transpose(1, 2)
        attended = attended.reshape(win_rows * window, win_cols * window, c)[:r1 - r0, :cols]
        x[0, r0:r1] += attended


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
