"""Helpers of the MI-GAN tests and benches."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from .paths import SAMPLES


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block with torch at 1 thread, as the service and the reference do.

    At 2 threads on a busy machine, the lean execution's thousands of small ops each wait at
    a barrier for a descheduled thread: forwards took 2-10 s instead of ~1.3 s.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def random_migan_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A MiGan state dict of seeded random values in the published layout (filter_const as
    the network builds it). Its output is noise: for tests of loading, the lifecycle,
    memory and speed, never of the fill's look."""
    from handler.inpainting.migan import MiGan

    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, tensor in MiGan().state_dict().items():
        if key.endswith("filter_const"):
            state[key] = tensor
        elif key.endswith("noise_strength"):
            state[key] = torch.rand((), generator=generator) * 0.2 + 0.05
        elif key.endswith("filter.weight"):
            state[key] = torch.rand(tensor.shape, generator=generator) / 4
        else:
            state[key] = torch.randn(tensor.shape, generator=generator) * 0.05
    return state


def write_random_migan_checkpoint(path: Path, seed: int = 0) -> Path:
    """random_migan_state(seed) saved as a plain fp32 state dict (the published format) at `path`."""
    torch.save(random_migan_state(seed), path)
    return path


def write_traced_migan(path: Path, seed: int = 0) -> Path:
    """The random-weights generator traced with TorchScript and saved at `path`, as IOPaint
    publishes migan_traced.pt (takes ~10 s: the trace runs the literal network once)."""
    import warnings

    from handler.inpainting.migan import MiGan

    model = MiGan().eval().requires_grad_(False)
    model.load_state_dict(random_migan_state(seed))
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")   # TracerWarnings of the input check
        traced = torch.jit.trace(model, torch.zeros(1, 4, 512, 512), check_trace=False)
    traced.save(str(path))
    return path


def photo_with_hole() -> torch.Tensor:
    """The generator's (1, 4, 512, 512) input: samples/scene.jpg cropped to a square and
    resized to 512, with an elliptic hole."""
    from handler.inpainting.pixels import to_model_input

    image = Image.open(SAMPLES / "scene.jpg").convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    pixels = np.asarray(image.crop((left, top, left + side, top + side)).resize((512, 512), Image.BILINEAR))
    hole = np.zeros((512, 512), np.uint8)
    cv2.ellipse(hole, (260, 300), (90, 140), 20, 0, 360, 1, -1)
    return to_model_input(pixels, hole == 0)
