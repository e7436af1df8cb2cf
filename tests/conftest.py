"""Fixtures shared across the suite: a configured function and its client, test images, golden data.

A test that needs other settings builds its own function from `config`:
`client_for(create_handler(replace(config, auth_max_failures=3)))`.
"""
from __future__ import annotations

import numpy as np
import pytest

from handler.edge import Function, create_handler
from handler.platform.config import Config

from support.function import client_for, upload_image
from support.images import synthetic_product, synthetic_scene
from support.paths import GOLDEN


@pytest.fixture
def config(tmp_path) -> Config:
    """A fresh function configuration: password set, store in tmp_path, offline segmenter."""
    from support.function import PASSWORD

    return Config(app_password=PASSWORD, temp_dir=tmp_path / "store", segmenter="grabcut",
                  model_cache_dir=tmp_path / "models")


@pytest.fixture
def function(config) -> Function:
    return create_handler(config)


@pytest.fixture
def client(function):
    return client_for(function)


@pytest.fixture
def upload(client):
    """upload(pixels, kind="scene") -> the upload's JSON answer, through `client`."""
    return lambda pixels, kind="scene": upload_image(client, pixels, kind)


@pytest.fixture(scope="session")
def scene_pixels() -> np.ndarray:
    return synthetic_scene()


@pytest.fixture(scope="session")
def product_pixels() -> np.ndarray:
    return synthetic_product()


@pytest.fixture(scope="session")
def golden() -> dict:
    """The reference outputs and random weights of ../shared/mobilesam/golden_vit_t.pt; tests
    that use it skip, saying why, where the shared data is absent."""
    if not GOLDEN.is_file():
        pytest.skip(f"golden data absent: {GOLDEN} not found (it lives in ../shared beside the repository)")
    import torch

    return torch.load(GOLDEN, weights_only=True)


@pytest.fixture(scope="session")
def scene():
    """A synthetic 1280x960 ad scene with an old product at a known mask (support/scenes.py)."""
    from support.scenes import make_scene

    return make_scene()


@pytest.fixture(scope="session")
def jar():
    """A replacement product with known alpha (support/scenes.py)."""
    from support.scenes import jar_rgba

    return jar_rgba()
