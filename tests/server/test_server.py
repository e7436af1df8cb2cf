"""The real function over real HTTP, and local_invoke.py as a person runs it."""
import base64
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from support.function import AUTH, PASSWORD
from support.paths import REPO, SAMPLES
from support.servers import call, call_json, function_env, multipart, running_function, serving_bytes

SAMPLE = json.loads((SAMPLES / "samples.json").read_text())
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("server")
    with running_function(function_env(folder), folder) as running:
        yield running.url


def _upload(url: str, path, kind: str) -> dict:
    body, content_type = multipart(path.read_bytes(), path.name, kind=kind)
    status, _, data = call(url, "POST", "/upload", body=body, headers={**AUTH, "Content-Type": content_type})
    assert status == 200, data
    return json.loads(data)


def test_health_over_http_answers_200(server):
    status, body = call_json(server, "GET", "/health")
    assert status == 200 and body["status"] == "healthy"


def test_upload_mask_replace_over_http_puts_the_new_product_in_place(server):
    scene = _upload(server, SAMPLES / SAMPLE["scene"], "scene")
    product = _upload(server, SAMPLES / SAMPLE["product"], "product")
    status, mask = call_json(server, "POST", "/process", {"image_id": scene["image_id"], "box": SAMPLE["box"]}, AUTH)
    assert status == 200, mask
    status, result = call_json(server, "POST", "/process", {
        "image_id": scene["image_id"], "mask_id": mask["mask_id"], "product_id": product["image_id"]}, AUTH)
    assert status == 200, result
    before = np.asarray(Image.open(SAMPLES / SAMPLE["scene"]).convert("RGB")).astype(int)
    after = np.asarray(Image.open(io.BytesIO(base64.b64decode(result["image_base64"])))).astype(int)
    x0, y0, x1, y1 = mask["bbox"]
    changed_inside = (np.abs(after[y0:y1, x0:x1] - before[y0:y1, x0:x1]).max(axis=2) > 30).mean()
    assert changed_inside > 0.3, "the old product's place should look different"
    old_red = after[y0:y1, x0:x1]
    assert ((old_red[..., 0] > 150) & (old_red[..., 1] < 60)).mean() < 0.01, "no red bottle left"


def test_local_invoke_health_over_http(server):
    completed = subprocess.run([sys.executable, str(REPO / "local_invoke.py"), "--url", server,
                                "--password", PASSWORD, "health"], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["authenticated"] is True


def test_local_invoke_replace_over_http_writes_the_result(server, tmp_path):
    output = tmp_path / "result.jpg"
    box = ",".join(str(v) for v in SAMPLE["box"])
    completed = subprocess.run([sys.executable, str(REPO / "local_invoke.py"), "--url", server, "--password",
                                PASSWORD, "replace", "--scene", str(SAMPLES / SAMPLE["scene"]), "--box", box,
                                "--product", str(SAMPLES / SAMPLE["product"]), "-o", str(output)],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert Image.open(output).size == (1280, 960)


@pytest.mark.parametrize("size, expected", [([], (4000, 3000)), (["--size", "working"], (1280, 960))],
                         ids=["original", "working"])
def test_local_invoke_replace_writes_the_photos_own_size_unless_asked_for_a_preview(server, tmp_path, size,
                                                                                  expected):
    photo = tmp_path / "ad-4000.jpg"
    Image.open(SAMPLES / SAMPLE["scene"]).convert("RGB").resize((4000, 3000)).save(photo, quality=92)
    box = ",".join(str(round(v * 3.125)) for v in SAMPLE["box"])  # in the file's own pixels
    output = tmp_path / "result.jpg"
    completed = subprocess.run([sys.executable, str(REPO / "local_invoke.py"), "--url", server, "--password",
                                PASSWORD, "replace", "--scene", str(photo), "--box", box,
                                "--product", str(SAMPLES / SAMPLE["product"]), "-o", str(output), *size],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert Image.open(output).size == expected


def test_local_invoke_demo_runs_in_process(tmp_path):
    output = tmp_path / "demo.png"
    env = {"TEMP_DIR": str(tmp_path / "store"), "SEGMENTER": "grabcut", "PATH": "/usr/bin:/bin"}
    completed = subprocess.run([sys.executable, str(REPO / "local_invoke.py"), "demo", "-o", str(output)],
                               capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert Image.open(output).size == (1280, 960)


def test_local_invoke_wrong_password_prints_the_message_and_fails(server):
    completed = subprocess.run([sys.executable, str(REPO / "local_invoke.py"), "--url", server,
                                "--password", "wrong", "mask", "--scene", str(SAMPLES / SAMPLE["scene"]),
                                "--box", "1,1,50,50", "-o", "/dev/null"], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 1
    assert "401" in completed.stderr and "password" in completed.stderr


def test_local_invoke_fetch_model_downloads_and_verifies_into_the_model_cache(tmp_path):
    import hashlib

    data = bytes(range(256)) * 1000
    with serving_bytes(data) as url:
        # fetch-model also fetches MI-GAN from GitHub by default (tests/inpainting/test_inpaint_fetch.py)
        command = [sys.executable, str(REPO / "local_invoke.py"), "fetch-model", "--only", "mobilesam",
                   "--model-url", url]
        env = {"MODEL_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
        good = subprocess.run(command + ["--sha256", hashlib.sha256(data).hexdigest()], capture_output=True,
                              text=True, timeout=60, env=env)
        bad = subprocess.run(command + ["--sha256", "0" * 64], capture_output=True, text=True, timeout=60,
                             env={**env, "MODEL_CACHE_DIR": str(tmp_path / "other")})
    assert good.returncode == 0, good.stderr
    assert (tmp_path / "cache" / "mobile_sam.pt").read_bytes() == data
    assert bad.returncode == 1 and "checksum mismatch" in bad.stderr
    assert not any((tmp_path / "other").glob("*"))
