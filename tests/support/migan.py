"""Helpers of the MI-GAN tests."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


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
