"""After each request memory returns near its warm baseline (a leak check with a generous
bound; the measured figures are in bench/RESULTS.md)."""
import psutil
import pytest
from checkpoints import write_random_checkpoint
from conftest import AUTH, PRODUCT_BOX

from handler.runtime import reset_runtime

_MIB = 1024 * 1024
WARM_REQUESTS = 50


@pytest.fixture
def warm_model_client(client, function_env, tmp_path):
    function_env.setenv("SEGMENTER", "mobilesam")
    function_env.setenv("MODEL_PATH", str(write_random_checkpoint(tmp_path / "mobile_sam.pt")))
    reset_runtime()
    return client


def test_fifty_warm_requests_grow_rss_by_less_than_30_mb(warm_model_client, upload, scene_pixels, product_pixels):
    client = warm_model_client
    scene, product = upload(scene_pixels)["image_id"], upload(product_pixels, "product")["image_id"]

    def one_request(index: int) -> None:
        box = [PRODUCT_BOX[0] - index % 7, PRODUCT_BOX[1], PRODUCT_BOX[2] + index % 5, PRODUCT_BOX[3]]
        request = {"image_id": scene, "box": box, **({"product_id": product} if index % 2 else {})}
        assert client.post("/process", json=request, headers=AUTH).status_code == 200

    for index in range(5):  # warm: model loaded, embedding cached, allocator settled
        one_request(index)
    process = psutil.Process()
    before = process.memory_info().rss
    for index in range(WARM_REQUESTS):
        one_request(index)
    grown = (process.memory_info().rss - before) / _MIB
    assert grown < 30, f"RSS grew {grown:.1f} MB over {WARM_REQUESTS} warm requests"
