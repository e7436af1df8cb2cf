"""Loading a MobileSAM vit_t checkpoint (a plain state dict, fp32 or fp16) into a MobileSam."""
from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from .model import MobileSam

_EXAMPLES = 3


class CheckpointError(ValueError):
    """The checkpoint cannot be used; the message says why (never the file's path)."""


def load_mobile_sam(path: Path, *, optimise: bool = True) -> MobileSam:
    """Build a MobileSam in eval mode, without gradients, with the weights of `path`.

    optimise=True folds BatchNorm and switches the image encoder and mask decoder to the lean
    execution of encoder_lean.py and decoder_lean.py (same math, faster, far smaller peak
    memory); optimise=False keeps the literal reference computation. Raises CheckpointError
    when the file is missing, unreadable, not a state dict, or does not match the model's
    keys and shapes.
    """
    path = Path(path)
    with torch.device("meta"):
        model = MobileSam()
    # The weights are copied out of the memory-mapped file, whose mapping is released on
    # return: callers may then drop the file from the page cache.
    model.load_state_dict(_conformed(_read_state_dict(path), model.state_dict()), strict=True, assign=True)
    model.prepare()
    if optimise:
        from .decoder_lean import LeanMaskDecoder
        from .encoder_lean import LeanImageEncoder

        model.image_encoder = LeanImageEncoder(model.image_encoder)
        model.mask_decoder = LeanMaskDecoder(model.mask_decoder)
        # Channels-last is the decoder's row-major token layout: read without a copy.
        model.image_pe = model.image_pe.contiguous(memory_format=torch.channels_last)
    return model


def _read_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError("checkpoint file not found")
    # mmap needs the zip format of torch.save; legacy files are read into memory instead.
    use_mmap = zipfile.is_zipfile(path)
    try:
        state = torch.load(path, weights_only=True, map_location="cpu", mmap=use_mmap)
    except Exception as exc:  # torch.load fails in many ways on foreign or damaged bytes
        raise CheckpointError(f"checkpoint file is unreadable or corrupt ({type(exc).__name__})") from None
    if not isinstance(state, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError(f"checkpoint is not a state dict of tensors (found {type(state).__name__})")
    return state


def _conformed(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Copies of `state`'s tensors in the expected dtypes (fp16 -> fp32); CheckpointError on any key/shape mismatch."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [f"{k} {list(state[k].shape)} (expected {list(v.shape)})"
                   for k, v in expected.items() if k in state and state[k].shape != v.shape]
    problems = [_describe(missing, "missing key"), _describe(unexpected, "unexpected key"),
                _describe(wrong_shape, "wrong shape")]
    problems = [p for p in problems if p]
    if problems:
        raise CheckpointError("checkpoint does not match MobileSAM vit_t: " + "; ".join(problems))
    # Copies, so the weights live in the process's own memory instead of lazily faulting in
    # from the memory-mapped file during the first encode.
    return {k: state[k].to(v.dtype, copy=True) for k, v in expected.items()}


def _describe(items: list[str], what: str) -> str:
    if not items:
        return ""
    plural = "s" if len(items) > 1 else ""
    more = ", ..." if len(items) > _EXAMPLES else ""
    return f"{len(items)} {what}{plural} ({', '.join(items[:_EXAMPLES])}{more})"
