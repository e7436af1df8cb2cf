"""Results come back at the size the photo was uploaded: a 4000x3000 ad gives a 4000x3000 ad,
changed only where the product was replaced, looking like the working-size preview."""
from __future__ import annotations

import base64
import io
from dataclasses import replace

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from handler.edge import create_handler

from support.function import AUTH, client_for
from support.paths import SAMPLES

BOX = [525, 235, 755, 725]  # the sample bottle, in the working copy's (1280x960) pixels


def _jpeg(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo_4000() -> bytes:
    """samples/scene.jpg enlarged to 4000x3000 (a photo's size), as a JPEG."""
    return _jpeg(Image.open(SAMPLES / "scene.jpg").convert("RGB").resize((4000, 3000), Image.LANCZOS))


def _upload(client, data: bytes, kind: str = "scene", name: str = "ad.jpg") -> dict:
    response = client.post("/upload", headers=AUTH, data={"image": (io.BytesIO(data), name), "kind": kind})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _replace(client, scene: dict, product: dict, **output) -> dict:
    response = client.post("/process", headers=AUTH, json={
        "image_id": scene["image_id"], "product_id": product["image_id"], "box": BOX, "output": output})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _pixels(answer: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["image_base64"]))).convert("RGB"))


@pytest.fixture(scope="module")
def replaced(photo_4000, tmp_path_factory):
    """(the 4000x3000 photo as decoded, the full-size answer and pixels, the working-size ones)."""
    from handler.platform.config import Config

    from support.function import PASSWORD

    folder = tmp_path_factory.mktemp("fullres")
    client = client_for(create_handler(Config(app_password=PASSWORD, temp_dir=folder, segmenter="grabcut")))
    scene = _upload(client, photo_4000)
    product = _upload(client, (SAMPLES / "product.png").read_bytes(), "product", "product.png")
    full = _replace(client, scene, product, format="png")
    working = _replace(client, scene, product, format="png", size="working")
    decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(photo_4000, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return decoded, full, _pixels(full), working, _pixels(working)


def test_a_4000_by_3000_photo_comes_back_at_4000_by_3000(replaced):
    _, full, pixels, working, working_pixels = replaced
    assert (full["width"], full["height"]) == (4000, 3000) and pixels.shape == (3000, 4000, 3)
    assert full["scale"] == pytest.approx(3.125) and (full["working_width"], full["working_height"]) == (1280, 960)
    assert (working["width"], working["height"], working["scale"]) == (1280, 960, 1.0)


def test_every_pixel_outside_the_edited_region_is_the_photos_own(replaced):
    photo, full, pixels, _, _ = replaced
    x0, y0, x1, y1 = full["region"]
    outside = np.ones(photo.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(pixels[outside], photo[outside])
    assert (x1 - x0) * (y1 - y0) < 0.3 * photo.shape[0] * photo.shape[1], "only the product's surroundings change"


def test_the_full_size_product_is_where_and_as_the_preview_shows_it(replaced):
    _, full, pixels, working, working_pixels = replaced
    scale = full["scale"]
    expected = [round(v * scale) for v in working["placement"]["box"]]
    assert np.abs(np.subtract(full["placement"]["box"], expected)).max() <= 2 * scale
    x0, y0, x1, y1 = working["placement"]["box"]
    inner = (slice(y0 + 10, y1 - 10), slice(x0 + 10, x1 - 10))
    enlarged = cv2.resize(working_pixels, (4000, 3000), interpolation=cv2.INTER_LINEAR)
    full_inner = (slice(round((y0 + 10) * scale), round((y1 - 10) * scale)),
                  slice(round((x0 + 10) * scale), round((x1 - 10) * scale)))
    assert np.abs(pixels[full_inner].mean((0, 1)) - enlarged[full_inner].mean((0, 1))).max() <= 3
    assert working_pixels[inner].std() > 10, "the product is there"


def test_the_full_size_mask_has_no_staircase_from_the_working_copy(client, tmp_path):
    """A tilted dark block on a light wall, photographed at 3840x2880: its cut-out's edge at full
    size steps one pixel at a time, not in runs of ~3 (the working-to-full scale)."""
    wall = np.full((2880, 3840, 3), 225, np.uint8)
    corners = np.array([[1400, 700], [2600, 900], [2400, 2200], [1200, 2000]], np.int32)
    cv2.fillPoly(wall, [corners], (40, 60, 90), lineType=cv2.LINE_AA)
    scene = _upload(client, _jpeg(Image.fromarray(wall)))
    answer = client.post("/process", headers=AUTH, json={
        "image_id": scene["image_id"], "box": [360, 170, 900, 760], "output": {"size": "original"}}).get_json()
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["mask_png_base64"])))) > 0
    assert mask.shape == (2880, 3840)
    top_edge = np.argmax(mask[:, 1500:2500], axis=0)  # first product row in each column of the top edge
    steps = np.flatnonzero(np.diff(top_edge))
    runs = np.diff(steps)
    assert runs.size > 100 and np.median(runs) <= 6, "the slope (1 in 6) shows through, not 3-pixel stairs"
    assert np.abs(np.diff(top_edge)).max() <= 2


def test_a_jpeg_result_keeps_the_photos_colour_profile_and_exif_but_is_upright(client):
    photo = Image.open(SAMPLES / "scene.jpg").convert("RGB").resize((1600, 2000))  # stored sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    exif[0x010F] = "Drishya Test Camera"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    scene = _upload(client, _jpeg(photo, exif=exif.tobytes(), icc_profile=icc))
    product = _upload(client, (SAMPLES / "product.png").read_bytes(), "product", "product.png")
    response = client.post("/process", headers={**AUTH, "Accept": "image/jpeg"}, json={
        "image_id": scene["image_id"], "product_id": product["image_id"], "box": [300, 300, 500, 600],
        "output": {"format": "jpeg"}})
    assert response.status_code == 200
    result = Image.open(io.BytesIO(response.data))
    assert result.size == (2000, 1600)
    assert result.info["icc_profile"] == icc
    kept = result.getexif()
    assert kept[0x010F] == "Drishya Test Camera" and kept.get(0x0112, 1) == 1


def test_a_webp_result_wider_than_webp_allows_is_422(config):
    client = client_for(create_handler(replace(config, max_pixels=24_000_000)))
    wide = Image.fromarray(np.full((600, 16400, 3), 180, np.uint8))
    scene = _upload(client, _jpeg(wide))
    product = _upload(client, (SAMPLES / "product.png").read_bytes(), "product", "product.png")
    response = client.post("/process", headers=AUTH, json={
        "image_id": scene["image_id"], "product_id": product["image_id"], "box": [600, 10, 700, 40],
        "output": {"format": "webp"}})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "too_large_for_webp"


def test_one_pixel_over_24_megapixels_is_refused_before_decoding(client):
    from bench.decode_cases import _gradient

    from support.images import png_bytes

    over = np.dstack([_gradient(6001, 4000)] * 3)  # 24,004,000 px
    response = client.post("/upload", headers=AUTH, data={"image": (io.BytesIO(png_bytes(over)), "big.png")})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "image_too_large"


@pytest.mark.parametrize("megabytes, status", [(32, 400), (33, 413)])
def test_a_32_mb_body_is_read_and_33_mb_is_refused(client, megabytes, status):
    body = b"\0" * (megabytes * 1024 * 1024 - 4096)  # under / over the limit with the form around it
    response = client.post("/upload", headers=AUTH, data={"image": (io.BytesIO(body), "big.jpg")})
    assert response.status_code == status
    if status == 400:
        assert response.get_json()["error"]["code"] == "unsupported_image", "read whole, then found not an image"


def test_a_replacement_over_most_of_the_photo_is_made_smaller_and_enlarged_with_a_warning(client, photo_4000,
                                                                                        monkeypatch):
    from handler.actions import render

    monkeypatch.setattr(render, "MAX_REGION_PX", 2_000_000)  # as a 24 MP photo's whole frame would be
    scene = _upload(client, photo_4000)
    product = _upload(client, (SAMPLES / "product.png").read_bytes(), "product", "product.png")
    answer = _replace(client, scene, product, format="png")
    assert (answer["width"], answer["height"]) == (4000, 3000)
    assert "rendered_below_full_size" in [warning["code"] for warning in answer["warnings"]]
    photo = cv2.cvtColor(cv2.imdecode(np.frombuffer(photo_4000, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    pixels = _pixels(answer)
    x0, y0, x1, y1 = answer["region"]
    outside = np.ones(photo.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(pixels[outside], photo[outside])
    bx0, by0, bx1, by1 = answer["placement"]["box"]
    assert np.abs(pixels[by0:by1, bx0:bx1].astype(int) - photo[by0:by1, bx0:bx1]).mean() > 20, "the product is there"
