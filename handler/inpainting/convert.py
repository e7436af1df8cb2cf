"""IOPaint's TorchScript trace of the MI-GAN 512 generator (migan_traced.pt) -> a plain state dict.

The trace takes the same 4-channel input as migan.MiGan and its state_dict() has the same
keys; the plain state dict that this writes is what load_migan reads (weights only, no code).
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import torch

from ..models.state_dict import CheckpointError, check_layout
from .migan import MiGan


def convert_traced_checkpoint(traced_path: Path, out_path: Path) -> None:
    """Write the weights of the TorchScript file `traced_path` to `out_path` as a plain state dict.

    Tensors keep the trace's dtype. The output appears atomically (a temporary file in the
    same directory, fsync-ed, then renamed), so a failure never leaves a partial file at
    out_path. Raises CheckpointError when the trace cannot be loaded or its keys or shapes
    differ from migan.MiGan's. torch.jit.load runs the archive's TorchScript code, so only
    convert files from a trusted source.
    """
    traced_path, out_path = Path(traced_path), Path(out_path)
    if not traced_path.is_file():
        raise CheckpointError("traced checkpoint file not found")
    try:
        with warnings.catch_warnings():
            # TorchScript is deprecated, but it is the format IOPaint publishes.
            warnings.simplefilter("ignore", DeprecationWarning)
            traced = torch.jit.load(str(traced_path), map_location="cpu")
        state = {k: v.detach().contiguous() for k, v in traced.state_dict().items()}
    except Exception as exc:  # torch.jit.load fails in many ways on foreign or damaged bytes
        raise CheckpointError(f"traced checkpoint is unreadable or not TorchScript ({type(exc).__name__})") from None
    with torch.device("meta"):
        expected = MiGan().state_dict()
    check_layout(state, expected, "the MI-GAN 512 generator")
    _save_atomically(state, out_path)


def _save_atomically(state: dict[str, torch.Tensor], out_path: Path) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            torch.save(state, tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, out_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    # The rename itself is durable only once the directory entry is on disk.
    dir_fd = os.open(out_path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
