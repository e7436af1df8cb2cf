"""What every response carries and never reveals: security headers, content types, no traces."""
from __future__ import annotations

import io

import pytest

from support.function import AUTH
from support.images import PRODUCT_BOX, png_bytes


def test_every_kind_of_response_carries_nosniff_and_no_store(client, upload, scene_pixels, product_pixels):
    scene, product = upload(scene_pixels), upload(product_pixels, "product")
    responses = [
        client.get("/health"), client.get("/nowhere"), client.open("/process", method="OPTIONS"),
        client.post("/process", json={}), client.post("/process", json={}, headers=AUTH),
        client.post("/process", headers=AUTH, json={"image_id": scene["image_id"], "box": PRODUCT_BOX,
                                                    "product_id": product["image_id"], "output": {"raw": True}}),
    ]
    for response in responses:
        assert response.headers["X-Content-Type-Options"] == "nosniff", response.status
        assert response.headers["Cache-Control"] == "no-store", response.status


def test_page_files_may_be_cached_but_are_revalidated(client):
    page = client.get("/")
    assert page.headers["Cache-Control"] == "no-cache" and page.headers["ETag"]
    assert client.get("/", headers={"If-None-Match": page.headers["ETag"]}).status_code == 304


@pytest.mark.parametrize("fmt, content_type, magic", [("png", "image/png", b"\x89PNG"),
                                                     ("jpeg", "image/jpeg", b"\xff\xd8\xff"),
                                                     ("webp", "image/webp", b"RIFF")])
def test_raw_outputs_carry_their_content_type(client, upload, scene_pixels, product_pixels, fmt, content_type, magic):
    scene, product = upload(scene_pixels), upload(product_pixels, "product")
    response = client.post("/process", headers=AUTH, json={
        "image_id": scene["image_id"], "box": PRODUCT_BOX, "product_id": product["image_id"],
        "output": {"format": fmt, "raw": True}})
    assert response.status_code == 200
    assert response.content_type == content_type
    assert response.data.startswith(magic)


def test_json_answers_are_application_json(client, upload, scene_pixels):
    scene = upload(scene_pixels)
    for response in (client.get("/health"), client.post("/process", json={}),
                     client.post("/process", json={"image_id": scene["image_id"], "box": PRODUCT_BOX}, headers=AUTH)):
        assert response.content_type == "application/json"


LEAKS = ("Traceback", "/tmp", "/work", "/root", "site-packages", 'File "', ".py")


def test_no_response_reveals_a_stack_trace_or_a_path(client, upload, scene_pixels, monkeypatch, tmp_path):
    scene = upload(scene_pixels)
    bad_requests = [
        ("/upload", {"data": {"image": (io.BytesIO(b"GIF89a" + b"\0" * 20), "x.gif")}}),
        ("/upload", {"data": {"image": (io.BytesIO(png_bytes(scene_pixels)[:300]), "x.png")}}),
        ("/upload", {"json": {"image_base64": "!!!"}}),
        ("/process", {"json": {"image_id": "../../etc/passwd"}}),
        ("/process", {"json": {"image_id": scene["image_id"], "box": [900, 900, 901, 901]}}),
        ("/process", {"data": b"{", "content_type": "application/json"}),
        ("/process", {"data": b"x=1", "content_type": "application/x-www-form-urlencoded"}),
        ("/delete", {"json": {"image_id": scene["image_id"][:-3]}}),
        ("/app/../../etc/passwd", {}),
    ]
    texts = [client.post(path, headers=AUTH, **options).get_data(as_text=True) for path, options in bad_requests]

    def fail_with_a_path(*args, **kwargs):
        raise RuntimeError(f"Traceback: cannot open {tmp_path}/store/x.item in /work/main/handler/x.py")

    monkeypatch.setattr("handler.actions.upload.decode_upload", fail_with_a_path)
    internal = client.post("/upload", headers=AUTH, data={"image": (io.BytesIO(png_bytes(scene_pixels)), "s.png")})
    assert internal.status_code == 500
    assert internal.get_json()["error"]["code"] == "internal_error"
    texts.append(internal.get_data(as_text=True))
    for text in texts:
        assert not [leak for leak in LEAKS if leak in text], text
