"""TinyViT-5M image encoder of MobileSAM (vit_t), the literal reference computation.

Input: the resized image (newh, neww, 3) uint8 RGB, long side 1024 (`encode_image`), or the
same already normalised and zero-padded at the right/bottom as (B, 3, 1024, 1024) float32
(`forward`). Output: image embedding (B, 256, 64, 64) float32.

Stages and their outputs (B = batch):
  patch_embed   (B, 64, 256, 256)   NCHW feature map
  layers.0      (B, 16384, 128)     tokens of the 128x128 grid, row-major (after its merge)
  layers.1      (B, 4096, 160)      tokens of the 64x64 grid (after its merge)
  layers.2      (B, 4096, 320)      tokens of the 64x64 grid (stride-1 merge)
  layers.3      (B, 4096, 320)      tokens of the 64x64 grid
  neck          (B, 256, 64, 64)    the embedding

Module and parameter names follow the published checkpoint exactly, so that
`load_state_dict(strict=True)` works. `encoder_lean.py` holds the optimised execution
of the same weights.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import LayerNorm2d

EMBED_DIMS = (64, 128, 160, 320)
DEPTHS = (2, 2, 6, 2)
NUM_HEADS = (None, 4, 5, 10)
WINDOW_SIZES = (None, 7, 14, 7)
RESOLUTIONS = (256, 128, 64, 64)
MLP_RATIO = 4
MBCONV_EXPAND = 4
NECK_DIM = 256
INPUT_SIZE = 1024
PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)


def normalise_rows(resized: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """Rows [lo, hi) of the padded 1024-frame as an (hi - lo, 1024, 3) float32 HWC tensor.

    resized: (newh, neww, 3) uint8 RGB. Pixels become (x - mean) / std per channel; the padding
    (columns >= neww, rows >= newh) is 0, i.e. padding is applied after normalisation.
    """
    out = torch.zeros(hi - lo, INPUT_SIZE, 3)
    valid = resized[lo:hi]
    if len(valid):
        region = out[:len(valid), :valid.shape[1]]
        region.copy_(valid)
        region.sub_(torch.tensor(PIXEL_MEAN)).div_(torch.tensor(PIXEL_STD))
    return out


def normalise_and_pad(resized: torch.Tensor) -> torch.Tensor:
    """(newh, neww, 3) uint8 -> (1, 3, 1024, 1024) float32 encoder input (see normalise_rows)."""
    return normalise_rows(resized, 0, INPUT_SIZE).permute(2, 0, 1).unsqueeze(0).contiguous()


class ConvBN(nn.Sequential):
    """Bias-free Conv2d `c` followed by BatchNorm2d `bn` (eval: running statistics, eps 1e-5)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1, padding: int = 0,
                 groups: int = 1) -> None:
        super().__init__()
        self.add_module("c", nn.Conv2d(in_ch, out_ch, kernel, stride, padding, groups=groups, bias=False))
        self.add_module("bn", nn.BatchNorm2d(out_ch))

    def folded(self) -> nn.Conv2d:
        """A Conv2d with bias computing the same function (BatchNorm folded into the weights)."""
        conv, bn = self.c, self.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                          conv.padding, groups=conv.groups, bias=True, device="meta")
        fused.weight = nn.Parameter(conv.weight * scale.view(-1, 1, 1, 1), requires_grad=False)
        fused.bias = nn.Parameter(bn.bias - bn.running_mean * scale, requires_grad=False)
        return fused


class PatchEmbed(nn.Module):
    """(B, 3, 1024, 1024) -> (B, 64, 256, 256): two stride-2 3x3 Conv_BN with GELU between."""

    def __init__(self, out_ch: int) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            ConvBN(3, out_ch // 2, 3, 2, 1),
            nn.GELU(),
            ConvBN(out_ch // 2, out_ch, 3, 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x)


class MBConv(nn.Module):
    """Inverted residual block on an NCHW map, channels unchanged."""

    def __init__(self, dim: int, expand: int) -> None:
        super().__init__()
        hidden = dim * expand
        self.conv1 = ConvBN(dim, hidden, 1)
        self.act1 = nn.GELU()
        self.conv2 = ConvBN(hidden, hidden, 3, 1, 1, groups=hidden)
        self.act2 = nn.GELU()
        self.conv3 = ConvBN(hidden, dim, 1)
        self.act3 = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.conv1(x))
        y = self.act2(self.conv2(y))
        y = self.conv3(y)
        return self.act3(y + x)


class PatchMerging(nn.Module):
    """(B, L, C) tokens or (B, C, H, W) map of `resolution`^2 -> (B, L', out) tokens.

    Stride 2 halves the resolution; out == 320 uses stride 1 (the last merge keeps 64x64).
    """

    def __init__(self, resolution: int, dim: int, out_dim: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.stride = 1 if out_dim == 320 else 2
        self.conv1 = ConvBN(dim, out_dim, 1)
        self.act = nn.GELU()
        self.conv2 = ConvBN(out_dim, out_dim, 3, self.stride, 1, groups=out_dim)
        self.conv3 = ConvBN(out_dim, out_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            b, _, c = x.shape
            x = x.view(b, self.resolution, self.resolution, c).permute(0, 3, 1, 2)
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        x = self.conv3(x)
        return x.flatten(2).transpose(1, 2)


class ConvLayer(nn.Module):
    """layers.0: MBConv blocks on the 256x256 map, then PatchMerging to 128x128 tokens."""

    def __init__(self, dim: int, depth: int, resolution: int, out_dim: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(MBConv(dim, MBCONV_EXPAND) for _ in range(depth))
        self.downsample = PatchMerging(resolution, dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x)


def relative_position_index(window: int) -> torch.Tensor:
    """(w*w, w*w) int64: bias column |r1 - r2| * w + |c1 - c2| for row-major window positions."""
    pos = torch.arange(window * window, device="cpu")
    rows, cols = pos // window, pos % window
    return (rows[:, None] - rows[None, :]).abs() * window + (cols[:, None] - cols[None, :]).abs()


class Attention(nn.Module):
    """Multi-head self-attention inside one window of N = w*w tokens, with learned position bias.

    (B, N, C) -> (B, N, C). qkv output is viewed (B, N, heads, 3*key_dim): per head [q | k | v].
    """

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads = heads
        self.key_dim = dim // heads
        self.scale = self.key_dim ** -0.5
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.attention_biases = nn.Parameter(torch.zeros(heads, window * window))
        self.register_buffer("attention_bias_idxs", relative_position_index(window), persistent=False)

    def bias(self) -> torch.Tensor:
        """(heads, N, N) additive score bias."""
        return self.attention_biases[:, self.attention_bias_idxs]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(self.norm(x)).view(b, n, self.heads, 3 * self.key_dim)
        q, k, v = qkv.permute(0, 2, 1, 3).split(self.key_dim, dim=3)
        scores = (q @ k.transpose(-2, -1)) * self.scale + self.bias()
        out = scores.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """LayerNorm, Linear C -> hidden, GELU, Linear hidden -> C on (..., C)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(self.norm(x))))


def window_partition(x: torch.Tensor, window: int) -> tuple[torch.Tensor, int, int]:
    """(B, H, W, C) -> (B*nH*nW, w*w, C) row-major windows of the zero-padded map, plus padded H, W."""
    b, h, w, c = x.shape
    pad_h, pad_w = (-h) % window, (-w) % window
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    ph, pw = h + pad_h, w + pad_w
    x = x.view(b, ph // window, window, pw // window, window, c).transpose(2, 3)
    return x.reshape(-1, window * window, c), ph, pw


def window_merge(windows: torch.Tensor, window: int, b: int, ph: int, pw: int, h: int, w: int) -> torch.Tensor:
    """Inverse of window_partition, cropped back to (B, H, W, C)."""
    c = windows.shape[-1]
    x = windows.view(b, ph // window, pw // window, window, window, c).transpose(2, 3)
    return x.reshape(b, ph, pw, c)[:, :h, :w]


class TinyViTBlock(nn.Module):
    """Windowed attention (+residual), depthwise local conv, MLP (+residual) on (B, L, C) tokens."""

    def __init__(self, dim: int, resolution: int, heads: int, window: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.window = window
        self.attn = Attention(dim, heads, window)
        self.mlp = Mlp(dim, dim * MLP_RATIO)
        self.local_conv = ConvBN(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, l, c = x.shape
        h = w = self.resolution
        if h == self.window and w == self.window:
            attended = self.attn(x)
        else:
            windows, ph, pw = window_partition(x.view(b, h, w, c), self.window)
            attended = window_merge(self.attn(windows), self.window, b, ph, pw, h, w).reshape(b, l, c)
        x = x + attended
        x = self.local_conv(x.transpose(1, 2).reshape(b, c, h, w))
        x = x.view(b, c, l).transpose(1, 2)
        return x + self.mlp(x)


class BasicLayer(nn.Module):
    """layers.1-3: TinyViT blocks, then an optional PatchMerging."""

    def __init__(self, dim: int, depth: int, resolution: int, heads: int, window: int,
                 out_dim: int | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(TinyViTBlock(dim, resolution, heads, window) for _ in range(depth))
        self.downsample = PatchMerging(resolution, dim, out_dim) if out_dim is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x) if self.downsample is not None else x


class TinyViT(nn.Module):
    """The image encoder; `forward(x, stages)` optionally records every stage output in `stages`."""

    def __init__(self) -> None:
        super().__init__()
        dims = EMBED_DIMS
        self.patch_embed = PatchEmbed(dims[0])
        layers: list[nn.Module] = [ConvLayer(dims[0], DEPTHS[0], RESOLUTIONS[0], dims[1])]
        for i in range(1, len(dims)):
            out_dim = dims[i + 1] if i + 1 < len(dims) else None
            layers.append(BasicLayer(dims[i], DEPTHS[i], RESOLUTIONS[i], NUM_HEADS[i], WINDOW_SIZES[i], out_dim))
        self.layers = nn.ModuleList(layers)
        # Classification head of TinyViT: in the checkpoint, unused by SAM.
        self.norm_head = nn.LayerNorm(dims[-1])
        self.head = nn.Linear(dims[-1], 1000)
        self.neck = nn.Sequential(
            nn.Conv2d(dims[-1], NECK_DIM, 1, bias=False),
            LayerNorm2d(NECK_DIM),
            nn.Conv2d(NECK_DIM, NECK_DIM, 3, padding=1, bias=False),
            LayerNorm2d(NECK_DIM),
        )

    def encode_image(self, resized: torch.Tensor, stages: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """resized (newh, neww, 3) uint8 RGB, long side 1024 -> embedding (1, 256, 64, 64)."""
        return self(normalise_and_pad(resized), stages)

    def forward(self, x: torch.Tensor, stages: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        x = self.patch_embed(x)
        _record(stages, "patch_embed", x)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            _record(stages, f"layers.{i}", x)
        b, l, c = x.shape
        side = RESOLUTIONS[-1]
        x = self.neck(x.view(b, side, side, c).permute(0, 3, 1, 2))
        _record(stages, "neck", x)
        return x


def _record(stages: dict[str, torch.Tensor] | None, name: str, x: torch.Tensor) -> None:
    if stages is not None:
        stages[name] = x.clone()
