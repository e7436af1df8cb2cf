"""POST /delete: an upload, its masks and its cached embedding go now, not when their TTL ends."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from handler.edge import create_handler

from support.function import AUTH, client_for, upload_image
from support.images import PRODUCT_BOX


def store_files(tmp_path) -> list:
    """The store's items: a scene is two (its working copy and its photo as uploaded)."""
    folder = tmp_path / "store" / "store"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_delete_removes_a_scene_its_masks_and_its_cached_embedding(client, function, upload, scene_pixels, tmp_path,
                                                                  monkeypatch):
    scene = upload(scene_pixels)
    other = upload(scene_pixels)
    mask = client.post("/process", json={"image_id": scene["image_id"], "box": PRODUCT_BOX}, headers=AUTH)
    assert mask.status_code == 200
    forgotten = []
    monkeypatch.setattr(function.runtime.segmentation, "forget_image", forgotten.append)
    assert len(store_files(tmp_path)) == 5
    response = client.post("/delete", json={"image_id": scene["image_id"]}, headers=AUTH)
    assert response.status_code == 200
    assert response.get_json()["deleted"] == 3
    assert forgotten == [scene["image_id"].split(".")[1]]
    assert len(store_files(tmp_path)) == 2
    assert client.post("/process", json={"image_id": other["image_id"], "box": PRODUCT_BOX},
                       headers=AUTH).status_code == 200


def test_a_deleted_upload_is_404_afterwards(client, upload, scene_pixels):
    scene = upload(scene_pixels)
    mask = client.post("/process", json={"image_id": scene["image_id"], "box": PRODUCT_BOX}, headers=AUTH).get_json()
    client.post("/delete", json={"image_id": scene["image_id"]}, headers=AUTH)
    for body in ({"image_id": scene["image_id"], "box": PRODUCT_BOX},
                 {"image_id": scene["image_id"], "mask_id": mask["mask_id"]}):
        response = client.post("/process", json=body, headers=AUTH)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


def test_delete_takes_a_product_id_too(client, upload, product_pixels, tmp_path):
    product = upload(product_pixels, "product")
    response = client.post("/delete", json={"image_id": product["image_id"]}, headers=AUTH)
    assert response.get_json()["deleted"] == 1
    assert store_files(tmp_path) == []


def test_deleting_twice_is_harmless(client, upload, scene_pixels):
    scene = upload(scene_pixels)
    client.post("/delete", json={"image_id": scene["image_id"]}, headers=AUTH)
    response = client.post("/delete", json={"image_id": scene["image_id"]}, headers=AUTH)
    assert response.status_code == 200
    assert response.get_json()["deleted"] == 0


def test_an_expired_upload_can_still_be_deleted(client, upload, scene_pixels, tmp_path, monkeypatch):
    scene = upload(scene_pixels)
    expires_at = int(scene["image_id"].split(".")[2], 36)
    monkeypatch.setattr(time, "time", lambda: expires_at + 60.0)
    response = client.post("/delete", json={"image_id": scene["image_id"]}, headers=AUTH)
    assert response.get_json()["deleted"] == 2
    assert store_files(tmp_path) == []


def test_delete_through_post_root_with_an_action_field(client, upload, scene_pixels):
    scene = upload(scene_pixels)
    response = client.post("/", json={"action": "delete", "image_id": scene["image_id"]}, headers=AUTH)
    assert response.get_json()["deleted"] == 2


def test_delete_needs_the_secret(client, upload, scene_pixels, tmp_path):
    scene = upload(scene_pixels)
    response = client.post("/delete", json={"image_id": scene["image_id"]})
    assert response.status_code == 401
    assert len(store_files(tmp_path)) == 2


@pytest.mark.parametrize("token", ["../../etc/passwd", 7, None, "scn.x.y.z"])
def test_delete_of_a_malformed_id_is_400_invalid_id(client, token):
    response = client.post("/delete", json={"image_id": token}, headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_id"


def test_delete_of_a_mask_id_is_400_wrong_kind(client, upload, scene_pixels):
    scene = upload(scene_pixels)
    mask = client.post("/process", json={"image_id": scene["image_id"], "box": PRODUCT_BOX}, headers=AUTH).get_json()
    response = client.post("/delete", json={"image_id": mask["mask_id"]}, headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "wrong_kind"


def test_a_delete_that_lands_while_a_mask_is_being_made_leaves_no_mask(config, scene_pixels, monkeypatch, tmp_path):
    function = create_handler(replace(config, max_concurrent_jobs=2))
    client = client_for(function)
    scene = upload_image(client, scene_pixels)
    grabcut = function.runtime.segmentation.grabcut
    real_segment = grabcut.segment

    def segment_then_the_scene_is_deleted(*args, **kwargs):
        result = real_segment(*args, **kwargs)
        assert client.post("/delete", json={"image_id": scene["image_id"]}, headers=AUTH).status_code == 200
        return result

    monkeypatch.setattr(grabcut, "segment", segment_then_the_scene_is_deleted)
    response = client.post("/process", json={"image_id": scene["image_id"], "box": PRODUCT_BOX}, headers=AUTH)
    assert response.status_code == 404
    assert store_files(tmp_path) == []
