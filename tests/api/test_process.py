"""POST /process: the mask step and the replace step."""
import base64
import io

import numpy as np
from PIL import Image

from support.function import AUTH
from support.images import PRODUCT_BOX


def _image(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def test_mask_step_returns_mask_preview_bbox_and_score(client, upload, scene_pixels):
    scene = upload(scene_pixels)
    response = client.post("/process", json={"image_id": scene["image_id"], "box": PRODUCT_BOX}, headers=AUTH)
    answer = response.get_json()
    assert response.status_code == 200, answer
    mask = _image(answer["mask_png_base64"])
    assert mask.shape == (480, 640) and set(np.unique(mask)) <= {0, 255}
    assert _image(answer["preview_jpeg_base64"]).shape == (480, 640, 3)
    x0, y0, x1, y1 = answer["bbox"]
    assert abs(x0 - 260) <= 10 and abs(y0 - 150) <= 10 and abs(x1 - 380) <= 10 and abs(y1 - 380) <= 10
    assert 0 < answer["score"] <= 1
    assert answer["segmenter"] == "grabcut"
    assert abs(answer["area_fraction"] - (mask > 0).mean()) < 1e-4
    assert {"segment", "total"} <= set(answer["timings_ms"])


def test_replace_step_puts_the_product_where_the_old_one_was(client, upload, scene_pixels, product_pixels):
    scene, product = upload(scene_pixels), upload(product_pixels, "product")
    mask = client.post("/process", json={"image_id": scene["image_id"], "box": PRODUCT_BOX}, headers=AUTH).get_json()
    response = client.post("/process", headers=AUTH, json={
        "image_id": scene["image_id"], "mask_id": mask["mask_id"], "product_id": product["image_id"]})
    answer = response.get_json()
    assert response.status_code == 200, answer
    result = _image(answer["image_base64"])
    assert result.shape == (480, 640, 3) and answer["format"] == "png"
    inside = result[200:370, 280:360].reshape(-1, 3).astype(int)
    greenish = (inside[:, 1] > inside[:, 0] + 30).mean()
    assert greenish > 0.5, "the new (green) product should cover the old (red) one's place"
    assert np.array_equal(result[:40, :40], scene_pixels[:40, :40]), "far pixels stay untouched"


def test_replace_in_one_call_with_a_box(client, upload, scene_pixels, product_pixels):
    scene, product = upload(scene_pixels), upload(product_pixels, "product")
    response = client.post("/process", headers=AUTH, json={
        "image_id": scene["image_id"], "box": PRODUCT_BOX, "product_id": product["image_id"],
        "output": {"format": "jpeg", "quality": 80}})
    assert response.status_code == 200
    assert response.get_json()["format"] == "jpeg"
    assert base64.b64decode(response.get_json()["image_base64"])[:2] == b"\xff\xd8"


def test_raw_output_returns_image_bytes_with_their_content_type(client, upload, scene_pixels, product_pixels):
    scene, product = upload(scene_pixels), upload(product_pixels, "product")
    response = client.post("/process", headers=AUTH, json={
        "image_id": scene["image_id"], "box": PRODUCT_BOX, "product_id": product["image_id"],
        "output": {"format": "webp", "raw": True}})
    assert response.status_code == 200
    assert response.content_type == "image/webp"
    assert response.data[8:12] == b"WEBP"


def test_accept_header_listing_an_image_first_returns_raw_bytes(client, upload, scene_pixels, product_pixels):
    scene, product = upload(scene_pixels), upload(product_pixels, "product")
    response = client.post("/process", json={"image_id": scene["image_id"], "box": PRODUCT_BOX,
                                             "product_id": product["image_id"]},
                           headers={**AUTH, "Accept": "image/png, application/json"})
    assert response.content_type == "image/png"
    assert response.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_inline_base64_scene_and_product_work_without_uploads(client, scene_pixels, product_pixels):
    from support.images import png_bytes

    response = client.post("/process", headers=AUTH, json={
        "image_base64": base64.b64encode(png_bytes(scene_pixels)).decode(), "box": PRODUCT_BOX,
        "product_base64": base64.b64encode(png_bytes(product_pixels)).decode()})
    assert response.status_code == 200, response.get_json()


def test_mask_id_together_with_a_box_is_400(client, upload, scene_pixels):
    scene = upload(scene_pixels)
    mask = client.post("/process", json={"image_id": scene["image_id"], "box": PRODUCT_BOX}, headers=AUTH).get_json()
    response = client.post("/process", headers=AUTH, json={
        "image_id": scene["image_id"], "mask_id": mask["mask_id"], "box": PRODUCT_BOX})
    assert response.status_code == 400


def test_mask_of_another_scene_is_refused(client, upload, scene_pixels):
    first, second = upload(scene_pixels), upload(scene_pixels)
    mask = client.post("/process", json={"image_id": first["image_id"], "box": PRODUCT_BOX}, headers=AUTH).get_json()
    response = client.post("/process", json={"image_id": second["image_id"], "mask_id": mask["mask_id"]},
                           headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "mask_scene_mismatch"


def test_settings_out_of_range_are_400_naming_the_range(client, upload, scene_pixels, product_pixels):
    scene, product = upload(scene_pixels), upload(product_pixels, "product")
    response = client.post("/process", headers=AUTH, json={
        "image_id": scene["image_id"], "box": PRODUCT_BOX, "product_id": product["image_id"],
        "settings": {"scale": 5}})
    assert response.status_code == 400
    assert "0.5" in response.get_json()["error"]["message"] and "2" in response.get_json()["error"]["message"]


def test_no_box_and_no_points_is_400(client, upload, scene_pixels):
    scene = upload(scene_pixels)
    response = client.post("/process", json={"image_id": scene["image_id"]}, headers=AUTH)
    assert response.status_code == 400


def test_points_with_labels_segment_without_a_box(client, upload, scene_pixels):
    scene = upload(scene_pixels)
    response = client.post("/process", headers=AUTH, json={
        "image_id": scene["image_id"], "points": [[320, 300], [100, 100]], "labels": [1, 0]})
    assert response.status_code == 200
    x0, y0, x1, y1 = response.get_json()["bbox"]
    assert x0 <= 320 < x1 and y0 <= 300 < y1


def test_product_id_used_as_scene_is_wrong_kind(client, upload, product_pixels):
    product = upload(product_pixels, "product")
    response = client.post("/process", json={"image_id": product["image_id"], "box": PRODUCT_BOX}, headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "wrong_kind"
