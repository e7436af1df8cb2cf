"""Checkpoints of the published format (a plain state dict) that tests can write."""
from __future__ import annotations

from pathlib import Path

import torch

from handler.sam.model import MobileSam


def random_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """MobileSAM vit_t weights drawn at random (seeded), BatchNorm statistics neutral, with the
    single-mask hypernetwork set to a constant positive output so that masks are not empty.
    For tests of loading, the lifecycle, memory and lean-vs-literal agreement; the golden tests
    check the masks themselves."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, tensor in MobileSam().state_dict().items():
        if key.endswith("running_var"):
            state[key] = torch.ones_like(tensor)
        elif key.endswith("running_mean") or not tensor.is_floating_point():
            state[key] = torch.zeros_like(tensor)
        else:
            state[key] = torch.randn(tensor.shape, generator=generator) * 0.05
    state["mask_decoder.output_hypernetworks_mlps.0.layers.2.weight"].zero_()
    state["mask_decoder.output_hypernetworks_mlps.0.layers.2.bias"].fill_(1.0)
    return state


def write_random_checkpoint(path: Path, seed: int = 0) -> Path:
    """random_state_dict(seed) saved as an fp32 checkpoint at `path`."""
    torch.save(random_state_dict(seed), path)
    return path
