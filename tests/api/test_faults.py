"""Faults around the function: storage that cannot be written, a stop signal mid-request, and
memory that must not creep under a stream of bad requests.

A missing, corrupt or failing model checkpoint is covered in test_model_lifecycle.py (health
state, the fallback under SEGMENTER=auto, 503 with a reason under SEGMENTER=mobilesam).
"""
from __future__ import annotations

import base64
import errno
import gc
import io
import json
import os
import signal
import threading
from dataclasses import replace

import numpy as np
import psutil
import pytest

from handler.edge import create_handler
from handler.platform import resources

from support.function import AUTH, client_for
from support.images import PRODUCT_BOX, jpeg_bytes, png_bytes
from support.servers import call, function_env, running_function

_MIB = 1024 * 1024


@pytest.fixture
def unwritable_client(config, tmp_path):
    """A function whose TEMP_DIR is below a regular file: nothing can ever be created there, not
    even by root."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    return client_for(create_handler(replace(config, temp_dir=blocker / "temp")))


def test_uploads_are_503_when_temp_dir_is_not_writable(unwritable_client, scene_pixels):
    client = unwritable_client
    response = client.post("/upload", headers=AUTH, data={"image": (io.BytesIO(png_bytes(scene_pixels)), "s.png")})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "storage_unavailable"
    assert "TEMP_DIR" in response.get_json()["error"]["details"]["reason"]


def test_inline_processing_is_503_when_temp_dir_is_not_writable(unwritable_client, scene_pixels):
    client = unwritable_client
    response = client.post("/process", headers=AUTH, json={
        "image_base64": base64.b64encode(png_bytes(scene_pixels)).decode(), "box": PRODUCT_BOX})
    assert response.status_code == 503


def test_health_names_the_unwritable_temp_dir(unwritable_client):
    client = unwritable_client
    response = client.get("/health")
    assert response.status_code == 503
    assert any("TEMP_DIR" in reason for reason in response.get_json()["reasons"])


def test_a_read_only_temp_dir_is_503_not_500(client, upload, scene_pixels, monkeypatch, tmp_path):
    scene = upload(scene_pixels)
    real_open = os.open

    def read_only(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path)):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", read_only)
    monkeypatch.setattr(os, "open", read_only)
    for response in (client.post("/delete", json={"image_id": scene["image_id"]}, headers=AUTH),
                     client.post("/upload", headers=AUTH, data={"image": (io.BytesIO(png_bytes(scene_pixels)), "s.png")})):
        assert response.status_code == 503, response.get_json()
        assert response.get_json()["error"]["code"] == "storage_unavailable"


def test_health_is_unhealthy_when_the_disk_is_full(client, monkeypatch):
    monkeypatch.setattr(resources, "disk_free_bytes", lambda path: 4096)
    response = client.get("/health")
    assert response.status_code == 503
    assert any("full" in reason for reason in response.get_json()["reasons"])


# ---- a stop signal while a request runs ----------------------------------------------------

@pytest.fixture
def gunicorn_function(tmp_path):
    """The container's server (gunicorn) on a free loopback port: (url, master process, store)."""
    env = function_env(tmp_path, THREADS="4", WEB_CONCURRENCY="1", GRACEFUL_TIMEOUT_S="60")
    with running_function(env, tmp_path, gunicorn=True) as server:
        yield server.url, server.process, tmp_path / "temp" / "store"


def _running_jobs(url: str) -> int:
    return json.loads(call(url, "GET", "/health")[2])["jobs"]["running"]


@pytest.mark.slow
def test_sigterm_lets_a_running_request_finish_and_leaves_no_partial_file(gunicorn_function):
    url, master, store = gunicorn_function
    rng = np.random.default_rng(3)
    big_scene = rng.integers(0, 256, (960, 1280, 3), dtype=np.uint8)
    big_scene[200:800, 300:1000] = (200, 40, 35)
    product = np.zeros((300, 200, 4), np.uint8)
    product[20:280, 20:180] = (30, 170, 60, 255)
    body = json.dumps({"image_base64": base64.b64encode(jpeg_bytes(big_scene)).decode(),
                       "product_base64": base64.b64encode(png_bytes(product)).decode(),
                       "box": [250, 150, 1050, 850]}).encode()
    answer = {}

    def run_request():
        answer["status"], _, answer["body"] = call(url, "POST", "/process", body=body,
                                                   headers={**AUTH, "Content-Type": "application/json"})

    request = threading.Thread(target=run_request)
    request.start()
    # Health counts the jobs holding a slot: once it says 1, the request is being processed.
    while request.is_alive() and _running_jobs(url) == 0:
        pass
    assert request.is_alive(), "the request finished before the signal could be sent: make it slower"
    master.send_signal(signal.SIGTERM)
    request.join(timeout=120)
    assert answer.get("status") == 200, answer.get("body", b"")[:300]
    assert json.loads(answer["body"])["image_base64"]
    assert master.wait(timeout=60) == 0
    assert list(store.glob("*.partial")) == []
    assert len(list(store.glob("*.item"))) == 3, "the inline scene, its photo as sent and its mask were stored whole"


# ---- memory --------------------------------------------------------------------------------

def _bad_requests(noise: bytes, truncated: bytes):
    """One round of assorted bad requests, as (path, keyword arguments for the test client)."""
    return [
        ("/upload", {"headers": AUTH, "data": {"image": (io.BytesIO(noise), "n.png")}}),
        ("/upload", {"headers": AUTH, "data": {"image": (io.BytesIO(truncated), "t.png")}}),
        ("/process", {"headers": AUTH, "data": b"{" * 5000, "content_type": "application/json"}),
        ("/process", {"headers": AUTH, "json": {"image_id": "../../etc/passwd", "box": [1, 2, 3, 4]}}),
        ("/process", {"headers": AUTH, "json": {"image_base64": base64.b64encode(truncated).decode(), "box": [0, 0, 5, 5]}}),
        ("/delete", {"headers": AUTH, "json": {"image_id": 3}}),
        ("/upload", {"headers": {**AUTH, "Content-Length": str(64 * _MIB)}, "data": b"x"}),
        ("/nowhere", {}),
    ]


def test_two_hundred_bad_requests_grow_memory_by_less_than_20_mb(client, scene_pixels):
    process = psutil.Process()
    noise = np.random.default_rng(5).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    truncated = png_bytes(scene_pixels)[:20_000]

    def send(count: int, first_address: int) -> None:
        for index in range(count):
            requests = _bad_requests(noise, truncated)  # afresh: the client closes the files it sends
            path, options = requests[index % len(requests)]
            response = client.post(path, environ_base={"REMOTE_ADDR": f"10.2.{(first_address + index) // 250}."
                                                                      f"{(first_address + index) % 250}"}, **options)
            assert 400 <= response.status_code < 500, (path, response.get_json())

    send(40, 0)  # warm up: imports, caches and allocator pools fill once
    gc.collect()
    before = process.memory_info().rss
    send(200, 1000)
    gc.collect()
    grown = (process.memory_info().rss - before) / _MIB
    assert grown < 20, f"RSS grew {grown:.1f} MB over 200 bad requests"
    assert client.get("/health").get_json()["status"] == "healthy"
