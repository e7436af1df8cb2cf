"""Lean execution of the SAM mask decoder: same weights, same math, a fraction of the work.

What differs from mask_decoder.MaskDecoder (all equivalent up to float32 rounding):
- Image tokens stay one row-major (4096, 256) matrix; a channels-last embedding or
  positional encoding is read as such without a copy. No head split/merge copies.
- Cross-attention never projects the 4096 image tokens to q/k/v. Token -> image: each head's
  query is pulled through the key projection (q_h Wk_h), so the scores of all heads are one
  (heads * T, 256) @ (256, 4096) product; as softmax rows sum to 1, the value projection is
  applied after the weighted sum of the raw image tokens. Image -> token: the projected
  token keys are pulled through the query projection, and the value and output projections
  are merged per head, so the image-token update is one (4096, heads * T) @ (heads * T, 256)
  product. A query's key-bias term q_h . bk_h is the same for every key and cancels in the
  softmax, so it is dropped.
- output_upscaling: a ConvTranspose2d with kernel 2, stride 2 maps each input pixel to its own
  2x2 output block, i.e. a per-pixel matmul; both are matmuls on token rows in chunks, the
  LayerNorm2d over channels a plain layer_norm, and the pixel shuffle is done once, on the
  final (C, 256, 256) logits.
- Only the masks asked for get their hypernetwork MLP and mask product.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .mask_decoder import MaskDecoder
from .transformer import DIM, Attention

GRID = 64
# Image tokens per upscaling chunk: its three intermediates (1 + 1 + 2 MB) fill exactly the
# (4096, 256) scratch map.
UPSCALE_CHUNK_TOKENS = GRID * GRID // 4


def _gelu_(x: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten.gelu_(x)


def _tokens(nchw: torch.Tensor) -> torch.Tensor:
    """(1, C, H, W) -> (H * W, C) row-major tokens; a view when the map is channels-last."""
    return nchw[0].permute(1, 2, 0).reshape(-1, nchw.shape[1])


def _per_pixel_matrix(conv: nn.ConvTranspose2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight (C_in, 4 * C_out) with columns ordered (a, b, c_out) for output pixel (2i + a, 2j + b), and its bias."""
    c_in, c_out = conv.in_channels, conv.out_channels
    weight = conv.weight.permute(0, 2, 3, 1).reshape(c_in, 4 * c_out).contiguous()
    return weight, conv.bias.repeat(4)


class LeanMaskDecoder(nn.Module):
    """Drop-in for MaskDecoder.predict; keeps the original submodules (and their weights)."""

    def __init__(self, decoder: MaskDecoder) -> None:
        super().__init__()
        self.transformer = decoder.transformer
        self.iou_token = decoder.iou_token
        self.mask_tokens = decoder.mask_tokens
        self.output_upscaling = decoder.output_upscaling
        self.output_hypernetworks_mlps = decoder.output_hypernetworks_mlps
        self.iou_prediction_head = decoder.iou_prediction_head
        self.upscale_a = _per_pixel_matrix(self.output_upscaling[0])
        self.upscale_b = _per_pixel_matrix(self.output_upscaling[3])

    def predict(self, image_embedding: torch.Tensor, image_pe: torch.Tensor, sparse: torch.Tensor,
                dense: torch.Tensor, choose: Callable[[torch.Tensor], list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """As MaskDecoder.predict (batch 1): masks (1, C, 256, 256) and iou (1, C) of the chosen masks.

        dense must be constant over the grid (the 'no mask' embedding); it is read at (0, 0).
        """
        tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight, sparse[0]])
        # The image tokens and one scratch map of the same size are all the 4 MB buffers a call
        # needs: fresh ones cost page faults on every call.
        keys, scratch = image_embedding.new_empty(2, GRID * GRID, DIM)
        # Contiguous whatever the embedding's layout: a transposed (NCHW) one would make every
        # later elementwise op and layer norm several times slower.
        torch.add(_tokens(image_embedding), dense[0, :, 0, 0], out=keys)
        tokens_out, keys, scratch = self._transformer(tokens, keys, scratch, _tokens(image_pe))
        iou = self.iou_prediction_head(tokens_out[0])
        chosen = choose(iou[None])
        hyper = torch.stack([self.output_hypernetworks_mlps[m](tokens_out[1 + m]) for m in chosen])
        return self._masks(keys, hyper, scratch)[None], iou[chosen][None]

    def _transformer(self, tokens: torch.Tensor, keys: torch.Tensor, scratch: torch.Tensor,
                     pe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """TwoWayTransformer on tokens (T, 256), image tokens (4096, 256) and their PE (4096, 256).

        Overwrites keys and scratch (4096, 256); returns the output tokens, then the output
        image tokens and the free scratch map (keys and scratch in some order).
        """
        queries = tokens
        for layer in self.transformer.layers:
            if layer.skip_first_layer_pe:
                queries = layer.self_attn(queries[None], queries[None], queries[None])[0]
            else:
                q = (queries + tokens)[None]
                queries = queries + layer.self_attn(q, q, queries[None])[0]
            queries = layer.norm1(queries)
            keys_pe = torch.add(keys, pe, out=scratch)
            attended = _token_to_image(layer.cross_attn_token_to_image, queries + tokens, keys_pe, keys)
            queries = layer.norm2(queries + attended)
            queries = layer.norm3(queries + layer.mlp(queries))
            _image_to_token_(layer.cross_attn_image_to_token, keys_pe, queries + tokens, queries, keys)
            keys, scratch = _layer_norm(layer.norm4, keys, out=scratch), keys
        keys_pe = torch.add(keys, pe, out=scratch)
        final = self.transformer.final_attn_token_to_image
        queries = self.transformer.norm_final_attn(queries + _token_to_image(final, queries + tokens, keys_pe, keys))
        return queries, keys, scratch

    def _masks(self, keys: torch.Tensor, hyper: torch.Tensor, scratch: torch.Tensor) -> torch.Tensor:
        """Image tokens (4096, 256), hypernetwork outputs (C, 32) -> mask logits (C, 256, 256).

        The intermediates of each chunk of tokens live in `scratch` (4096, 256), overwritten.
        """
        (weight_a, bias_a), (weight_b, bias_b) = self.upscale_a, self.upscale_b
        norm = self.output_upscaling[1]
        chunk = UPSCALE_CHUNK_TOKENS
        wide, normed, wider = scratch.view(-1).split([chunk * DIM, chunk * DIM, 2 * chunk * DIM])
        # Column order of `flat`: token (i, j), then (a, b) of the first and (a2, b2) of the second
        # upscaling, i.e. pixel (4i + 2a + a2, 4j + 2b + b2).
        flat = keys.new_empty(hyper.shape[0], keys.shape[0] * 16)
        for t0 in range(0, keys.shape[0], chunk):
            x = torch.addmm(bias_a, keys[t0:t0 + chunk], weight_a, out=wide.view(chunk, -1))
            x = _layer_norm(norm, x.view(-1, weight_b.shape[0]), out=normed.view(-1, weight_b.shape[0]))
            x = torch.addmm(bias_b, _gelu_(x), weight_b, out=wider.view(-1, weight_b.shape[1]))
            x = _gelu_(x).view(-1, hyper.shape[1])
            # One product per mask, so a mask's logits do not depend on which others are asked for.
            for m, weights in enumerate(hyper):
                torch.mv(x, weights, out=flat[m, 16 * t0:16 * (t0 + chunk)])
        side = 4 * GRID
        return flat.view(-1, GRID, GRID, 2, 2, 2, 2).permute(0, 1, 3, 5, 2, 4, 6).reshape(-1, side, side)


def _layer_norm(norm: nn.Module, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """norm (a LayerNorm or LayerNorm2d: over the last dim of x (N, C)) written into out (N, C)."""
    stats = x.new_empty(2, x.shape[0], 1)
    torch.ops.aten.native_layer_norm.out(x, [x.shape[1]], norm.weight, norm.bias, norm.eps,
                                         out0=out, out1=stats[0], out2=stats[1])
    return out


def _heads_of(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """(heads * d, DIM) projection weight -> (heads, d, DIM)."""
    return weight.view(heads, -1, weight.shape[1])


def _token_to_image(attn: Attention, queries: torch.Tensor, keys_pe: torch.Tensor,
                    keys: torch.Tensor) -> torch.Tensor:
    """attn(q = queries (T, 256), k = keys_pe, v = keys (4096, 256)) -> (T, 256), keys never projected."""
    t, h = queries.shape[0], attn.heads
    q = attn.q_proj(queries).view(t, h, -1).transpose(0, 1)
    q = q * q.shape[-1] ** -0.5
    pulled = torch.bmm(q, _heads_of(attn.k_proj.weight, h)).view(h * t, DIM)
    probs = torch.mm(pulled, keys_pe.t()).softmax(-1)
    mixed = torch.mm(probs, keys).view(h, t, DIM)
    values = torch.baddbmm(attn.v_proj.bias.view(h, 1, -1), mixed, _heads_of(attn.v_proj.weight, h).transpose(1, 2))
    return attn.out_proj(values.transpose(0, 1).reshape(t, -1))


def _image_to_token_(attn: Attention, keys_pe: torch.Tensor, queries_pe: torch.Tensor, queries: torch.Tensor,
                     keys: torch.Tensor) -> torch.Tensor:
    """keys (4096, 256) += attn(q = keys_pe, k = queries_pe, v = queries (T, 256)), in place; returns keys."""
    t, h = queries.shape[0], attn.heads
    k = attn.k_proj(queries_pe).view(t, h, -1).transpose(0, 1)
    k = k * k.shape[-1] ** -0.5
    pulled = torch.bmm(k, _heads_of(attn.q_proj.weight, h)).view(h * t, DIM)
    key_bias = torch.bmm(k, attn.q_proj.bias.view(h, -1, 1)).view(h * t, 1)
    # Scores transposed, (heads * T, 4096): the softmax over a head's T keys then runs along
    # dim 1 of (heads, T, 4096), vectorised over the image tokens (over a last dim of
    # size T it is ~20x slower).
    probs = torch.addmm(key_bias, pulled, keys_pe.t()).view(h, t, -1).softmax(1).view(h * t, -1)
    values = attn.v_proj(queries).view(t, h, -1).transpose(0, 1)
    out_weight = attn.out_proj.weight.view(DIM, h, -1).permute(1, 2, 0)
    merged = torch.bmm(values, out_weight)
    # Each head's probabilities sum to 1 per image token, so adding bias / heads to every row
    # of every head's merged matrix adds the output bias exactly once.
    merged = (merged + attn.out_proj.bias / h).view(h * t, DIM)
    return keys.addmm_(probs.t(), merged)
