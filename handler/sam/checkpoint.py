"""Loading a MobileSAM vit_t checkpoint (a plain state dict, fp32 or fp16) into a MobileSam."""
from __future__ import annotations

from pathlib import Path

import torch

from ..models.state_dict import CheckpointError, conformed, read_state_dict
from .model import MobileSam

__all__ = ["CheckpointError", "load_mobile_sam"]


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
    model.load_state_dict(conformed(read_state_dict(path), model.state_dict(), "MobileSAM vit_t"),
                          strict=True, assign=True)
    model.prepare()
    if optimise:
        from .decoder_lean import LeanMaskDecoder
        from .encoder_lean import LeanImageEncoder

        model.image_encoder = LeanImageEncoder(model.image_encoder)
        model.mask_decoder = LeanMaskDecoder(model.mask_decoder)
        # Channels-last is the decoder's row-major token layout: read without a copy.
        model.image_pe = model.image_pe.contiguous(memory_format=torch.channels_last)
    return model
