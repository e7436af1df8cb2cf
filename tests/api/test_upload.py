"""POST /upload: an image in, a signed id and its sizes out."""
import base64
import io
import re
from dataclasses import replace
from datetime import datetime, timezone

import numpy as np
from PIL import Image

from handler.edge import create_handler

from support.function import AUTH, client_for
from support.images import jpeg_bytes, png_bytes


def test_multipart_scene_upload_answers_id_sizes_and_expiry(upload, scene_pixels):
    answer = upload(scene_pixels)
    assert answer["kind"] == "scene"
    assert (answer["width"], answer["height"]) == (640, 480)
    assert (answer["original_width"], answer["original_height"]) == (640, 480)
    assert re.fullmatch(r"scn\.[0-9a-f]{32}\..+", answer["image_id"])
    expires = datetime.fromisoformat(answer["expires_at"].replace("Z", "+00:00"))
    assert 3500 < (expires - datetime.now(timezone.utc)).total_seconds() <= 3600


def test_json_base64_upload_works_too(client, scene_pixels):
    data = base64.b64encode(png_bytes(scene_pixels)).decode()
    response = client.post("/upload", json={"image_base64": data}, headers=AUTH)
    assert response.status_code == 200
    assert response.get_json()["kind"] == "scene"


def test_large_scene_is_downscaled_to_max_side(client):
    big = np.full((1600, 2400, 3), 120, np.uint8)
    response = client.post("/upload", headers=AUTH,
                           data={"image": (io.BytesIO(jpeg_bytes(big)), "big.jpg")})
    answer = response.get_json()
    assert (answer["width"], answer["height"]) == (1280, 853)
    assert (answer["original_width"], answer["original_height"]) == (2400, 1600)


def test_max_side_is_configurable(config, scene_pixels):
    client = client_for(create_handler(replace(config, max_side=320)))
    response = client.post("/upload", headers=AUTH, data={"image": (io.BytesIO(png_bytes(scene_pixels)), "s.png")})
    assert (response.get_json()["width"], response.get_json()["height"]) == (320, 240)


def test_exif_rotated_photo_is_stored_upright(client):
    wide = np.zeros((100, 200, 3), np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    response = client.post("/upload", headers=AUTH,
                           data={"image": (io.BytesIO(jpeg_bytes(wide, exif=exif.tobytes())), "r.jpg")})
    answer = response.get_json()
    assert (answer["width"], answer["height"]) == (100, 200)
    assert (answer["original_width"], answer["original_height"]) == (100, 200)


def test_product_upload_keeps_its_alpha(upload, product_pixels):
    answer = upload(product_pixels, kind="product")
    assert answer["kind"] == "product"
    assert answer["image_id"].startswith("prd.")


def test_unknown_kind_is_400(client, scene_pixels):
    response = client.post("/upload", headers=AUTH,
                           data={"image": (io.BytesIO(png_bytes(scene_pixels)), "s.png"), "kind": "logo"})
    assert response.status_code == 400
    assert "scene" in response.get_json()["error"]["message"]


def test_not_an_image_is_400_with_a_code(client):
    response = client.post("/upload", headers=AUTH,
                           data={"image": (io.BytesIO(b"<html><body>hi</body></html>"), "x.png")})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "unsupported_image"


def test_image_under_another_field_name_is_400_naming_the_field(client, scene_pixels):
    response = client.post("/upload", headers=AUTH, data={"file": (io.BytesIO(png_bytes(scene_pixels)), "s.png")})
    assert response.status_code == 400
    assert "image" in response.get_json()["error"]["message"]


def test_stored_upload_files_are_private(upload, scene_pixels, tmp_path):
    upload(scene_pixels)
    files = list((tmp_path / "store" / "store").glob("*.item"))
    assert len(files) == 2, "the working copy and the photo as uploaded"
    assert all(file.stat().st_mode & 0o777 == 0o600 for file in files)


def test_large_png_is_reduced_to_max_side_with_its_colours(client):
    big = np.zeros((2000, 3000, 3), np.uint8)
    big[:, :1500] = (200, 30, 40)
    big[:, 1500:] = (20, 60, 220)
    response = client.post("/upload", headers=AUTH, data={"image": (io.BytesIO(png_bytes(big)), "big.png")})
    answer = response.get_json()
    assert (answer["width"], answer["height"]) == (1280, 853)
    scene = client.post("/process", headers=AUTH, json={"image_id": answer["image_id"], "box": [100, 100, 400, 400]})
    preview = scene.get_json()["preview_jpeg_base64"]
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(preview))).convert("RGB")).astype(int)
    assert np.abs(pixels[800, 1200] - (20, 60, 220)).max() < 12
    assert np.abs(pixels[10, 600] - (200, 30, 40)).max() < 12


def test_a_stored_product_keeps_every_pixel_and_its_alpha(function, upload, product_pixels):
    token = upload(product_pixels, "product")["image_id"]
    stored = function.runtime.records.load_image(token, kind="product", field="product_id")
    assert np.array_equal(stored.pixels, product_pixels)
