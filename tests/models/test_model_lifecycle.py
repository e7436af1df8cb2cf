"""MobileSAM inside the function: lazy load, single flight, states, fallback, embedding cache."""
import hashlib
import threading
from dataclasses import replace

import pytest
import torch

from handler.edge import create_handler
from handler.sam import checkpoint as sam_checkpoint
from handler.segmentation import service
from handler.segmentation.mobilesam import MobileSamSegmenter

from support.checkpoints import write_random_checkpoint
from support.function import AUTH, client_for, mask_request_in_background, upload_image
from support.images import PRODUCT_BOX
from support.servers import serving_bytes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory):
    return write_random_checkpoint(tmp_path_factory.mktemp("weights") / "mobile_sam.pt")


@pytest.fixture
def model_config(config, random_checkpoint):
    """SEGMENTER=auto with a random-weights MobileSAM checkpoint present; no background encode
    (these tests watch the encoder run in the request)."""
    return replace(config, segmenter="auto", model_path=random_checkpoint, precompute_embedding=False)


@pytest.fixture
def model_function(model_config):
    return create_handler(model_config)


@pytest.fixture
def model_client(model_function):
    return client_for(model_function)


@pytest.fixture
def upload_to(model_client):
    return lambda pixels, kind="scene": upload_image(model_client, pixels, kind)


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


def test_auto_with_weights_serves_mobilesam(model_client, upload_to, scene_pixels):
    answer = _mask(model_client, upload_to(scene_pixels)["image_id"])
    assert answer["segmenter"] == "mobilesam"
    assert 0.0 <= answer["score"]


def test_model_is_not_loaded_before_the_first_process(model_client, load_counter):
    assert model_client.get("/health").get_json()["model"]["state"] == "not_loaded"
    assert load_counter == []


def test_health_reports_ready_with_load_seconds_after_first_use(model_client, upload_to, scene_pixels):
    _mask(model_client, upload_to(scene_pixels)["image_id"])
    model = model_client.get("/health").get_json()["model"]
    assert model["state"] == "ready" and model["load_seconds"] > 0 and model["segmenter"] == "mobilesam"


def test_second_process_on_the_same_scene_skips_the_encoder(model_client, upload_to, scene_pixels, product_pixels):
    scene = upload_to(scene_pixels)["image_id"]
    first = _mask(model_client, scene)
    assert first["cache_hit"] is False and "encode" in first["timings_ms"]
    corrected = _mask(model_client, scene, box=[240, 130, 400, 400])
    assert corrected["cache_hit"] is True and "encode" not in corrected["timings_ms"]
    product = upload_to(product_pixels, "product")["image_id"]
    replaced = model_client.post("/process", headers=AUTH, json={"image_id": scene, "box": PRODUCT_BOX,
                                                                 "product_id": product}).get_json()
    assert replaced["cache_hit"] is True and "encode" not in replaced["timings_ms"]


def test_concurrent_first_requests_share_one_load(model_config, scene_pixels, load_counter):
    function = create_handler(replace(model_config, max_concurrent_jobs=4))
    scenes = [upload_image(client_for(function), scene_pixels)["image_id"] for _ in range(3)]
    start = threading.Barrier(len(scenes))
    statuses = []

    def first_request(image_id):
        client = client_for(function)
        start.wait()
        response = client.post("/process", json={"image_id": image_id, "box": PRODUCT_BOX}, headers=AUTH)
        statuses.append((response.status_code, response.get_json().get("error")))

    threads = [threading.Thread(target=first_request, args=(scene,)) for scene in scenes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert statuses == [(200, None)] * 3
    assert len(load_counter) == 1


def test_health_answers_loading_while_the_model_loads(model_function, model_client, upload_to, scene_pixels,
                                                      slow_setup):
    entered, release = slow_setup
    scene = upload_to(scene_pixels)["image_id"]
    with mask_request_in_background(model_function, scene):
        try:
            assert entered.wait(30)
            health = model_client.get("/health").get_json()
            assert health["model"]["state"] == "loading" and health["status"] == "healthy"
        finally:
            release.set()
    assert model_client.get("/health").get_json()["model"]["state"] == "ready"


def test_preload_starts_loading_at_start_without_a_request(model_config, slow_setup):
    entered, release = slow_setup
    runtime = create_handler(replace(model_config, model_preload=True)).runtime
    try:
        assert entered.wait(30)
        assert runtime.segmentation.record.state.value == "loading"
    finally:
        release.set()
    assert runtime.segmentation.model.get() is not None


def test_corrupt_checkpoint_falls_back_to_grabcut_and_says_why(model_config, tmp_path, scene_pixels):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"this is not a checkpoint")
    client = client_for(create_handler(replace(model_config, model_path=broken)))
    answer = _mask(client, upload_image(client, scene_pixels)["image_id"])
    assert answer["segmenter"] == "grabcut"
    assert "corrupt" in answer["fallback_reason"]
    health = client.get("/health").get_json()
    assert health["status"] == "degraded" and health["model"]["state"] == "failed"
    assert "corrupt" in health["model"]["error"] and str(tmp_path) not in health["model"]["error"]


def test_wrong_checkpoint_under_segmenter_mobilesam_is_503_with_the_reason(model_config, tmp_path, scene_pixels):
    wrong = tmp_path / "wrong.pt"
    torch.save({"not": torch.zeros(3)}, wrong)
    client = client_for(create_handler(replace(model_config, model_path=wrong, segmenter="mobilesam")))
    response = client.post("/process", json={"image_id": upload_image(client, scene_pixels)["image_id"],
                                              "box": PRODUCT_BOX}, headers=AUTH)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "model_failed"
    assert "Retry-After" in response.headers


def test_failed_load_is_retried_after_its_back_off(model_config, tmp_path, scene_pixels, random_checkpoint):
    path = tmp_path / "later.pt"
    path.write_bytes(b"garbage")
    client = client_for(create_handler(replace(model_config, model_path=path, model_retry_s=0)))
    scene = upload_image(client, scene_pixels)["image_id"]
    assert _mask(client, scene)["segmenter"] == "grabcut"
    path.write_bytes(random_checkpoint.read_bytes())
    assert _mask(client, scene)["segmenter"] == "mobilesam"


def test_failed_load_is_not_retried_during_its_back_off(model_config, tmp_path, scene_pixels, load_counter):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"garbage")
    client = client_for(create_handler(replace(model_config, model_path=path)))
    scene = upload_image(client, scene_pixels)["image_id"]
    _mask(client, scene)
    _mask(client, scene)
    assert len(load_counter) == 1


def test_missing_weights_are_downloaded_from_model_url_at_cold_start(model_config, tmp_path, scene_pixels,
                                                                   random_checkpoint):
    data = random_checkpoint.read_bytes()
    with serving_bytes(data) as url:
        client = client_for(create_handler(replace(
            model_config, model_path=tmp_path / "cache" / "mobile_sam.pt", model_url=url,
            model_sha256=hashlib.sha256(data).hexdigest())))
        assert client.get("/health").get_json()["model"]["state"] == "not_loaded"
        assert _mask(client, upload_image(client, scene_pixels)["image_id"])["segmenter"] == "mobilesam"
    assert (tmp_path / "cache" / "mobile_sam.pt").read_bytes() == data


def test_uploading_a_scene_starts_loading_the_model_in_the_background(model_function, model_client, upload_to,
                                                                     scene_pixels, slow_setup):
    entered, release = slow_setup
    try:
        upload_to(scene_pixels)
        assert entered.wait(30), "the upload should have started the load"
        assert model_client.get("/health").get_json()["model"]["state"] == "loading"
    finally:
        release.set()
    assert model_function.runtime.segmentation.model.get() is not None


def test_uploading_a_product_does_not_load_the_model(model_client, upload_to, product_pixels, load_counter):
    upload_to(product_pixels, "product")
    assert model_client.get("/health").get_json()["model"]["state"] == "not_loaded"
    assert load_counter == []


def test_a_scene_upload_precomputes_its_embedding_so_the_first_mask_skips_the_encoder(model_config, scene_pixels,
                                                                                      monkeypatch):
    function = create_handler(replace(model_config, precompute_embedding=True))
    client = client_for(function)
    encoded = threading.Event()
    real_encode = MobileSamSegmenter.encode

    def encode_and_tell(self, image, image_key):
        result = real_encode(self, image, image_key)
        encoded.set()
        return result

    monkeypatch.setattr(MobileSamSegmenter, "encode", encode_and_tell)
    scene = upload_image(client, scene_pixels)["image_id"]
    assert encoded.wait(60), "the upload should have started encoding the scene"
    answer = _mask(client, scene)
    assert answer["cache_hit"] is True and "encode" not in answer["timings_ms"]
