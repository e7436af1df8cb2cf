"""Lean execution of the MI-GAN generator: same weights, same math, far less memory, faster.

What differs from migan.MiGan (all equal within float32 rounding, ~1e-5):
- Every map is channels-last (rows, W, C) and computed in bands of rows by row streams
  (RowStream): a stage computes a band of its output rows from the rows it needs of its
  input stage (a one-row halo per 3x3 conv, two per Down), which that stage computes on
  demand. Only a band and its halo of each map exist at a time, in a small buffer per
  stage that the stage writes into. 1x1 convs are matmuls (pixels, Cin) @ (Cin, Cout);
  activations run in place.
- The encoder keeps only the skip features at 32 x 32 and below (2.7 MB). The synthesis
  recomputes those at 64 and above band by band from the input (chains of streams): 9.7
  more GMAC (22.9 instead of 13.2) instead of 120 MB of stored maps. A forward's live
  heap grows by ~20 MB at most (the literal network's RSS by ~490 MB).
- Up (nearest x2, zero insertion by filter_const, pad (2, 1), 4x4 depthwise conv) is one
  depthwise transposed conv (up_rows): zero insertion of the nearest-upsampled map keeps
  x[i, j] at (2i, 2j), so along each axis y[p] = sum over 2i + a - 1 = p of x[i] * w[3 - a],
  which is conv_transpose2d(x, w flipped, stride 2, padding 1): 4 multiply-adds per output
  value instead of 16 on a 4x larger map. filter_const is not kept.
- noise_const * noise_strength is folded once at load, and so is act's gain: leaky_relu is
  positively homogeneous, so act(x) = clamp(leaky_relu(sqrt(2) x), -256, 256), and sqrt(2)
  scales the weights, bias and noise of the linear step before each act instead of a pass
  over every map. Activations are unchanged, only pre-activations are scaled.
Stages can be recorded under the literal network's names (NCHW-shaped views of
channels-last maps); recording keeps whole maps and so defeats the memory savings.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .migan import ACT_CLAMP, ACT_GAIN, RESOLUTION, RESOLUTIONS, MiGan, SepConv, channels, check_input

# Rows per band at 512, in the encoder pass and in the synthesis pass (with its recomputed
# skip features); a band at resolution r has band_512 * r / 512 rows (at least 1), so that
# the bands of every level cover the same input rows. A row of any feature map at 64 and
# above holds ch(r) * r = 32768 floats (128 KB). The synthesis holds ~4x more streams and
# sets the peak memory: smaller bands there, larger (faster) ones in the encoder.
ENCODER_BAND_512 = 8
SYNTHESIS_BAND_512 = 4
# Maps at or below this resolution are computed in one band.
WHOLE_UP_TO = 16
# Skip features at this resolution and above are recomputed by the synthesis, not stored.
RECOMPUTED_FROM = 64
# Resolutions whose recomputed skip features share one chain of streams from the input.
# The synthesis reads feats[r] further ahead (in input rows) the lower r is, so one chain
# for all would hold many rows at 512 between its readers.
FEATURE_CHAINS = ((512,), (256,), (128, 64))

Source = Callable[[int, int], torch.Tensor]
"""Rows [lo, hi) of a channels-last map as a (hi - lo, W, C) tensor, 0 <= lo < hi <= height."""
Compute = Callable[[int, int, torch.Tensor], None]
"""Writes rows [lo, hi) of a map into `out`, a contiguous (hi - lo, W, C) tensor."""


def _act_(x: torch.Tensor) -> torch.Tensor:
    """migan.act(x / sqrt(2)) in place: act of a pre-activation computed with the gain folded in."""
    F.leaky_relu_(x, 0.2)
    return x.clamp_(-ACT_CLAMP, ACT_CLAMP)


def _nchw(x: torch.Tensor) -> torch.Tensor:
    """(rows, W, C) contiguous -> (1, C, rows, W) channels-last view (what convs take as such)."""
    return x.unsqueeze(0).permute(0, 3, 1, 2)


def _nhwc(x: torch.Tensor) -> torch.Tensor:
    """(1, C, rows, W) channels-last -> (rows, W, C) contiguous view."""
    return x[0].permute(1, 2, 0)


def _band(resolution: int, band_512: int) -> int:
    return resolution if resolution <= WHOLE_UP_TO else max(band_512 * resolution // RESOLUTION, 1)


class RowStream:
    """Rows of a (height, width, channels) map computed band by band on demand.

    Readers (`reader()`) must ask for row ranges whose start never decreases; rows above
    every reader's last start are dropped. A returned tensor is a view of the stream's
    buffer, valid until the stream is asked for rows again. With `record`, a (height, width,
    channels) tensor, every computed row is also kept there.
    """

    def __init__(self, height: int, width: int, channels_: int, compute: Compute, band: int,
                 record: torch.Tensor | None = None, first: int = 0) -> None:
        self.height, self.width, self.channels = height, width, channels_
        self.compute, self.band, self.record = compute, band, record
        self.buffer: torch.Tensor | None = None   # rows [start, end) at buffer[:end - start]
        self.start = self.end = first              # rows above `first` are never computed
        self.cursors: list[int] = []

    def reader(self) -> Source:
        index = len(self.cursors)
        self.cursors.append(self.start)

        def rows(lo: int, hi: int) -> torch.Tensor:
            self.cursors[index] = lo
            return self._rows(lo, hi)
        return rows

    def _rows(self, lo: int, hi: int) -> torch.Tensor:
        if lo < self.start:
            raise ValueError(f"rows from {lo} asked of a stream that holds rows from {self.start}")
        # One band at a time, even for a longer request: a longer piece would ask its input
        # stream for more rows at once, and so on up the chain, each level adding its halo.
        while self.end < hi:
            n = min(self.band, hi - self.end)
            self._make_room(n)
            out = self.buffer[self.end - self.start:self.end - self.start + n]
            self.compute(self.end, self.end + n, out)
            if self.record is not None:
                self.record[self.end:self.end + n] = out
            self.end += n
        return self.buffer[lo - self.start:hi - self.start]

    def _make_room(self, n: int) -> None:
        """Room for n more rows after `end`, dropping the rows no reader will ask for again."""
        if self.buffer is not None and self.end - self.start + n <= len(self.buffer):
            return
        keep = min(min(self.cursors), self.end)
        kept = self.end - keep
        if self.buffer is None or kept + n > len(self.buffer):
            grown = torch.empty(kept + n, self.width, self.channels)
            if kept:
                grown[:kept] = self.buffer[keep - self.start:self.end - self.start]
            self.buffer = grown
        elif kept:
            rows = self.buffer[keep - self.start:self.end - self.start]
            # Overlapping source and destination rows: copy through a temporary.
            self.buffer[:kept] = rows.clone() if keep - self.start < kept else rows
        self.start = keep


class Stored:
    """A whole (height, W, C) map as a Source."""

    def __init__(self, rows: torch.Tensor) -> None:
        self.map = rows

    def __call__(self, lo: int, hi: int) -> torch.Tensor:
        return self.map[lo:hi]


def _padded(source: Source, lo: int, hi: int, height: int) -> torch.Tensor:
    """Rows [lo, hi) of a map of `height` rows, rows outside [0, height) being zero."""
    inner = source(max(lo, 0), min(hi, height))
    top, bottom = max(-lo, 0), max(hi - height, 0)
    return F.pad(inner, (0, 0, 0, 0, top, bottom)) if top or bottom else inner


def _materialise(source: Source, height: int, band: int) -> torch.Tensor:
    """The whole (height, W, C) map of a source, read band by band."""
    first = source(0, min(band, height))
    out = torch.empty(height, *first.shape[1:])
    out[:len(first)] = first
    for lo in range(band, height, band):
        out[lo:lo + band] = source(lo, min(lo + band, height))
    return out


def up_filter(weight: torch.Tensor) -> torch.Tensor:
    """An Up filter (C, 1, 4, 4) as used by up_rows: flipped in both spatial axes."""
    return weight.flip(2, 3)


def up_rows(source: Source, flipped: torch.Tensor, height: int, lo: int, hi: int) -> torch.Tensor:
    """Rows [lo, hi) of Up, from the rows of its (height / 2)-row input; `flipped` = up_filter(weight).

    Up = nearest x2, zero insertion, pad (2, 1), 4x4 depthwise conv, which along each axis is
    y[p] = sum over 2i + a - 1 = p of x[i] * w[3 - a]: a depthwise conv_transpose2d with the
    flipped filter, stride 2, padding 1. Output row p reads input rows (p - 2) / 2 .. (p + 1) / 2.
    """
    i0, i1 = max((lo - 1) // 2, 0), min(hi // 2 + 1, height // 2)
    low = source(i0, i1)
    full = F.conv_transpose2d(_nchw(low), flipped, stride=2, padding=(0, 1), groups=low.shape[2])
    # Row q of `full` is output row q - 1 + 2 * i0 (the transposed conv's row padding, cropped here).
    return _nhwc(full)[lo + 1 - 2 * i0:hi + 1 - 2 * i0]


def _matmul(x: torch.Tensor, weight: torch.Tensor, out: torch.Tensor) -> None:
    """out (rows, W, Cout) = x (rows, W, Cin) @ weight (Cin, Cout), a 1x1 conv on channels-last rows."""
    torch.mm(x.reshape(-1, x.shape[2]), weight, out=out.view(-1, out.shape[2]))


@dataclass
class _Sep:
    """A SepConv's weights for channels-last bands: (C_in, 1, 3, 3) depthwise, (C_in, C_out) pointwise.

    The depthwise weight and bias, the pointwise weight and the noise are multiplied by act's
    gain sqrt(2) (each is followed by an act; the Up and Down filters are linear in between).
    """

    dw_weight: torch.Tensor
    dw_bias: torch.Tensor
    pw_weight: torch.Tensor
    down: torch.Tensor | None      # (C_in, 1, 4, 4), stride 2
    up: torch.Tensor | None        # (C_out, 1, 4, 4), flipped for conv_transpose2d
    noise: torch.Tensor | None     # (R, R): noise_const * noise_strength * sqrt(2)

    @classmethod
    def of(cls, sep: SepConv) -> _Sep:
        """Takes over `sep`'s tensors, scaling them in place (no second copy of the weights)."""
        out_ch, in_ch = sep.conv2.weight.shape[:2]
        noise = None
        if hasattr(sep, "noise_const"):
            noise = sep.noise_const.mul_(sep.noise_strength).mul_(ACT_GAIN)
        return cls(sep.conv1.weight.mul_(ACT_GAIN), sep.conv1.bias.mul_(ACT_GAIN),
                   sep.conv2.weight.mul_(ACT_GAIN).view(out_ch, in_ch).t(),
                   None if sep.downsample is None else sep.downsample.filter.weight,
                   None if sep.upsample is None else up_filter(sep.upsample.filter.weight),
                   noise)

    @property
    def out_channels(self) -> int:
        return self.pw_weight.shape[1]

    def plain(self, source: Source, height: int) -> Compute:
        """Rows of the output of a SepConv without Up or Down (same height as its input)."""
        def compute(lo: int, hi: int, out: torch.Tensor) -> None:
            _matmul(self._depthwise(source, height, lo, hi), self.pw_weight, out)
            self._noise_act_(lo, hi, out)
        return compute

    def down_sampled(self, source: Source, in_height: int) -> Compute:
        """Rows of the output of a SepConv with Down, from its input's `in_height` rows."""
        def compute(lo: int, hi: int, out: torch.Tensor) -> None:
            # Down reads depthwise rows [2 lo - 1, 2 hi + 1), zero outside the map (its padding).
            # Recomputing the overlap of neighbouring bands is cheaper than another stream.
            d0, d1 = 2 * lo - 1, 2 * hi + 1
            h = self._depthwise(source, in_height, max(d0, 0), min(d1, in_height))
            if d0 < 0 or d1 > in_height:
                h = F.pad(h, (0, 0, 0, 0, max(-d0, 0), max(d1 - in_height, 0)))
            h = F.conv2d(_nchw(h), self.down, stride=2, padding=(0, 1), groups=h.shape[2])
            _matmul(_nhwc(h), self.pw_weight, out)
            _act_(out)
        return compute

    def before_up(self, source: Source, in_height: int) -> Compute:
        """Rows of a SepConv-with-Up's map before its Up: depthwise, act, 1x1 (input resolution).

        A stream of its own, so that the Up's one-row halo does not recompute the 1x1 conv.
        """
        def compute(lo: int, hi: int, out: torch.Tensor) -> None:
            _matmul(self._depthwise(source, in_height, lo, hi), self.pw_weight, out)
        return compute

    def after_up(self, low: Source, height: int, feature: Source) -> Compute:
        """Rows of act(Up(low) + noise) + feature, the synthesis block's `conv1(s) + feats[r]`."""
        def compute(lo: int, hi: int, out: torch.Tensor) -> None:
            torch.add(up_rows(low, self.up, height, lo, hi), self.noise[lo:hi, :, None], out=out)
            _act_(out)
            out.add_(feature(lo, hi))
        return compute

    def _noise_act_(self, lo: int, hi: int, out: torch.Tensor) -> None:
        if self.noise is not None:
            out.add_(self.noise[lo:hi, :, None])
        _act_(out)

    def _depthwise(self, source: Source, height: int, lo: int, hi: int) -> torch.Tensor:
        """act(depthwise 3x3 + bias) rows [lo, hi) of the `height`-row input map."""
        x = _padded(source, lo - 1, hi + 1, height)
        y = F.conv2d(_nchw(x), self.dw_weight, self.dw_bias, padding=(0, 1), groups=x.shape[2])
        return _act_(_nhwc(y))


class LeanMiGan(nn.Module):
    """Drop-in for MiGan: forward((1, 4, 512, 512) input, stages=None) -> (1, 3, 512, 512) output.

    Takes over the weights of `model`, scaling some in place, so the MiGan must not be used
    afterwards; its filter_const buffers and modules are not kept.
    """

    @torch.no_grad()
    def __init__(self, model: MiGan) -> None:
        super().__init__()
        enc, syn = model.encoder, model.synthesis
        fromrgb = enc.b512.fromrgb
        self.fromrgb_weight = fromrgb.weight.mul_(ACT_GAIN).view(fromrgb.out_channels, -1).t()
        self.fromrgb_bias = fromrgb.bias.mul_(ACT_GAIN)
        self.encoder = {r: (_Sep.of(getattr(enc, f"b{r}").conv1), _Sep.of(getattr(enc, f"b{r}").conv2))
                        for r in RESOLUTIONS}
        self.synthesis = {r: (_Sep.of(getattr(syn, f"b{r}").conv1), _Sep.of(getattr(syn, f"b{r}").conv2))
                          for r in RESOLUTIONS}
        self.torgb = {}
        self.img_up = {}
        for r in RESOLUTIONS:
            block = getattr(syn, f"b{r}")
            self.torgb[r] = (block.torgb.weight.view(3, -1).t(), block.torgb.bias)
            if block.upsample is not None:
                self.img_up[r] = up_filter(block.upsample.filter.weight)

    @torch.inference_mode()
    def forward(self, x: torch.Tensor, stages: dict[str, torch.Tensor] | None = None,
                rows: tuple[int, int] | None = None) -> torch.Tensor:
        """x (1, 4, 512, 512) float32 -> (1, 3, 512, 512) float32 RGB, nominally [-1, 1].

        rows: (lo, hi), only output rows [lo, hi) are wanted (the others are left 0): the
        encoder still runs whole (every output row depends on the bottleneck), but the
        synthesis and its recomputed skip features at 64 and above compute only the rows
        those output rows depend on (RowStream's `first`; see _first_rows), which is most of
        the work. Runs in inference mode (its in-place writes do not support autograd).
        """
        check_input(x)
        if rows is not None and (stages is not None or not 0 <= rows[0] < rows[1] <= RESOLUTION):
            raise ValueError(f"rows must be 0 <= lo < hi <= 512 and without stages, got {rows}")
        lo, hi = rows or (0, RESOLUTION)
        records = _Records(stages)
        stored, bottleneck = self._encode(x, records)
        out = self._synthesise(x, stored, bottleneck, records, lo, hi)
        records.finish()
        return out

    def _encode(self, x: torch.Tensor, records: _Records) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
        """The stored skip features {r: (r, r, ch(r))}, r < RECOMPUTED_FROM, and the (4, 4, 512) bottleneck."""
        source = self._input_features(x)
        stored = {}
        band_512 = ENCODER_BAND_512
        for r in RESOLUTIONS:
            feat = self._feature_stream(r, source, band_512, records.new(f"encoder_feats.{r}", r, channels(r)))
            if r < RECOMPUTED_FROM:
                stored[r] = _materialise(feat.reader(), r, _band(r, band_512))
                source = self._block_output(r, Stored(stored[r]), band_512)
            else:
                source = self._block_output(r, feat.reader(), band_512)
        bottleneck = source(0, 4).clone()
        records.put("encoder_out", bottleneck)
        return stored, bottleneck

    def _input_features(self, x: torch.Tensor) -> Source:
        """act(fromrgb(x)) rows (rows, 512, 64) from the NCHW input; cheap enough to recompute halos."""
        def rows(lo: int, hi: int) -> torch.Tensor:
            pixels = x[0, :, lo:hi].permute(1, 2, 0).reshape(-1, x.shape[1])
            return _act_(torch.addmm(self.fromrgb_bias, pixels, self.fromrgb_weight)).view(hi - lo, RESOLUTION, -1)
        return rows

    def _feature_stream(self, r: int, source: Source, band_512: int, record: torch.Tensor | None = None,
                        first: int = 0) -> RowStream:
        """feats[r] = encoder b{r}.conv1 of the block's input `source`."""
        return RowStream(r, r, channels(r), self.encoder[r][0].plain(source, r), _band(r, band_512), record,
                         first)

    def _block_output(self, r: int, feat: Source, band_512: int, first: int = 0) -> Source:
        """Rows of encoder block b{r}'s output, conv2(feats[r]): (r/2, r/2, ch(r/2)); b4: (4, 4, 512)."""
        conv2 = self.encoder[r][1]
        if conv2.down is None:
            return RowStream(r, r, conv2.out_channels, conv2.plain(feat, r), _band(r, band_512)).reader()
        half = r // 2
        return RowStream(half, half, conv2.out_channels, conv2.down_sampled(feat, r),
                         _band(half, band_512), first=first).reader()

    def _recomputed_features(self, x: torch.Tensor, first: _FirstRows) -> dict[int, Source]:
        """Readers of feats[r] for r >= RECOMPUTED_FROM, recomputed band by band from the input."""
        readers = {}
        for group in FEATURE_CHAINS:
            source = self._input_features(x)
            chain = first.chain(group)
            for r in RESOLUTIONS:
                feat = self._feature_stream(r, source, SYNTHESIS_BAND_512, first=chain[("feat", r)])
                if r in group:
                    readers[r] = feat.reader()
                if r == min(group):
                    break
                source = self._block_output(r, feat.reader(), SYNTHESIS_BAND_512, first=chain[("h", r // 2)])
        return readers

    def _synthesise(self, x: torch.Tensor, stored: dict[int, torch.Tensor], bottleneck: torch.Tensor,
                    records: _Records, lo: int = 0, hi: int = RESOLUTION) -> torch.Tensor:
        """The (1, 3, 512, 512) output: blocks b4 .. b512 as streams, pulled band by band by the image at 512.

        Per block r: `low` (before Up, r/2 rows), t = conv1(s) + feats[r], s = conv2(t) and
        img[r], each a stream reading the one before; feats[r] is stored or recomputed.
        Only output rows [lo, hi) are pulled (the rest of `out` stays 0), and every stream
        starts at the first row that they need (_FirstRows).
        """
        first = _FirstRows(lo)
        feats: dict[int, Source] = {r: Stored(t) for r, t in stored.items()}
        feats.update(self._recomputed_features(x, first))
        s_source: Source = Stored(bottleneck)
        img_source: Source | None = None
        for r in reversed(RESOLUTIONS):
            conv1, conv2 = self.synthesis[r]
            ch, band = channels(r), _band(r, SYNTHESIS_BAND_512)
            if conv1.up is None:
                t = RowStream(r, r, ch, _plus(conv1.plain(s_source, r), feats.pop(r)), band)
            else:
                half = r // 2
                low = RowStream(half, half, ch, conv1.before_up(s_source, half), _band(half, SYNTHESIS_BAND_512),
                                first=first.get("low", r))
                t = RowStream(r, r, ch, conv1.after_up(low.reader(), r, feats.pop(r)), band,
                              first=first.get("t", r))
            s = RowStream(r, r, ch, conv2.plain(t.reader(), r), band, records.new(f"synthesis_x.{r}", r, ch),
                          first=first.get("s", r))
            img = RowStream(r, r, 3, self._img_compute(r, s.reader(), img_source), band,
                            records.new(f"synthesis_img.{r}", r, 3), first=first.get("img", r))
            img_source = img.reader()
            if r < RESOLUTION:
                # Only created when it will read: a reader that never reads keeps every row.
                s_source = s.reader()
        out = torch.zeros(1, 3, RESOLUTION, RESOLUTION) if (lo, hi) != (0, RESOLUTION) else \
            torch.empty(1, 3, RESOLUTION, RESOLUTION)
        band = _band(RESOLUTION, SYNTHESIS_BAND_512)
        for start in range(lo, hi, band):
            stop = min(start + band, hi)
            out[0, :, start:stop] = img_source(start, stop).permute(2, 0, 1)
        return out

    def _img_compute(self, r: int, s: Source, previous: Source | None) -> Compute:
        """Rows of img[r] = Up(img[r / 2]) + torgb(s[r]); b4: torgb(s[4])."""
        weight, bias = self.torgb[r]

        def compute(lo: int, hi: int, out: torch.Tensor) -> None:
            rows = s(lo, hi)
            torch.addmm(bias, rows.reshape(-1, rows.shape[2]), weight, out=out.view(-1, 3))
            if previous is not None:
                out.add_(up_rows(previous, self.img_up[r], r, lo, hi))
        return compute


class _FirstRows:
    """The first row each synthesis stream at 64 and above must compute, so that output rows
    from `lo` on come out exactly as in a whole pass (lower levels are whole: they are cheap).

    Derived backwards from what each computation reads: a 3x3 conv (plain, before_up) reads
    its input from one row above; Up (up_rows) rows from (lo - 1) // 2 of its half-height
    input; a Down (down_sampled) rows from 2 lo - 2; img[r] reads s[r] and img[r / 2]; s[r]
    is also read by the next block's `low`; t[r] reads feats[r] at its own rows.
    """

    def __init__(self, lo: int) -> None:
        self.rows: dict[tuple[str, int], int] = {}
        img = lo
        for r in RESOLUTIONS:   # 512 first: each level's needs follow from the one above
            if r < RECOMPUTED_FROM:
                break
            s = img if r == RESOLUTION else min(img, max(self.rows[("low", 2 * r)] - 1, 0))
            t = max(s - 1, 0)
            self.rows.update({("img", r): img, ("s", r): s, ("t", r): t, ("low", r): max((t - 1) // 2, 0)})
            img = max((img - 1) // 2, 0)

    def get(self, stream: str, r: int) -> int:
        return self.rows.get((stream, r), 0)

    def chain(self, group: tuple[int, ...]) -> dict[tuple[str, int], int]:
        """First rows of a recomputed-feature chain from the input to min(group): its
        feature streams ("feat", r) and block outputs ("h", r) (encoder b{2r}.conv2, r rows)."""
        lowest = min(group)
        need = self.get("t", lowest)     # t[r] reads feats[r] at its own rows
        rows = {("feat", lowest): need}
        r = lowest
        while r < RESOLUTION:
            h = max(need - 1, 0)          # feats[r] (a 3x3 conv) reads h from a row above
            rows[("h", r)] = h
            need = max(2 * h - 2, 0)      # h (with Down) reads feats[2 r] from 2 h - 2
            r *= 2
            if r in group:
                need = min(need, self.get("t", r))
            rows[("feat", r)] = need
        return rows


def _plus(compute: Compute, feature: Source) -> Compute:
    """compute's rows plus the same rows of `feature`."""
    def with_feature(lo: int, hi: int, out: torch.Tensor) -> None:
        compute(lo, hi, out)
        out.add_(feature(lo, hi))
    return with_feature


class _Records:
    """Whole-map records of the stages when the caller asked for them, as NCHW-shaped views."""

    def __init__(self, stages: dict[str, torch.Tensor] | None) -> None:
        self.stages = stages
        self.maps: dict[str, torch.Tensor] = {}

    def new(self, name: str, resolution: int, channels_: int) -> torch.Tensor | None:
        """An empty (r, r, C) map for a stream to fill, or None when not recording."""
        if self.stages is None:
            return None
        self.maps[name] = torch.empty(resolution, resolution, channels_)
        return self.maps[name]

    def put(self, name: str, rows: torch.Tensor) -> None:
        if self.stages is not None:
            self.stages[name] = _nchw(rows)

    def finish(self) -> None:
        if self.stages is not None:
            for name, rows in self.maps.items():
                self.stages[name] = _nchw(rows)
