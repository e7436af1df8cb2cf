"""Reading a checkpoint (a plain state dict, fp16 or fp32) and checking it against the network
it is for (MobileSAM, MI-GAN). Imports nothing from the rest of `handler`."""
from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

_EXAMPLES = 3


class CheckpointError(ValueError):
    """The checkpoint cannot be used; the message says why (never the file's path)."""


def read_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    """The state dict in `path`, memory-mapped when the file is a zip (torch.save's format).

    Raises CheckpointError when the file is missing, unreadable, or not a mapping of names to tensors.
    """
    path = Path(path)
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


def check_layout(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], what: str) -> None:
    """CheckpointError naming the first missing keys, unexpected keys and wrong shapes, if any."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [f"{k} {list(state[k].shape)} (expected {list(v.shape)})"
                   for k, v in expected.items() if k in state and state[k].shape != v.shape]
    problems = [_describe(missing, "missing key"), _describe(unexpected, "unexpected key"),
                _describe(wrong_shape, "wrong shape")]
    problems = [p for p in problems if p]
    if problems:
        raise CheckpointError(f"checkpoint does not match {what}: " + "; ".join(problems))


def conformed(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor],
              what: str) -> dict[str, torch.Tensor]:
    """Copies of `state`'s tensors in the expected dtypes (fp16 -> fp32; a counter such as
    BatchNorm's num_batches_tracked may come as any number), after check_layout.

    Copies, so the weights live in the process's own memory rather than in the memory-mapped
    file, which can then be closed.
    """
    check_layout(state, expected, what)
    out = {}
    for k, v in expected.items():
        if v.is_floating_point() and not state[k].is_floating_point():
            raise CheckpointError(f"checkpoint tensor {k} is not floating point ({state[k].dtype})")
        out[k] = state[k].to(v.dtype, copy=True)
    return out


def _describe(items: list[str], what: str) -> str:
    if not items:
        return ""
    plural = "s" if len(items) > 1 else ""
    more = ", ..." if len(items) > _EXAMPLES else ""
    return f"{len(items)} {what}{plural} ({', '.join(items[:_EXAMPLES])}{more})"
