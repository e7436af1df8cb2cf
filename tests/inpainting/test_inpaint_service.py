"""MI-GAN inside the function: INPAINTER, lazy single-flight load, fallbacks, answers and health.

Through the handler (functions-framework's app) with a random-weights checkpoint of the
published layout: its pixels are noise, so these tests check what the function does with
the model, never how the fill looks.
"""
from __future__ import annotations

import base64
import hashlib
import io
import threading
from dataclasses import replace

import cv2
import numpy as np
import pytest
from PIL import Image

from handler.compositing.removal import disc
from handler.edge import create_handler
from handler.inpainting import migan
from handler.platform.config import Config, ConfigError

from support.function import AUTH, client_for, upload_image
from support.images import PRODUCT_BOX
from support.servers import serving_bytes

SMALLER = {"scale": 0.7}


def test_config_reads_the_inpainter_settings(tmp_path):
    config = Config.from_env({"INPAINTER": "Model", "MODEL_CACHE_DIR": str(tmp_path)})
    assert config.inpainter == "model"
    assert config.inpaint_checkpoint_path == tmp_path / "migan_512_places2.pt"
    path = Config.from_env({"INPAINT_MODEL_PATH": str(tmp_path / "m.pt")}).inpaint_checkpoint_path
    assert path == tmp_path / "m.pt"
    url = Config.from_env({"INPAINT_MODEL_URL": "http://x/m.pt", "INPAINT_MODEL_SHA256": "AB" * 32})
    assert url.inpaint_model_url == "http://x/m.pt" and url.inpaint_model_sha256 == "ab" * 32
    assert Config.from_env({}).inpainter == "auto"


@pytest.mark.parametrize("env, message", [
    ({"INPAINTER": "lama"}, "INPAINTER must be one of auto, model, classic"),
    ({"INPAINT_MODEL_URL": "http://x/m.pt"}, "INPAINT_MODEL_URL needs INPAINT_MODEL_SHA256"),
])
def test_config_refuses_bad_inpainter_settings(env, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_env(env)


def test_without_weights_auto_uses_the_classical_fill_and_is_healthy(client, upload, scene_pixels, product_pixels):
    answer = _replace(client, upload, scene_pixels, product_pixels)
    assert answer["inpainter"] == "classic" and "fallback_reason" not in answer
    health = client.get("/health").get_json()
    assert health["status"] == "healthy"
    assert health["models"]["inpainter"] == {"state": "unavailable", "inpainter": "classic",
                                             "load_seconds": None, "error": None}
    assert health["models"]["segmenter"]["segmenter"] == "grabcut"


@pytest.fixture
def model_config(config, migan_checkpoint):
    return replace(config, inpaint_model_path=migan_checkpoint)


@pytest.fixture
def model_client(model_config):
    return client_for(create_handler(model_config))


@pytest.fixture
def load_counter(monkeypatch):
    calls = []
    real = migan.load_migan

    def counting(path, **kwargs):
        calls.append(path)
        return real(path, **kwargs)

    monkeypatch.setattr(migan, "load_migan", counting)
    return calls


def _replace(client, upload, scene_pixels, product_pixels, settings=SMALLER, **extra):
    scene = upload(scene_pixels)["image_id"]
    product = upload(product_pixels, "product")["image_id"]
    response = client.post("/process", headers=AUTH, json={"image_id": scene, "box": PRODUCT_BOX,
                                                           "product_id": product, "settings": settings, **extra})
    assert response.status_code == 200, response.get_json()
    return response.get_json() if not extra.get("output", {}).get("raw") else response


def _pixels(answer) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["image_base64"]))).convert("RGB"))


def _mask(client, scene_id) -> np.ndarray:
    answer = client.post("/process", headers=AUTH, json={"image_id": scene_id, "box": PRODUCT_BOX}).get_json()
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["mask_png_base64"])))) > 0


@pytest.mark.slow
def test_a_smaller_product_is_filled_by_migan_and_only_the_hole_changes(model_config, scene_pixels, product_pixels):
    model_client = client_for(create_handler(model_config))
    classic_client = client_for(create_handler(replace(model_config, inpainter="classic")))
    answers = {}
    for name, client in (("migan", model_client), ("classic", classic_client)):
        scene = upload_image(client, scene_pixels)["image_id"]
        product = upload_image(client, product_pixels, "product")["image_id"]
        mask = _mask(client, scene)
        answers[name] = client.post("/process", headers=AUTH, json={
            "image_id": scene, "box": PRODUCT_BOX, "product_id": product, "settings": SMALLER}).get_json()
    assert answers["migan"]["inpainter"] == "migan" and "fallback_reason" not in answers["migan"]
    assert answers["classic"]["inpainter"] == "classic"
    timings = answers["migan"]["timings_ms"]
    assert timings["fill"] > 0 and timings["composite"] >= 0
    hole = cv2.dilate(mask.astype(np.uint8), disc(6)).astype(bool)   # remove_margin's default
    migan_pixels, classic_pixels = _pixels(answers["migan"]), _pixels(answers["classic"])
    # the two fills differ, and only inside the hole
    assert np.array_equal(migan_pixels[~hole], classic_pixels[~hole])
    assert (migan_pixels[hole] != classic_pixels[hole]).any()
    health = model_client.get("/health").get_json()
    assert health["models"]["inpainter"]["state"] == "ready"
    assert health["models"]["inpainter"]["inpainter"] == "migan"
    assert health["models"]["inpainter"]["load_seconds"] > 0 and health["status"] == "healthy"


@pytest.mark.slow
def test_the_model_is_loaded_by_the_first_replace_not_by_uploads_or_masks(model_client, scene_pixels,
                                                                        product_pixels, load_counter):
    upload = lambda pixels, kind="scene": upload_image(model_client, pixels, kind)  # noqa: E731
    scene = upload(scene_pixels)["image_id"]
    upload(product_pixels, "product")
    _mask(model_client, scene)
    assert load_counter == []
    assert model_client.get("/health").get_json()["models"]["inpainter"]["state"] == "not_loaded"
    _replace(model_client, upload, scene_pixels, product_pixels)
    assert len(load_counter) == 1


@pytest.mark.slow
def test_no_removal_loads_nothing_and_says_no_inpainter(model_client, scene_pixels, product_pixels, load_counter):
    upload = lambda pixels, kind="scene": upload_image(model_client, pixels, kind)  # noqa: E731
    answer = _replace(model_client, upload, scene_pixels, product_pixels, settings={"remove_old": False})
    assert answer["inpainter"] is None and load_counter == []


@pytest.mark.slow
def test_a_raw_answer_names_the_inpainter_in_a_header(model_client, scene_pixels, product_pixels):
    upload = lambda pixels, kind="scene": upload_image(model_client, pixels, kind)  # noqa: E731
    response = _replace(model_client, upload, scene_pixels, product_pixels, output={"raw": True})
    assert response.headers["X-Drishya-Inpainter"] == "migan"


@pytest.mark.slow
def test_inpainter_classic_never_loads_the_model(model_config, scene_pixels, product_pixels, load_counter):
    client = client_for(create_handler(replace(model_config, inpainter="classic")))
    upload = lambda pixels, kind="scene": upload_image(client, pixels, kind)  # noqa: E731
    assert _replace(client, upload, scene_pixels, product_pixels)["inpainter"] == "classic"
    assert load_counter == []
    assert client.get("/health").get_json()["models"]["inpainter"]["inpainter"] == "classic"


@pytest.mark.slow
def test_a_corrupt_checkpoint_falls_back_to_the_classical_fill_and_says_why(model_config, tmp_path, scene_pixels,
                                                                          product_pixels):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"this is not a checkpoint")
    client = client_for(create_handler(replace(model_config, inpaint_model_path=broken)))
    upload = lambda pixels, kind="scene": upload_image(client, pixels, kind)  # noqa: E731
    answer = _replace(client, upload, scene_pixels, product_pixels)
    assert answer["inpainter"] == "classic"
    assert "corrupt" in answer["fallback_reason"] and "classical fill" in answer["fallback_reason"]
    assert str(tmp_path) not in answer["fallback_reason"]
    health = client.get("/health").get_json()
    assert health["status"] == "degraded"
    assert health["models"]["inpainter"]["state"] == "failed" and "corrupt" in health["models"]["inpainter"]["error"]
    assert health["models"]["inpainter"]["inpainter"] == "classic"
    assert any("inpainting model failed" in reason for reason in health["reasons"])
    # the segmenter's own report is untouched
    assert health["model"]["state"] == "unavailable"


@pytest.mark.slow
def test_a_wrong_layout_checkpoint_falls_back_naming_the_keys(model_config, tmp_path, scene_pixels, product_pixels):
    import torch

    wrong = tmp_path / "wrong.pt"
    torch.save({"not": torch.zeros(3)}, wrong)
    client = client_for(create_handler(replace(model_config, inpaint_model_path=wrong)))
    upload = lambda pixels, kind="scene": upload_image(client, pixels, kind)  # noqa: E731
    answer = _replace(client, upload, scene_pixels, product_pixels)
    assert answer["inpainter"] == "classic" and "missing key" in answer["fallback_reason"]


def test_inpainter_model_without_weights_falls_back_and_health_says_degraded(config, scene_pixels, product_pixels):
    client = client_for(create_handler(replace(config, inpainter="model")))
    upload = lambda pixels, kind="scene": upload_image(client, pixels, kind)  # noqa: E731
    answer = _replace(client, upload, scene_pixels, product_pixels)
    assert answer["inpainter"] == "classic" and "INPAINTER=model" in answer["fallback_reason"]
    health = client.get("/health").get_json()
    assert health["status"] == "degraded" and any("INPAINTER=model" in r for r in health["reasons"])


@pytest.mark.slow
def test_concurrent_first_fills_share_one_load(model_config, scene_pixels, product_pixels, load_counter):
    function = create_handler(replace(model_config, max_concurrent_jobs=3))
    setup = client_for(function)
    scenes = [upload_image(setup, scene_pixels)["image_id"] for _ in range(3)]
    product = upload_image(setup, product_pixels, "product")["image_id"]
    start = threading.Barrier(len(scenes))
    answers = []

    def first_replace(image_id):
        client = client_for(function)
        start.wait()
        response = client.post("/process", headers=AUTH, json={"image_id": image_id, "box": PRODUCT_BOX,
                                                               "product_id": product, "settings": SMALLER})
        answers.append((response.status_code, response.get_json().get("inpainter")))

    threads = [threading.Thread(target=first_replace, args=(scene,)) for scene in scenes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert answers == [(200, "migan")] * 3
    assert len(load_counter) == 1


@pytest.mark.slow
def test_a_failed_load_is_retried_after_its_back_off(model_config, tmp_path, scene_pixels, product_pixels,
                                                     migan_checkpoint):
    path = tmp_path / "later.pt"
    path.write_bytes(b"garbage")
    client = client_for(create_handler(replace(model_config, inpaint_model_path=path, model_retry_s=0)))
    upload = lambda pixels, kind="scene": upload_image(client, pixels, kind)  # noqa: E731
    assert _replace(client, upload, scene_pixels, product_pixels)["inpainter"] == "classic"
    path.write_bytes(migan_checkpoint.read_bytes())
    assert _replace(client, upload, scene_pixels, product_pixels)["inpainter"] == "migan"


@pytest.mark.slow
def test_missing_weights_are_downloaded_from_inpaint_model_url(model_config, tmp_path, scene_pixels, product_pixels,
                                                               migan_checkpoint):
    data = migan_checkpoint.read_bytes()
    destination = tmp_path / "cache" / "migan_512_places2.pt"
    with serving_bytes(data, "migan_512_places2.pt") as url:
        client = client_for(create_handler(replace(
            model_config, inpaint_model_path=destination, inpaint_model_url=url,
            inpaint_model_sha256=hashlib.sha256(data).hexdigest())))
        assert client.get("/health").get_json()["models"]["inpainter"]["state"] == "not_loaded"
        upload = lambda pixels, kind="scene": upload_image(client, pixels, kind)  # noqa: E731
        assert _replace(client, upload, scene_pixels, product_pixels)["inpainter"] == "migan"
    assert destination.read_bytes() == data


@pytest.mark.slow
def test_a_product_that_hides_the_whole_hole_needs_no_network(model_client, scene_pixels, product_pixels):
    upload = lambda pixels, kind="scene": upload_image(model_client, pixels, kind)  # noqa: E731
    product = np.full((600, 300, 4), 255, np.uint8)   # opaque, twice the old product's size
    answer = _replace(model_client, upload, scene_pixels, product, settings={"scale": 2.0, "anchor": "center",
                                                                             "cutout": "none"})
    assert answer["inpainter"] == "classic" and "fallback_reason" not in answer


@pytest.mark.slow
def test_a_full_size_replace_runs_the_network_once(model_config, monkeypatch):
    """A photo twice the 1280 px working copy: the full-size composite sees the same scene
    around the hole, scaled, and reuses the working render's network output."""
    from handler.inpainting import fill

    from support.real_scenes import PHOTOS, pasted_scene, red_can

    runs = []
    real = fill.run_network
    monkeypatch.setattr(fill, "run_network", lambda *args: runs.append(1) or real(*args))
    client = client_for(create_handler(model_config))
    photo = cv2.resize(pasted_scene("coffee").image, (2560, 1920), interpolation=cv2.INTER_CUBIC)
    scene = upload_image(client, photo)["image_id"]
    product = upload_image(client, red_can().rgba, "product")["image_id"]
    answer = client.post("/process", headers=AUTH, json={
        "image_id": scene, "box": list(PHOTOS["coffee"][3]), "product_id": product, "settings": SMALLER}).get_json()
    assert (answer["width"], answer["scale"], answer["inpainter"]) == (2560, 2.0, "migan")
    assert len(runs) == 1
