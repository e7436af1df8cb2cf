"""MI-GAN 512 generator, the literal reference computation of shared/migan/SPEC.md.

Input: (1, 4, 512, 512) float32, channel 0 = known - 0.5, channels 1-3 = RGB in [-1, 1] times
known (pixels.to_model_input). Output: (1, 3, 512, 512) float32 RGB, nominally [-1, 1], not
clamped (pixels.to_pixels). All maps are NCHW.

A U-Net of depthwise-separable convolutions: the encoder takes the input from 512 down to
4 x 4, keeping the feature `feats[r]` of every resolution r (channels ch(r)); the synthesis
goes from 4 back up to 512, adding feats[r] at each r, and sums an RGB image across
resolutions. Recordable stages (`stages` argument of forward):
    encoder_feats.{r}   (1, ch(r), r, r)     r = 512 .. 4
    encoder_out         (1, 512, 4, 4)
    synthesis_x.{r}     (1, ch(r), r, r)     the block's features, r = 4 .. 512
    synthesis_img.{r}   (1, 3, r, r)         the image so far

Module and parameter names follow the published checkpoint exactly (load_state_dict with
strict=True). migan_lean.py holds the lean execution of the same weights.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..models.state_dict import CheckpointError, conformed, read_state_dict

RESOLUTION = 512
IN_CHANNELS = 4
# Encoder block resolutions; the synthesis runs them in reverse.
RESOLUTIONS = (512, 256, 128, 64, 32, 16, 8, 4)
ACT_GAIN = math.sqrt(2)
ACT_CLAMP = 256.0

__all__ = ["CheckpointError", "MiGan", "channels", "load_migan"]


def channels(resolution: int) -> int:
    """Feature channels at a resolution: 512 -> 64, 256 -> 128, 128 -> 256, <= 64 -> 512."""
    return min(32768 // resolution, 512)


def act(x: torch.Tensor) -> torch.Tensor:
    """leaky_relu(x, 0.2) * sqrt(2), clamped to [-256, 256]."""
    return (F.leaky_relu(x, 0.2) * ACT_GAIN).clamp(-ACT_CLAMP, ACT_CLAMP)


def _depthwise(channels_: int, kernel: int, **kwargs) -> nn.Conv2d:
    return nn.Conv2d(channels_, channels_, kernel, groups=channels_, **kwargs)


class Downsample(nn.Module):
    """(1, C, R, R) -> (1, C, R/2, R/2): depthwise 4x4 conv, stride 2, padding 1 (stored [1,3,3,1] filter)."""

    def __init__(self, channels_: int) -> None:
        super().__init__()
        self.filter = _depthwise(channels_, 4, stride=2, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.filter(x)


class Upsample(nn.Module):
    """(1, C, R/2, R/2) -> (1, C, R, R): nearest x2, zero insertion (filter_const), pad (2, 1), 4x4 depthwise conv."""

    def __init__(self, channels_: int, resolution: int) -> None:
        super().__init__()
        const = torch.zeros(1, 1, resolution, resolution)
        const[..., ::2, ::2] = 1
        self.register_buffer("filter_const", const)
        self.filter = _depthwise(channels_, 4, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest") * self.filter_const
        return self.filter(F.pad(x, (2, 1, 2, 1)))


class SepConv(nn.Module):
    """Depthwise-separable conv (1, Cin, R_in, R_in) -> (1, Cout, R_out, R_out).

    conv1 (depthwise 3x3 with bias), act, [Down], conv2 (1x1, no bias), [Up to `resolution`],
    [+ noise_const * noise_strength], act. `resolution` is the output's.
    """

    def __init__(self, in_ch: int, out_ch: int, resolution: int, *, down: bool = False, up: bool = False,
                 noise: bool = False) -> None:
        super().__init__()
        if noise:
            self.noise_strength = nn.Parameter(torch.zeros([]))
            # zeros, not randn: the checkpoint holds the values, and randn on the meta device
            # imports hundreds of torch modules (~33 MB).
            self.register_buffer("noise_const", torch.zeros(resolution, resolution))
        self.conv1 = _depthwise(in_ch, 3, padding=1, bias=True)
        self.conv2 = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.downsample = Downsample(in_ch) if down else None
        self.upsample = Upsample(out_ch, resolution) if up else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = act(self.conv1(x))
        if self.downsample is not None:
            x = self.downsample(x)
        x = self.conv2(x)
        if self.upsample is not None:
            x = self.upsample(x)
        if hasattr(self, "noise_const"):
            x = x + self.noise_const * self.noise_strength
        return act(x)


class EncoderBlock(nn.Module):
    """Block at resolution r: feat = conv1(h) (ch(r) channels at r), h' = conv2(feat) (ch(r/2) at r/2; b4 keeps 4x4)."""

    def __init__(self, resolution: int) -> None:
        super().__init__()
        ch = channels(resolution)
        if resolution == RESOLUTION:
            self.fromrgb = nn.Conv2d(IN_CHANNELS, ch, 1)
        self.conv1 = SepConv(ch, ch, resolution)
        if resolution > 4:
            self.conv2 = SepConv(ch, channels(resolution // 2), resolution // 2, down=True)
        else:
            self.conv2 = SepConv(ch, ch, resolution)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """h -> (feat, next h); b512 takes the network input (1, 4, 512, 512)."""
        if hasattr(self, "fromrgb"):
            h = act(self.fromrgb(h))
        feat = self.conv1(h)
        return feat, self.conv2(feat)


class Encoder(nn.Module):
    """(1, 4, 512, 512) -> (bottleneck (1, 512, 4, 4), {r: feats[r] (1, ch(r), r, r)})."""

    def __init__(self) -> None:
        super().__init__()
        for r in RESOLUTIONS:
            self.add_module(f"b{r}", EncoderBlock(r))

    def forward(self, x: torch.Tensor, stages: dict[str, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        feats = {}
        for r in RESOLUTIONS:
            feats[r], x = getattr(self, f"b{r}")(x)
            record(stages, f"encoder_feats.{r}", feats[r])
        record(stages, "encoder_out", x)
        return x, feats


class SynthesisBlock(nn.Module):
    """Block at resolution r: s = conv2(conv1(s) + feats[r]); img = Up(img) + torgb(s).

    b4 has neither upsampling nor noise and starts the image: img = torgb(s).
    """

    def __init__(self, resolution: int) -> None:
        super().__init__()
        ch = channels(resolution)
        first = resolution == 4
        in_ch = ch if first else channels(resolution // 2)
        self.conv1 = SepConv(in_ch, ch, resolution, up=not first, noise=not first)
        self.conv2 = SepConv(ch, ch, resolution, noise=not first)
        self.torgb = nn.Conv2d(ch, 3, 1)
        self.upsample = None if first else Upsample(3, resolution)

    def forward(self, s: torch.Tensor, img: torch.Tensor | None, feat: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.conv2(self.conv1(s) + feat)
        rgb = self.torgb(s)
        return s, rgb if self.upsample is None else self.upsample(img) + rgb


class Synthesis(nn.Module):
    """(bottleneck (1, 512, 4, 4), feats) -> image (1, 3, 512, 512)."""

    def __init__(self) -> None:
        super().__init__()
        for r in reversed(RESOLUTIONS):
            self.add_module(f"b{r}", SynthesisBlock(r))

    def forward(self, s: torch.Tensor, feats: dict[int, torch.Tensor],
                stages: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        img = None
        for r in reversed(RESOLUTIONS):
            s, img = getattr(self, f"b{r}")(s, img, feats.pop(r))
            record(stages, f"synthesis_x.{r}", s)
            record(stages, f"synthesis_img.{r}", img)
        return img


class MiGan(nn.Module):
    """The generator: (1, 4, 512, 512) input -> (1, 3, 512, 512) RGB (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        # Registered in the published state dict's key order (synthesis first).
        self.synthesis = Synthesis()
        self.encoder = Encoder()

    def forward(self, x: torch.Tensor, stages: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """x (1, 4, 512, 512) float32 -> (1, 3, 512, 512) float32; `stages`, if given, gets the stages."""
        check_input(x)
        bottleneck, feats = self.encoder(x, stages)
        return self.synthesis(bottleneck, feats, stages)


def check_input(x: torch.Tensor) -> None:
    """ValueError unless x is a float32 (1, 4, 512, 512) tensor."""
    if x.dtype != torch.float32 or tuple(x.shape) != (1, IN_CHANNELS, RESOLUTION, RESOLUTION):
        raise ValueError(f"MI-GAN input must be float32 (1, 4, 512, 512), got {x.dtype} {tuple(x.shape)}")


def record(stages: dict[str, torch.Tensor] | None, name: str, value: torch.Tensor) -> None:
    """stages[name] = value when the caller asked for stages."""
    if stages is not None:
        stages[name] = value


def load_migan(path: Path, *, lean: bool = True) -> nn.Module:
    """The generator in eval mode, without gradients, with the weights of `path` (fp16 or fp32).

    Called on a float32 (1, 4, 512, 512) input it returns the (1, 3, 512, 512) output, and
    takes an optional `stages` dict to record (see the module docstring). lean=True (default)
    returns migan_lean.LeanMiGan: same math, faster, a small fraction of the memory;
    lean=False the literal MiGan. Raises CheckpointError when the file is missing,
    unreadable, not a state dict, or does not match the network's keys and shapes.
    """
    with torch.device("meta"):
        model = MiGan()
    state = conformed(read_state_dict(path), model.state_dict(), "the MI-GAN 512 generator")
    model.load_state_dict(state, strict=True, assign=True)
    model.eval().requires_grad_(False)
    if lean:
        from .migan_lean import LeanMiGan

        return LeanMiGan(model)
    return model
