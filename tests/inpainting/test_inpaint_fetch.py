"""Fetching the published MI-GAN weights: a TorchScript trace served over HTTP, verified by MD5,
converted to a plain state dict (handler.inpainting.fetch and `local_invoke.py fetch-model`).

The trace is one the tests make from random weights; a local HTTP server stands in for
GitHub's release download (nothing can be downloaded here).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest
import torch

from handler.inpainting.fetch import fetch_converted
from handler.inpainting.migan import load_migan
from handler.models.weights import PUBLISHED_INPAINT_TRACE, DownloadError

from support.migan import random_migan_state
from support.paths import REPO
from support.servers import free_port, serving_bytes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trace_bytes(traced_migan) -> bytes:
    return traced_migan.read_bytes()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def left_in(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_published_address_and_md5_are_iopaints():
    assert PUBLISHED_INPAINT_TRACE.url == "https://github.com/Sanster/models/releases/download/migan/migan_traced.pt"
    assert PUBLISHED_INPAINT_TRACE.md5 == "76eb3b1a71c400ee3290524f7a11b89c"


def test_a_good_trace_is_verified_converted_and_loads_with_the_same_weights(trace_bytes, tmp_path, caplog):
    destination = tmp_path / "models" / "migan_512_places2.pt"
    with serving_bytes(trace_bytes, "migan_traced.pt") as url, caplog.at_level("INFO"):
        digest = fetch_converted(url, destination, md5=md5(trace_bytes))
    assert digest == hashlib.sha256(trace_bytes).hexdigest()
    # the SHA-256 of the download is in the log
    assert any(getattr(r, "fields", {}).get("sha256") == digest for r in caplog.records)
    assert left_in(destination.parent) == ["migan_512_places2.pt"]
    state = torch.load(destination, weights_only=True)   # a plain state dict: no code
    expected = random_migan_state()
    assert list(state) == list(expected)
    assert all(torch.equal(state[k], expected[k]) for k in expected)
    model = load_migan(destination)
    out = model(torch.zeros(1, 4, 512, 512))
    assert out.shape == (1, 3, 512, 512) and torch.isfinite(out).all()


def test_a_truncated_download_leaves_nothing(trace_bytes, tmp_path):
    destination = tmp_path / "migan_512_places2.pt"
    with serving_bytes(trace_bytes[:100_000], content_length=len(trace_bytes)) as url:
        with pytest.raises(DownloadError, match="truncated|connection lost"):
            fetch_converted(url, destination, md5=md5(trace_bytes))
    assert left_in(tmp_path) == []


def test_a_wrong_md5_leaves_nothing(trace_bytes, tmp_path):
    destination = tmp_path / "migan_512_places2.pt"
    with serving_bytes(trace_bytes) as url:
        with pytest.raises(DownloadError, match="MD5 checksum mismatch"):
            fetch_converted(url, destination, md5="0" * 32)
    assert left_in(tmp_path) == []


def test_a_server_that_is_down_is_reported(tmp_path):
    destination = tmp_path / "migan_512_places2.pt"
    with pytest.raises(DownloadError, match="unreachable"):
        fetch_converted(f"http://127.0.0.1:{free_port()}/migan_traced.pt", destination, md5="0" * 32)
    assert left_in(tmp_path) == []


@pytest.mark.filterwarnings("ignore::DeprecationWarning")   # TorchScript, the format IOPaint publishes
def test_a_verified_file_that_is_not_the_generator_leaves_nothing(tmp_path):
    wrong = tmp_path / "wrong.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(wrong))
    data = wrong.read_bytes()
    destination = tmp_path / "out" / "migan_512_places2.pt"
    with serving_bytes(data) as url:
        with pytest.raises(DownloadError, match="not a usable MI-GAN trace.*missing key"):
            fetch_converted(url, destination, md5=md5(data))
    assert left_in(destination.parent) == []


def test_fetch_model_fetches_and_converts_the_trace(trace_bytes, tmp_path):
    destination = tmp_path / "cache" / "migan_512_places2.pt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "INPAINT_"))}
    env["INPAINT_MODEL_PATH"] = str(destination)
    command = [sys.executable, str(REPO / "local_invoke.py"), "fetch-model", "--only", "migan"]
    with serving_bytes(trace_bytes, "migan_traced.pt") as url:
        done = subprocess.run(command + ["--inpaint-url", url, "--inpaint-md5", md5(trace_bytes)], env=env,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert hashlib.sha256(trace_bytes).hexdigest() in done.stdout
    load_migan(destination)
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "is present" in again.stdout
    with serving_bytes(trace_bytes) as url:
        wrong = subprocess.run(command + ["--inpaint-url", url, "--inpaint-md5", "0" * 32],
                               env={**env, "INPAINT_MODEL_PATH": str(tmp_path / "other.pt")},
                               capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 1 and "MD5 checksum mismatch" in wrong.stderr
    assert not (tmp_path / "other.pt").exists()
