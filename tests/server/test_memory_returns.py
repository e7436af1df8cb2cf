"""After each request memory returns near its warm baseline (a leak check with a generous
bound; the measured figures are in bench/RESULTS.md)."""
from dataclasses import replace

import psutil
import pytest

from handler.edge import create_handler

from support.checkpoints import write_random_checkpoint
from support.function import AUTH, client_for, upload_image
from support.images import PRODUCT_BOX

_MIB = 1024 * 1024
WARM_REQUESTS = 50


@pytest.fixture
def model_client(config, tmp_path):
    """A function serving MobileSAM with random weights."""
    checkpoint = write_random_checkpoint(tmp_path / "mobile_sam.pt")
    return client_for(create_handler(replace(config, segmenter="mobilesam", model_path=checkpoint)))


@pytest.mark.slow
def test_fifty_warm_requests_grow_rss_by_less_than_30_mb(model_client, scene_pixels, product_pixels):
    client = model_client
    scene = upload_image(client, scene_pixels)["image_id"]
    product = upload_image(client, product_pixels, "product")["image_id"]

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
