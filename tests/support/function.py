"""The function under test, driven through functions-framework's own app (as deployed)."""
from __future__ import annotations

import contextlib
import inspect
import io
import threading

import functions_framework
import numpy as np

from handler.edge import Function

from .images import PRODUCT_BOX, png_bytes
from .paths import REPO

PASSWORD = "correct horse battery staple"
AUTH = {"X-App-Password": PASSWORD}


def client_for(function: Function):
    """A Flask test client of functions-framework's app for main.py, serving `function`."""
    app = functions_framework.create_app("handler", str(REPO / "main.py"))
    # create_app ran main.py afresh; the app calls that module's handler, which calls its
    # global `function` (set through the handler itself: another thread may have loaded main.py
    # again since).
    inspect.unwrap(app.view_functions["run"]).__globals__["function"] = function
    return app.test_client()


def upload_image(client, pixels: np.ndarray, kind: str = "scene", headers: dict | None = None) -> dict:
    """Upload pixels as a PNG of `kind`; returns the JSON answer (asserting 200)."""
    response = client.post("/upload", headers=headers or AUTH,
                           data={"image": (io.BytesIO(png_bytes(pixels)), "image.png"), "kind": kind})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@contextlib.contextmanager
def mask_request_in_background(function: Function, image_id: str):
    """A mask request for image_id runs in another thread for the duration of the block."""
    worker = threading.Thread(target=lambda: client_for(function).post(
        "/process", json={"image_id": image_id, "box": PRODUCT_BOX}, headers=AUTH))
    worker.start()
    try:
        yield
    finally:
        worker.join(60)
