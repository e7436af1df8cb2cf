"""Property tests: whatever arrives, the function answers with a status below 500, never lets an
exception escape, and stays healthy; and a burst of bad requests over real HTTP does not stop a
good one from succeeding right after.

Bounded for CI: a few dozen examples per property, no example database.
"""
from __future__ import annotations

import base64
import io
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from support.function import AUTH
from support.images import png_bytes
from support.servers import call, call_json, function_env, multipart, running_function

FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
ANSWERS = {200, 400, 401, 404, 405, 410, 413, 415, 422}
# Pillow warns about the broken metadata of mutated files; the answer is what is tested
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL")


def _encoded(pixels: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **options)
    return buffer.getvalue()


def _seed_images() -> list[bytes]:
    """Small valid images in every accepted format, for mutation."""
    rng = np.random.default_rng(11)
    rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    rgba = np.dstack([rgb, rng.integers(0, 256, (24, 32), dtype=np.uint8)])
    return [_encoded(rgb, "PNG"), _encoded(rgba, "PNG"), _encoded(rgb, "JPEG", quality=80),
            _encoded(rgb, "GIF"), _encoded(rgb, "TIFF"), _encoded(rgb, "BMP"), _encoded(rgba, "WEBP")]


SEEDS = _seed_images()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)
coordinates = st.one_of(st.integers(-100, 200), st.floats(-1e3, 1e3), st.integers(), st.floats(allow_nan=False))


@st.composite
def mutated_images(draw) -> bytes:
    """A valid image with a few bytes overwritten, inserted or cut off."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["overwrite", "insert", "delete"]))
        if action == "overwrite":
            data[position] = draw(st.integers(0, 255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif len(data) > 1:
            del data[position]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@pytest.fixture
def small_ids(upload):
    """A 64x48 scene and a product, so that fuzzed segmentations stay fast."""
    scene = np.full((48, 64, 3), 180, np.uint8)
    scene[10:40, 20:45] = (200, 40, 35)
    product = np.zeros((30, 20, 4), np.uint8)
    product[5:25, 5:15] = (30, 170, 60, 255)
    return {"scene": upload(scene)["image_id"], "product": upload(product, "product")["image_id"]}


def _assert_answered(client, response) -> None:
    """A deliberate answer (a 4xx JSON error or a success), and the function still healthy."""
    assert response.status_code in ANSWERS, (response.status_code, response.get_data()[:300])
    if response.status_code != 200:
        assert {"code", "message"} <= set(response.get_json()["error"]) <= {"code", "message", "details"}
    assert client.get("/health").get_json()["status"] == "healthy"


@FUZZ
@given(data=st.binary(max_size=4096), kind=st.sampled_from(["scene", "product", "", "logo"]))
def test_random_bytes_as_an_uploaded_file_never_fail_the_server(client, data, kind):
    response = client.post("/upload", headers=AUTH, data={"image": (io.BytesIO(data), "x.png"), "kind": kind})
    _assert_answered(client, response)


@FUZZ
@given(data=st.binary(max_size=2048), path=st.sampled_from(["/", "/upload", "/process", "/delete"]),
       content_type=st.sampled_from(["application/json", "multipart/form-data; boundary=x", "multipart/form-data",
                                     "text/plain", "application/x-www-form-urlencoded", "image/png"]))
def test_random_bytes_as_a_body_never_fail_the_server(client, data, path, content_type):
    _assert_answered(client, client.post(path, headers=AUTH, data=data, content_type=content_type))


@FUZZ
@given(image=mutated_images(), kind=st.sampled_from(["scene", "product"]))
def test_mutated_images_never_fail_the_server(client, image, kind):
    _assert_answered(client, client.post("/upload", headers=AUTH, data={"image": (io.BytesIO(image), "x"), "kind": kind}))


@FUZZ
@given(image=mutated_images())
def test_mutated_inline_images_never_fail_process(client, image):
    body = {"image_base64": base64.b64encode(image).decode(), "box": [2, 2, 20, 20]}
    _assert_answered(client, client.post("/process", headers=AUTH, json=body))


@FUZZ
@given(data=st.data())
def test_random_process_requests_never_fail_the_server(client, small_ids, data):
    ids = st.sampled_from([small_ids["scene"], small_ids["product"]]) | json_values
    body = data.draw(st.fixed_dictionaries({"image_id": ids}, optional={
        "box": st.lists(coordinates, max_size=5) | json_values,
        "points": st.lists(st.lists(coordinates, max_size=3), max_size=4) | json_values,
        "labels": st.lists(st.integers(-1, 2), max_size=4) | json_values,
        "product_id": ids,
        "mask_id": json_values,
        "output": st.fixed_dictionaries({}, optional={"format": st.sampled_from(["png", "jpeg", "webp", "gif"]),
                                                      "quality": coordinates, "raw": json_values}) | json_values,
        "settings": st.dictionaries(st.sampled_from(["scale", "feather", "anchor", "offset", "shadow", "blend_mode",
                                                     "remove_old", "cutout", "bogus"]),
                                    coordinates | json_values, max_size=3) | json_values,
        "extra": json_values,
    }))
    _assert_answered(client, client.post("/process", headers=AUTH, json=body))


@FUZZ
@given(body=json_values)
def test_random_json_on_every_action_never_fails_the_server(client, body):
    for path in ("/", "/upload", "/process", "/delete"):
        _assert_answered(client, client.post(path, headers=AUTH, data=json.dumps(body), content_type="application/json"))


# ---- a burst over real HTTP ----------------------------------------------------------------

def _multipart(data: bytes, kind: str) -> tuple[bytes, str]:
    return multipart(data, "fuzz.png", kind=kind)


def _bad_request(index: int, url: str) -> int:
    json_type = {"Content-Type": "application/json"}
    kinds = [
        lambda: call(url, "POST", "/upload", body=_multipart(SEEDS[index % len(SEEDS)][:40], "scene")[0],
                     headers={**AUTH, "Content-Type": _multipart(b"", "scene")[1]}),
        lambda: call(url, "POST", "/process", body=b"{broken", headers={**AUTH, **json_type}),
        lambda: call(url, "POST", "/process", body=b'{"image_id": "../../etc/passwd", "box": [1, 2, 3, 4]}',
                     headers={**AUTH, **json_type}),
        lambda: call(url, "POST", "/process", body=b'{"image_id": 1}', headers={"X-App-Password": "wrong", **json_type}),
        lambda: call(url, "POST", "/delete", body=b'{"image_id": []}', headers={**AUTH, **json_type}),
        lambda: call(url, "GET", "/upload"),
        lambda: call(url, "POST", "/nowhere", body=b"x"),
        lambda: call(url, "POST", "/upload", body=b"\x00" * 3000, headers={**AUTH, "Content-Type": "image/png"}),
    ]
    return kinds[index % len(kinds)]()[0]


@pytest.mark.slow
def test_a_burst_of_bad_requests_then_a_good_replace_succeeds(tmp_path, scene_pixels, product_pixels):
    with running_function(function_env(tmp_path), tmp_path) as server:
        url = server.url
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda index: _bad_request(index, url), range(40)))
        assert all(400 <= status < 500 for status in statuses), statuses
        ids = {}
        for kind, pixels in (("scene", scene_pixels), ("product", product_pixels)):
            body, content_type = _multipart(png_bytes(pixels), kind)
            status, _, answer = call(url, "POST", "/upload", body=body, headers={**AUTH, "Content-Type": content_type})
            assert status == 200, answer
            ids[kind] = json.loads(answer)["image_id"]
        status, answer = call_json(url, "POST", "/process", {"image_id": ids["scene"], "product_id": ids["product"],
                                                             "box": [250, 140, 390, 390]}, headers=AUTH)
        assert status == 200, answer
        assert base64.b64decode(answer["image_base64"])[:4] == b"\x89PNG"
        assert call_json(url, "GET", "/health")[1]["status"] == "healthy"
