"""Checkpoints of the MI-GAN tests: random weights the tests make themselves (no shared data)."""
from __future__ import annotations

import pytest

from support.migan import write_random_migan_checkpoint, write_traced_migan


@pytest.fixture(scope="session")
def migan_checkpoint(tmp_path_factory):
    """A plain fp32 state dict of random weights, the published layout."""
    return write_random_migan_checkpoint(tmp_path_factory.mktemp("migan") / "migan_512_places2.pt")


@pytest.fixture(scope="session")
def traced_migan(tmp_path_factory):
    """The random-weights generator as a TorchScript trace, like IOPaint's migan_traced.pt."""
    return write_traced_migan(tmp_path_factory.mktemp("migan_trace") / "migan_traced.pt")
