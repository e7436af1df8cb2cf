"""What the editor relies on: the settings schema, where the product went and what to check,
masks the user edited, and placing, turning and mirroring the product."""
from __future__ import annotations

import base64
import io
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from support.function import AUTH
from support.images import PRODUCT_BOX, png_bytes


def _image(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def _replace(client, scene_id: str, product_id: str, **fields) -> dict:
    response = client.post("/process", headers=AUTH, json={"image_id": scene_id, "product_id": product_id,
                                                           "box": PRODUCT_BOX, **fields})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def ids(upload, scene_pixels, product_pixels) -> tuple[str, str]:
    return upload(scene_pixels)["image_id"], upload(product_pixels, "product")["image_id"]


def test_the_settings_schema_is_public_and_describes_every_setting(client):
    response = client.get("/settings-schema")
    assert response.status_code == 200
    settings = {entry["name"]: entry for entry in response.get_json()["settings"]}
    assert {"scale", "feather", "color_grading", "rotation", "flip", "placement", "offset"} <= set(settings)
    assert settings["offset"]["max"] == 20000
    assert settings["feather"]["default"] is None and settings["feather"]["nullable"]
    assert all(entry["label"] and entry["help"] and entry["group"] in ("basic", "advanced")
               for entry in settings.values())


def test_the_settings_schema_publishes_the_upload_limits(config):
    from dataclasses import replace

    from handler.edge import create_handler

    from support.function import client_for

    client = client_for(create_handler(replace(config, max_upload_mb=12.5, max_pixels=5_000_000, upload_ttl_s=600)))
    limits = client.get("/settings-schema").get_json()["limits"]
    assert limits == {"max_upload_mb": 12.5, "max_pixels": 5_000_000, "upload_ttl_s": 600}


def test_a_replace_says_where_the_product_went(client, ids):
    answer = _replace(client, *ids)
    placement = answer["placement"]
    x0, y0, x1, y1 = placement["box"]
    assert x0 < x1 and y0 < y1 and abs(y1 - 380) <= 12, "it stands where the old product stood"
    assert placement["anchor"] == "bottom" and placement["scale"] > 0
    assert answer["warnings"] == [] and answer["feather"] >= 1


def test_a_replace_into_a_given_box_fills_that_box(client, ids):
    answer = _replace(client, *ids, settings={"placement": [100, 100, 220, 300]})
    x0, y0, x1, y1 = answer["placement"]["box"]
    assert x0 >= 99 and y0 >= 99 and x1 <= 221 and y1 <= 301
    assert (x1 - x0) == pytest.approx(120, abs=2) or (y1 - y0) == pytest.approx(200, abs=2)


def test_a_quarter_turn_makes_a_tall_product_wide(client, ids):
    upright = _replace(client, *ids)["placement"]["box"]
    turned = _replace(client, *ids, settings={"rotation": 90})["placement"]["box"]
    assert (upright[3] - upright[1]) > (upright[2] - upright[0])
    assert (turned[2] - turned[0]) > (turned[3] - turned[1])


def test_a_flipped_product_is_mirrored(client, upload, scene_pixels):
    product = np.zeros((200, 120, 4), np.uint8)
    product[:, :60] = (220, 30, 30, 255)
    product[:, 60:] = (30, 30, 220, 255)
    ids = upload(scene_pixels)["image_id"], upload(product, "product")["image_id"]
    plain = _image(_replace(client, *ids, settings={"remove_old": False})["image_base64"]).astype(int)
    flipped_answer = _replace(client, *ids, settings={"flip": True, "remove_old": False})
    flipped = _image(flipped_answer["image_base64"]).astype(int)
    x0, y0, x1, y1 = flipped_answer["placement"]["box"]
    row = (y0 + y1) // 2
    left, right = x0 + (x1 - x0) // 4, x0 + 3 * (x1 - x0) // 4
    assert plain[row, left, 0] > plain[row, left, 2] and flipped[row, left, 2] > flipped[row, left, 0]
    assert plain[row, right, 2] > plain[row, right, 0] and flipped[row, right, 0] > flipped[row, right, 2]


def test_a_suspicious_mask_is_flagged_in_both_answers(client, ids):
    whole_frame = [0, 0, 640, 480]  # the cut-out runs along the box's edges: the wall and table too
    mask = client.post("/process", json={"image_id": ids[0], "box": whole_frame}, headers=AUTH).get_json()
    assert [warning["code"] for warning in mask["warnings"]] == ["mask_suspicious"]
    assert mask["warnings"][0]["message"]
    replaced = client.post("/process", headers=AUTH, json={"image_id": ids[0], "mask_id": mask["mask_id"],
                                                           "product_id": ids[1]}).get_json()
    assert "mask_suspicious" in [warning["code"] for warning in replaced["warnings"]]


def test_a_raw_answer_carries_the_warnings_messages_beside_their_codes(client, ids):
    mask = client.post("/process", json={"image_id": ids[0], "box": [0, 0, 640, 480]}, headers=AUTH).get_json()
    response = client.post("/process", headers=AUTH, json={
        "image_id": ids[0], "mask_id": mask["mask_id"], "product_id": ids[1], "output": {"raw": True}})
    codes = response.headers["X-Drishya-Warnings"].split(",")
    messages = json.loads(response.headers["X-Drishya-Warning-Messages"])
    assert "mask_suspicious" in codes and len(messages) == len(codes)
    assert messages[codes.index("mask_suspicious")] == mask["warnings"][0]["message"]


def _mask_png(mask: np.ndarray) -> str:
    return base64.b64encode(png_bytes(mask.astype(np.uint8) * 255)).decode()


def test_an_edited_mask_is_stored_under_a_new_id_and_used(client, ids):
    edited = np.zeros((480, 640), bool)
    edited[150:380, 260:380] = True
    edited[100:150, 300:340] = True  # a brush stroke the segmenter did not give
    answer = client.post("/process", headers=AUTH, json={"image_id": ids[0],
                                                         "mask_png_base64": _mask_png(edited)}).get_json()
    assert answer["segmenter"] == "edited" and answer["bbox"] == [260, 100, 380, 380]
    assert np.array_equal(_image(answer["mask_png_base64"]) > 0, edited)
    replaced = client.post("/process", headers=AUTH, json={"image_id": ids[0], "mask_id": answer["mask_id"],
                                                           "product_id": ids[1]})
    assert replaced.status_code == 200


@pytest.mark.parametrize("mask, status, code", [
    (np.ones((240, 320), np.uint8) * 255, 400, "invalid_mask"),
    (np.full((480, 640), 128, np.uint8), 400, "invalid_mask"),
    (np.zeros((480, 640), np.uint8), 422, "empty_mask"),
], ids=["wrong-size", "not-binary", "empty"])
def test_a_bad_edited_mask_is_refused_saying_why(client, ids, mask, status, code):
    data = base64.b64encode(cv2.imencode(".png", mask)[1].tobytes()).decode()
    response = client.post("/process", headers=AUTH, json={"image_id": ids[0], "mask_png_base64": data})
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_an_edited_mask_and_a_box_together_are_refused(client, ids):
    edited = np.zeros((480, 640), bool)
    edited[150:380, 260:380] = True
    response = client.post("/process", headers=AUTH, json={"image_id": ids[0], "box": PRODUCT_BOX,
                                                           "mask_png_base64": _mask_png(edited)})
    assert response.status_code == 400
