"""MobileSAM inside the function: lazy load, single flight, states, fallback, embedding cache."""
import threading

import pytest
import torch
from checkpoints import write_random_checkpoint
from conftest import AUTH, PRODUCT_BOX, mask_request_in_background
from server import serving_bytes

from handler.runtime import get_runtime, reset_runtime
from handler.sam import checkpoint as sam_checkpoint
from handler.segmentation import service


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory):
    return write_random_checkpoint(tmp_path_factory.mktemp("weights") / "mobile_sam.pt")


@pytest.fixture
def with_model(function_env, random_checkpoint):
    function_env.setenv("SEGMENTER", "auto")
    function_env.setenv("MODEL_PATH", str(random_checkpoint))
    reset_runtime()
    return function_env


@pytest.fixture
def load_counter(monkeypatch):
    """Counts how often the checkpoint is loaded."""
    calls = []
    real = sam_checkpoint.load_mobile_sam

    def counting(path, **kwargs):
        calls.append(path)
        return real(path, **kwargs)

    monkeypatch.setattr(sam_checkpoint, "load_mobile_sam", counting)
    return calls


@pytest.fixture
def slow_setup(monkeypatch):
    """A model load that blocks until the test releases it."""
    entered, release = threading.Event(), threading.Event()
    real = service.load_predictor_from_checkpoint

    def blocking(config, set_state):
        entered.set()
        assert release.wait(30), "the test never released the load"
        return real(config, set_state)

    monkeypatch.setattr(service, "load_predictor_from_checkpoint", blocking)
    return entered, release


def _mask(client, image_id, box=PRODUCT_BOX):
    response = client.post("/process", json={"image_id": image_id, "box": box}, headers=AUTH)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_auto_with_weights_serves_mobilesam(client, with_model, upload, scene_pixels):
    answer = _mask(client, upload(scene_pixels)["image_id"])
    assert answer["segmenter"] == "mobilesam"
    assert 0.0 <= answer["score"]


def test_model_is_not_loaded_before_the_first_process(client, with_model, load_counter):
    assert client.get("/health").get_json()["model"]["state"] == "not_loaded"
    assert load_counter == []


def test_health_reports_ready_with_load_seconds_after_first_use(client, with_model, upload, scene_pixels):
    _mask(client, upload(scene_pixels)["image_id"])
    model = client.get("/health").get_json()["model"]
    assert model["state"] == "ready" and model["load_seconds"] > 0 and model["segmenter"] == "mobilesam"


def test_second_process_on_the_same_scene_skips_the_encoder(client, with_model, upload, scene_pixels,
                                                            product_pixels):
    scene = upload(scene_pixels)["image_id"]
    first = _mask(client, scene)
    assert first["cache_hit"] is False and "encode" in first["timings_ms"]
    corrected = _mask(client, scene, box=[240, 130, 400, 400])
    assert corrected["cache_hit"] is True and "encode" not in corrected["timings_ms"]
    product = upload(product_pixels, "product")["image_id"]
    replaced = client.post("/process", headers=AUTH, json={"image_id": scene, "box": PRODUCT_BOX,
                                                           "product_id": product}).get_json()
    assert replaced["cache_hit"] is True and "encode" not in replaced["timings_ms"]


def test_concurrent_first_requests_share_one_load(app, with_model, upload, scene_pixels, load_counter):
    with_model.setenv("MAX_CONCURRENT_JOBS", "4")
    reset_runtime()
    scenes = [upload(scene_pixels)["image_id"] for _ in range(3)]
    start = threading.Barrier(len(scenes))
    statuses = []

    def first_request(image_id):
        start.wait()
        statuses.append(app.test_client().post("/process", json={"image_id": image_id, "box": PRODUCT_BOX},
                                               headers=AUTH).status_code)

    threads = [threading.Thread(target=first_request, args=(scene,)) for scene in scenes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert statuses == [200, 200, 200]
    assert len(load_counter) == 1


def test_health_answers_loading_while_the_model_loads(app, client, with_model, upload, scene_pixels, slow_setup):
    entered, release = slow_setup
    scene = upload(scene_pixels)["image_id"]
    with mask_request_in_background(app, scene):
        try:
            assert entered.wait(30)
            health = client.get("/health").get_json()
            assert health["model"]["state"] == "loading" and health["status"] == "healthy"
        finally:
            release.set()
    assert client.get("/health").get_json()["model"]["state"] == "ready"


def test_preload_starts_loading_at_start_without_a_request(with_model, slow_setup):
    entered, release = slow_setup
    with_model.setenv("MODEL_PRELOAD", "1")
    reset_runtime()
    runtime = get_runtime()
    try:
        assert entered.wait(30)
        assert runtime.segmentation.record.state.value == "loading"
    finally:
        release.set()
    assert runtime.segmentation.ensure_loaded() is not None


def test_corrupt_checkpoint_falls_back_to_grabcut_and_says_why(client, with_model, tmp_path, upload, scene_pixels):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"this is not a checkpoint")
    with_model.setenv("MODEL_PATH", str(broken))
    reset_runtime()
    answer = _mask(client, upload(scene_pixels)["image_id"])
    assert answer["segmenter"] == "grabcut"
    assert "corrupt" in answer["fallback_reason"]
    health = client.get("/health").get_json()
    assert health["status"] == "degraded" and health["model"]["state"] == "failed"
    assert "corrupt" in health["model"]["error"] and str(tmp_path) not in health["model"]["error"]


def test_wrong_checkpoint_under_segmenter_mobilesam_is_503_with_the_reason(client, with_model, tmp_path, upload,
                                                                          scene_pixels):
    wrong = tmp_path / "wrong.pt"
    torch.save({"not": torch.zeros(3)}, wrong)
    with_model.setenv("MODEL_PATH", str(wrong))
    with_model.setenv("SEGMENTER", "mobilesam")
    reset_runtime()
    response = client.post("/process", json={"image_id": upload(scene_pixels)["image_id"], "box": PRODUCT_BOX},
                           headers=AUTH)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "model_failed"
    assert "Retry-After" in response.headers


def test_failed_load_is_retried_after_its_back_off(client, with_model, tmp_path, upload, scene_pixels,
                                                  random_checkpoint):
    path = tmp_path / "later.pt"
    path.write_bytes(b"garbage")
    with_model.setenv("MODEL_PATH", str(path))
    with_model.setenv("MODEL_RETRY_S", "0")
    reset_runtime()
    scene = upload(scene_pixels)["image_id"]
    assert _mask(client, scene)["segmenter"] == "grabcut"
    path.write_bytes(random_checkpoint.read_bytes())
    assert _mask(client, scene)["segmenter"] == "mobilesam"


def test_failed_load_is_not_retried_during_its_back_off(client, with_model, tmp_path, upload, scene_pixels,
                                                       load_counter):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"garbage")
    with_model.setenv("MODEL_PATH", str(path))
    reset_runtime()
    scene = upload(scene_pixels)["image_id"]
    _mask(client, scene)
    _mask(client, scene)
    assert len(load_counter) == 1


def test_missing_weights_are_downloaded_from_model_url_at_cold_start(client, with_model, tmp_path, upload,
                                                                   scene_pixels, random_checkpoint):
    import hashlib

    data = random_checkpoint.read_bytes()
    with serving_bytes(data) as url:
        with_model.setenv("MODEL_PATH", str(tmp_path / "cache" / "mobile_sam.pt"))
        with_model.setenv("MODEL_URL", url)
        with_model.setenv("MODEL_SHA256", hashlib.sha256(data).hexdigest())
        reset_runtime()
        assert client.get("/health").get_json()["model"]["state"] == "not_loaded"
        assert _mask(client, upload(scene_pixels)["image_id"])["segmenter"] == "mobilesam"
    assert (tmp_path / "cache" / "mobile_sam.pt").read_bytes() == data


def test_uploading_a_scene_starts_loading_the_model_in_the_background(client, with_model, upload, scene_pixels,
                                                                     slow_setup):
    entered, release = slow_setup
    try:
        upload(scene_pixels)
        assert entered.wait(30), "the upload should have started the load"
        assert client.get("/health").get_json()["model"]["state"] == "loading"
    finally:
        release.set()
    assert get_runtime().segmentation.ensure_loaded() is not None


def test_uploading_a_product_does_not_load_the_model(client, with_model, upload, product_pixels, load_counter):
    upload(product_pixels, "product")
    assert client.get("/health").get_json()["model"]["state"] == "not_loaded"
    assert load_counter == []
