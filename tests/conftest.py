"""Fixtures shared by the HTTP-level tests: a configured function, a client, test images."""
from __future__ import annotations

import contextlib
import io
import threading

import cv2
import functions_framework
import numpy as np
import pytest
from paths import GOLDEN, REPO
from PIL import Image

from handler.runtime import reset_runtime

PASSWORD = "correct horse battery staple"
AUTH = {"X-App-Password": PASSWORD}


@pytest.fixture
def function_env(monkeypatch, tmp_path):
    """A fresh function configuration: password set, store in tmp_path, offline segmenter."""
    for name in ("SECRET_KEY", "MODEL_URL", "MODEL_SHA256", "MODEL_PRELOAD", "CORS_ORIGINS", "TRUST_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_PASSWORD", PASSWORD)
    monkeypatch.setenv("TEMP_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("SEGMENTER", "grabcut")
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "models"))
    reset_runtime()
    yield monkeypatch
    reset_runtime()


@pytest.fixture(scope="session")
def app():
    return functions_framework.create_app("handler", str(REPO / "main.py"))


@pytest.fixture
def client(app, function_env):
    return app.test_client()


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes(pixels: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=92, **options)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def scene_pixels() -> np.ndarray:
    """A 640x480 scene: a textured wall, a table, and a red box-shaped product at PRODUCT_BOX."""
    rng = np.random.default_rng(7)
    rows = np.linspace(170, 215, 480, dtype=np.float32)[:, None, None]
    scene = np.repeat(np.repeat(rows, 640, axis=1), 3, axis=2) * np.array([1.0, 0.97, 0.9], np.float32)
    scene[360:] *= 0.6
    scene += rng.normal(0, 4, scene.shape)
    cv2.rectangle(scene, (260, 150), (379, 379), (200, 40, 35), -1)
    cv2.rectangle(scene, (260, 230), (379, 260), (240, 230, 220), -1)
    return np.clip(scene, 0, 255).astype(np.uint8)


PRODUCT_BOX = [250, 140, 390, 390]


@pytest.fixture(scope="session")
def product_pixels() -> np.ndarray:
    """A 200x300 RGBA product: a green shaded disc on a transparent background."""
    product = np.zeros((300, 200, 4), np.uint8)
    cv2.ellipse(product, (100, 150), (80, 140), 0, 0, 360, (30, 170, 60, 255), -1)
    cv2.ellipse(product, (80, 110), (25, 50), 0, 0, 360, (120, 230, 140, 255), -1)
    return product


@pytest.fixture
def upload(client):
    """Upload pixels as `kind`; returns the JSON answer."""

    def _upload(pixels: np.ndarray, kind: str = "scene") -> dict:
        response = client.post("/upload", headers=AUTH,
                               data={"image": (io.BytesIO(png_bytes(pixels)), "image.png"), "kind": kind})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return _upload


@contextlib.contextmanager
def mask_request_in_background(app, image_id: str):
    """A mask request for image_id runs in another thread for the duration of the block."""
    worker = threading.Thread(target=lambda: app.test_client().post(
        "/process", json={"image_id": image_id, "box": PRODUCT_BOX}, headers=AUTH))
    worker.start()
    try:
        yield
    finally:
        worker.join(60)


needs_golden = pytest.mark.skipif(not GOLDEN.is_file(), reason=f"golden data absent: {GOLDEN} not found")


@pytest.fixture(scope="session")
def golden() -> dict:
    """The reference outputs and random weights of ../shared/mobilesam/golden_vit_t.pt."""
    import torch

    return torch.load(GOLDEN, weights_only=True)


@pytest.fixture(scope="session")
def scene():
    """A synthetic 1280x960 ad scene with an old product at a known mask (tests/scenes.py)."""
    from scenes import make_scene

    return make_scene()


@pytest.fixture(scope="session")
def jar():
    """A replacement product with known alpha (tests/scenes.py)."""
    from scenes import jar_rgba

    return jar_rgba()
