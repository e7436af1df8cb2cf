"""Hostile and odd input: every bad request gets a 4xx JSON error with a specific code, odd but
valid images are decoded correctly, and nothing outside TEMP_DIR is ever touched.

Covered elsewhere: an expired id is 410 (test_ids_and_store), a product id used as a scene is
400 wrong_kind (test_process), malformed JSON on /process (test_errors_and_routing).
"""
from __future__ import annotations

import io
import select
import socket
import struct
import sys
import zipfile
import zlib
from dataclasses import replace

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from handler.edge import create_handler
from handler.storage.ids import ObjectId, new_key

from support.function import AUTH, PASSWORD, client_for
from support.images import PRODUCT_BOX, jpeg_bytes, png_bytes
from support.servers import call, function_env, running_function

# ---- helpers -------------------------------------------------------------------------------

def post_image(client, data: bytes, kind: str = "scene", filename: str = "image.png"):
    return client.post("/upload", headers=AUTH, data={"image": (io.BytesIO(data), filename), "kind": kind})


def error_code(response) -> str:
    return response.get_json()["error"]["code"]


def stored_pixels(function, answer: dict) -> np.ndarray:
    """The pixels the function stored for an upload answer."""
    return function.runtime.records.load_image(answer["image_id"], kind=answer["kind"], field="image_id").pixels


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A 70-byte PNG whose header declares width x height 8-bit gray pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def zip_named_png() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.png", "not really")
    return buffer.getvalue()


def halves(height: int, width: int, left: tuple, right: tuple) -> np.ndarray:
    """An RGB image: left half one colour, right half another."""
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[:, : width // 2] = left
    pixels[:, width // 2:] = right
    return pixels


@pytest.fixture
def scene_id(upload, scene_pixels) -> str:
    return upload(scene_pixels)["image_id"]


def mask_request(client, scene_id: str, **fields):
    return client.post("/process", json={"image_id": scene_id, **fields}, headers=AUTH)


# ---- not an image, or a broken one ---------------------------------------------------------

@pytest.mark.parametrize("data", [
    b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>",
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>',
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
    zip_named_png(),
], ids=["html", "svg", "pdf", "zip-renamed-png"])
def test_a_file_that_is_not_an_image_is_400_unsupported_image(client, data):
    response = post_image(client, data, filename="image.png")
    assert response.status_code == 400
    assert error_code(response) == "unsupported_image"
    assert "JPEG" in response.get_json()["error"]["message"]


def test_a_zero_byte_upload_is_400_empty_upload(client):
    response = post_image(client, b"")
    assert response.status_code == 400
    assert error_code(response) == "empty_upload"


def test_a_truncated_jpeg_declaring_a_big_image_is_400_corrupt_image(client):
    big = np.zeros((4000, 6000, 3), np.uint8)
    big[::50] = 255
    whole = encoded(Image.fromarray(big), "JPEG", quality=90)
    response = post_image(client, whole[: len(whole) * 3 // 5])
    assert response.status_code == 400
    assert error_code(response) == "corrupt_image"


def test_a_png_with_random_bytes_inside_is_400_corrupt_image(client):
    noise = np.random.default_rng(2).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    damaged = bytearray(encoded(Image.fromarray(noise), "PNG"))
    damaged[len(damaged) // 2:len(damaged) // 2 + 64] = np.random.default_rng(3).bytes(64)
    response = post_image(client, bytes(damaged))
    assert response.status_code == 400
    assert error_code(response) == "corrupt_image"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_truncated_image_is_400_corrupt_image(client, fmt):
    noise = np.random.default_rng(1).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    whole = encoded(Image.fromarray(noise), fmt)
    response = post_image(client, whole[: len(whole) // 2])
    assert response.status_code == 400
    assert error_code(response) == "corrupt_image"


def test_a_decompression_bomb_is_refused_by_its_declared_size_before_any_pixel_is_decoded(client, monkeypatch):
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self) or None)
    bomb = png_declaring(30000, 30000)
    assert len(bomb) < 100
    response = post_image(client, bomb)
    assert response.status_code == 413
    assert error_code(response) == "image_too_large"
    assert response.get_json()["error"]["details"]["max_pixels"] == 24_000_000
    assert decoded == []


def test_an_image_over_max_pixels_is_refused_naming_its_size(config):
    client = client_for(create_handler(replace(config, max_pixels=10000)))
    response = post_image(client, png_bytes(np.zeros((100, 101, 3), np.uint8)))
    assert response.status_code == 413
    assert error_code(response) == "image_too_large"
    assert "101x100" in response.get_json()["error"]["message"]


def test_an_image_declaring_zero_pixels_is_refused(client):
    response = post_image(client, png_declaring(0, 10))
    assert response.status_code == 400
    assert error_code(response) in ("unsupported_image", "corrupt_image")


# ---- odd but valid images: accepted and converted correctly --------------------------------

def test_an_animated_gif_uses_its_first_frame(client, function):
    frames = [Image.new("RGB", (40, 30), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    response = post_image(client, data, filename="a.gif")
    assert response.status_code == 200
    assert stored_pixels(function, response.get_json())[15, 20].tolist() == [255, 0, 0]


def test_a_multi_page_tiff_uses_its_first_page(client, function):
    pages = [Image.new("RGB", (40, 30), colour) for colour in ((0, 0, 255), (255, 0, 0))]
    response = post_image(client, encoded(pages[0], "TIFF", save_all=True, append_images=pages[1:]), filename="a.tif")
    assert response.status_code == 200
    assert stored_pixels(function, response.get_json())[15, 20].tolist() == [0, 0, 255]


def test_a_cmyk_jpeg_becomes_rgb(client, function):
    cyan = Image.new("CMYK", (40, 30), (255, 0, 0, 0))
    response = post_image(client, encoded(cyan, "JPEG", quality=95), filename="c.jpg")
    assert response.status_code == 200
    red, green, blue = stored_pixels(function, response.get_json())[15, 20].tolist()
    assert red < 20 and green > 235 and blue > 235


def test_a_16_bit_grayscale_png_is_scaled_not_clipped(client, function):
    gray16 = np.full((30, 40), 40000, np.uint16)  # 40000 / 257 = 155.6
    response = post_image(client, encoded(Image.fromarray(gray16), "PNG"))
    assert response.status_code == 200
    assert stored_pixels(function, response.get_json())[15, 20].tolist() == [156, 156, 156]


def test_a_16_bit_rgb_png_keeps_its_colours(client, function):
    bgr16 = np.zeros((30, 40, 3), np.uint16)
    bgr16[..., 2], bgr16[..., 1], bgr16[..., 0] = 65535, 32896, 0  # R full, G half, B none
    response = post_image(client, cv2.imencode(".png", bgr16)[1].tobytes())
    assert response.status_code == 200
    red, green, blue = stored_pixels(function, response.get_json())[15, 20].tolist()
    assert red == 255 and abs(green - 128) <= 1 and blue == 0


def test_a_grayscale_png_becomes_gray_rgb(client, function):
    response = post_image(client, encoded(Image.new("L", (40, 30), 77), "PNG"))
    assert response.status_code == 200
    assert stored_pixels(function, response.get_json())[15, 20].tolist() == [77, 77, 77]


def test_a_palette_png_becomes_its_palette_colours(client, function):
    image = Image.new("P", (40, 30), 1)
    image.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    response = post_image(client, encoded(image, "PNG"))
    assert response.status_code == 200
    assert stored_pixels(function, response.get_json())[15, 20].tolist() == [200, 100, 50]


def test_an_la_scene_is_flattened_onto_white(client, function):
    response = post_image(client, encoded(Image.new("LA", (40, 30), (100, 128)), "PNG"))
    assert response.status_code == 200
    assert stored_pixels(function, response.get_json())[15, 20].tolist() == [177, 177, 177]  # 100*128/255 + 255*127/255


def test_an_la_product_keeps_its_alpha(client, function):
    response = post_image(client, encoded(Image.new("LA", (40, 30), (100, 128)), "PNG"), kind="product")
    assert response.status_code == 200
    assert stored_pixels(function, response.get_json())[15, 20].tolist() == [100, 100, 100, 128]


def test_an_exif_rotated_jpeg_is_stored_upright(client, function):
    sideways = halves(100, 200, (230, 20, 20), (20, 20, 230))  # red left, blue right
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: rotate 90 degrees clockwise to display
    response = post_image(client, jpeg_bytes(sideways, exif=exif.tobytes()), filename="r.jpg")
    pixels = stored_pixels(function, response.get_json())
    assert pixels.shape == (200, 100, 3)
    assert pixels[50, 50, 0] > 200 and pixels[50, 50, 2] < 50, "the left half is now on top"
    assert pixels[150, 50, 2] > 200 and pixels[150, 50, 0] < 50


# ---- body size -----------------------------------------------------------------------------

def test_a_declared_body_over_max_upload_mb_is_413_before_reading(config):
    client = client_for(create_handler(replace(config, max_upload_mb=1)))
    body = b"x" * (2 * 1024 * 1024)
    response = client.post("/upload", headers={**AUTH, "Content-Type": "multipart/form-data; boundary=b"}, data=body)
    assert response.status_code == 413
    assert error_code(response) == "payload_too_large"
    assert response.get_json()["error"]["details"]["max_upload_mb"] == 1


@pytest.fixture(scope="module")
def server_1mb(tmp_path_factory):
    """The real function under gunicorn on 127.0.0.1 with MAX_UPLOAD_MB=1."""
    folder = tmp_path_factory.mktemp("limits")
    with running_function(function_env(folder, MAX_UPLOAD_MB="1"), folder) as server:
        yield server.url


_OFFERED_BYTES = 64 * 1024 * 1024


def send_huge_body(url: str, path: str, content_type: str, *, chunked: bool) -> tuple[bytes, int]:
    """Offer a 64 MB body in 64 KB pieces, stopping as soon as the server answers or hangs up.

    Returns (the start of the server's answer, bytes sent before it answered).
    """
    host, port = url.removeprefix("http://").split(":")
    piece = b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n" + b"x" * 65000
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % _OFFERED_BYTES
    sent = 0
    with socket.create_connection((host, int(port)), timeout=60) as connection:
        connection.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost\r\nX-App-Password: {PASSWORD}\r\n"
                           f"Content-Type: {content_type}\r\n".encode() + framing + b"\r\n\r\n")
        try:
            while sent < _OFFERED_BYTES and not select.select([connection], [], [], 0)[0]:
                connection.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        return _read_answer(connection), sent


def _read_answer(connection: socket.socket) -> bytes:
    """The server's answer up to its last chunk, or all it sent before hanging up."""
    answer = b""
    while not answer.endswith(b"\r\n0\r\n\r\n"):
        try:
            piece = connection.recv(4096)
        except ConnectionResetError:
            break
        if not piece:
            break
        answer += piece
    return answer


@pytest.mark.slow
@pytest.mark.parametrize("path, content_type, chunked", [
    ("/upload", "multipart/form-data; boundary=b", False),
    ("/upload", "multipart/form-data; boundary=b", True),
    ("/process", "application/json", True),
    ("/", "multipart/form-data; boundary=b", True),
], ids=["upload-content-length", "upload-chunked", "process-json-chunked", "root-multipart-chunked"])
def test_a_body_over_max_upload_mb_is_413_before_the_client_finishes_sending(server_1mb, path, content_type, chunked):
    answer, sent = send_huge_body(server_1mb, path, content_type, chunked=chunked)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"payload_too_large" in answer
    assert sent < _OFFERED_BYTES / 4, "the server answered without reading the body to its end"
    assert call(server_1mb, "GET", "/health")[0] == 200


def test_a_form_with_too_many_fields_is_413_saying_so(client):
    fields = {f"field{index}": "x" for index in range(20)}
    response = client.post("/upload", headers=AUTH, data={**fields, "image": (io.BytesIO(b"GIF89a"), "a.gif")})
    assert response.status_code == 413
    assert error_code(response) == "form_too_large"
    assert "fields" in response.get_json()["error"]["message"]


# ---- malformed requests --------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe{}", b"[" * 5000,
                                  b'{"image_id": NaN}', b'{"box": [0, 0, Infinity, 1]}', b""],
                         ids=["syntax", "array", "string", "bad-utf8", "deep", "NaN", "Infinity", "empty"])
def test_malformed_json_is_400_invalid_json(client, body):
    response = client.post("/process", data=body, content_type="application/json", headers=AUTH)
    assert response.status_code == 400
    assert error_code(response) == "invalid_json"


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a": [' + b"{}," * 20_000 + b"{}]}"], ids=["deep", "wide"])
def test_json_with_more_brackets_than_any_request_needs_is_refused_before_parsing(client, body):
    response = client.post("/process", data=body, content_type="application/json", headers=AUTH)
    assert response.status_code == 400
    assert error_code(response) == "json_too_complex"


@pytest.mark.parametrize("fields", [
    {"image_id": 12345, "box": PRODUCT_BOX},
    {"box": "0,0,10,10"},
    {"box": [0, 0, "10", 10]},
    {"points": {"x": 1}, "labels": [1]},
    {"points": [[1, 2, 3]], "labels": [1]},
    {"box": PRODUCT_BOX, "output": ["png"]},
    {"box": PRODUCT_BOX, "output": {"format": ["png"]}},
    {"box": PRODUCT_BOX, "output": {"quality": "high"}},
    {"box": PRODUCT_BOX, "settings": [1]},
    {"box": PRODUCT_BOX, "mask_id": {"a": 1}},
], ids=["id-number", "box-string", "box-item-string", "points-object", "point-3d", "output-list",
        "format-list", "quality-string", "settings-list", "mask-id-object"])
def test_a_field_of_the_wrong_type_is_400(client, scene_id, fields):
    response = mask_request(client, scene_id, **fields)
    assert response.status_code == 400
    assert error_code(response) in ("invalid_field", "invalid_id")


def test_an_unknown_field_is_400_naming_it(client, scene_id):
    response = mask_request(client, scene_id, box=PRODUCT_BOX, bxo=[1, 2, 3, 4])
    assert response.status_code == 400
    assert "bxo" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("action", ["explode", "", "UPLOAD", "../upload", {"a": 1}])
def test_an_unknown_action_is_404_unknown_action(client, action):
    response = client.post("/", json={"action": action}, headers=AUTH)
    assert response.status_code == 404
    assert error_code(response) == "unknown_action"


@pytest.mark.parametrize("path, body", [("/process", {}), ("/process", {"box": PRODUCT_BOX}),
                                        ("/upload", {}), ("/upload", {"kind": "scene"}), ("/delete", {})])
def test_a_missing_field_is_400_saying_what_to_send(client, path, body):
    response = client.post(path, json=body, headers=AUTH)
    assert response.status_code == 400
    assert len(response.get_json()["error"]["message"]) > 20


@pytest.mark.parametrize("box", ["[0, 0, 1e400, 10]", "[0, 0, 1" + "0" * 400 + ", 10]",
                                 "[-1" + "0" * 400 + ", 0, 10, 10]", "[0, 0, 10, -1e999]"],
                         ids=["float-overflowing-to-inf", "huge-int", "huge-negative-int", "negative-inf"])
def test_infinite_or_huge_box_numbers_are_400(client, scene_id, box):
    body = f'{{"image_id": "{scene_id}", "box": {box}}}'
    response = client.post("/process", data=body, content_type="application/json", headers=AUTH)
    assert response.status_code == 400
    assert error_code(response) == "invalid_field"


@pytest.mark.parametrize("output", [{"quality": 10 ** 400}, {"quality": -1}, {"quality": 1e400}, {"quality": 50.5}])
def test_out_of_range_output_quality_is_400(client, scene_id, output):
    response = mask_request(client, scene_id, box=PRODUCT_BOX, output=output)
    assert response.status_code == 400


def test_huge_numbers_in_settings_are_400(client, scene_id, upload, product_pixels):
    product = upload(product_pixels, "product")
    response = mask_request(client, scene_id, box=PRODUCT_BOX, product_id=product["image_id"],
                            settings={"scale": 10 ** 400})
    assert response.status_code == 400


@pytest.mark.parametrize("box", [[100, 100, 100, 200], [100, 100, 200, 100], [200, 100, 100, 200]],
                         ids=["zero-width", "zero-height", "inverted"])
def test_a_box_without_area_or_inverted_is_400(client, scene_id, box):
    response = mask_request(client, scene_id, box=box)
    assert response.status_code == 400
    assert error_code(response) == "invalid_field"
    assert "x0 < x1" in response.get_json()["error"]["message"]


def test_a_box_partly_outside_the_image_is_clipped(client, scene_id):
    response = mask_request(client, scene_id, box=[-50, -80, 700, 520])
    assert response.status_code == 200, response.get_json()
    x0, y0, x1, y1 = response.get_json()["bbox"]
    assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 480


def test_a_box_entirely_outside_the_image_is_400(client, scene_id):
    response = mask_request(client, scene_id, box=[700, 10, 800, 100])
    assert response.status_code == 400
    assert error_code(response) == "box_outside_image"
    assert "640x480" in response.get_json()["error"]["message"]


def test_more_points_than_max_points_is_400(client, scene_id):
    points = [[10 + i, 10] for i in range(33)]
    response = mask_request(client, scene_id, points=points, labels=[1] * 33)
    assert response.status_code == 400
    assert error_code(response) == "too_many_points"
    assert "32" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("labels", [[2], [-1], ["1"], [True], [None], [0.5]])
def test_labels_other_than_0_or_1_are_400(client, scene_id, labels):
    response = mask_request(client, scene_id, points=[[320, 300]], labels=labels)
    assert response.status_code == 400
    assert "labels" in response.get_json()["error"]["message"]


def test_negative_points_alone_are_400_asking_for_a_positive_one(client, scene_id):
    response = mask_request(client, scene_id, points=[[10, 10]], labels=[0])
    assert response.status_code == 400
    assert "labelled 1" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("point", [[-1, 10], [10, -1], [640, 10], [10, 480], [1e308, 1]])
def test_a_point_outside_the_image_is_400(client, scene_id, point):
    response = mask_request(client, scene_id, points=[point], labels=[1])
    assert response.status_code == 400


# ---- ids -----------------------------------------------------------------------------------

def test_a_well_signed_id_whose_file_is_gone_is_404_not_found(client, function):
    token = function.runtime.records.signer.issue(ObjectId(kind="scene", key=new_key(), expires_at=2_000_000_000))
    response = mask_request(client, token, box=PRODUCT_BOX)
    assert response.status_code == 404
    assert error_code(response) == "not_found"


class _FileAccess:
    """Records the paths of files opened, listed or removed while active (audit hooks cannot
    be removed, so one hook is installed once and switched on per test)."""

    paths: list[str] | None = None
    _installed = False

    @classmethod
    def record(cls) -> list[str]:
        if not cls._installed:
            sys.addaudithook(cls._hook)
            cls._installed = True
        cls.paths = []
        return cls.paths

    @classmethod
    def stop(cls) -> None:
        cls.paths = None

    @classmethod
    def _hook(cls, event: str, args: tuple) -> None:
        if cls.paths is not None and event in ("open", "os.remove", "os.rename", "os.scandir", "os.listdir",
                                               "os.unlink", "shutil.rmtree") and args:
            if isinstance(args[0], (str, bytes)) or hasattr(args[0], "__fspath__"):
                cls.paths.append(str(args[0]))


@pytest.fixture
def file_access():
    paths = _FileAccess.record()
    yield paths
    _FileAccess.stop()


BAD_IDS = ["../../etc/passwd", "/etc/passwd", "scn.../../../etc/passwd.0.AAAAAAAAAAAAAAAAAAAAAA", "",
           "scn." + "0" * 32 + ".zzzz.AAAAAAAAAAAAAAAAAAAAAA", "scn..", "x" * 5000, "scn.%2e%2e%2fetc.1.a",
           "\x00", "prd.0123456789abcdef0123456789abcdef.1.\u00e9\u00e9"]


@pytest.mark.parametrize("field", ["image_id", "product_id", "mask_id"])
def test_tampered_or_path_like_ids_are_400_invalid_id_and_touch_nothing_outside_temp_dir(
        client, scene_id, field, file_access, tmp_path):
    temp_dir = str(tmp_path / "store")
    for bad in BAD_IDS:
        body = {"image_id": scene_id, "box": PRODUCT_BOX, field: bad}
        if field == "mask_id":
            body.pop("box")
        response = client.post("/process", json=body, headers=AUTH)
        assert response.status_code == 400, (bad, response.get_json())
        assert error_code(response) == "invalid_id", bad
    outside = [path for path in file_access if not path.startswith(temp_dir)
               and not path.endswith((".py", ".pyc", ".so")) and "/proc/" not in path]
    assert not any("passwd" in path or "etc" in path.split("/") for path in file_access)
    assert outside == []


def test_a_scene_id_used_as_a_product_is_400_wrong_kind(client, scene_id):
    response = mask_request(client, scene_id, box=PRODUCT_BOX, product_id=scene_id)
    assert response.status_code == 400
    assert error_code(response) == "wrong_kind"


# ---- nothing to work with ------------------------------------------------------------------

def test_a_fully_transparent_product_is_422_empty_product(client):
    clear = np.zeros((60, 40, 4), np.uint8)
    clear[..., :3] = 200
    response = post_image(client, png_bytes(clear), kind="product")
    assert response.status_code == 422
    assert error_code(response) == "empty_product"
    assert "transparent" in response.get_json()["error"]["message"]


def test_a_product_with_no_opaque_pixels_is_422_when_replacing(client, scene_id):
    import base64

    faint = np.zeros((60, 40, 4), np.uint8)
    faint[10:50, 10:30] = (30, 170, 60, 40)  # visible, but nowhere near opaque
    response = mask_request(client, scene_id, box=PRODUCT_BOX,
                            product_base64=base64.b64encode(png_bytes(faint)).decode())
    assert response.status_code == 422
    assert error_code(response) == "empty_product"
    assert "opaque" in response.get_json()["error"]["message"]


def test_a_mask_with_no_pixels_is_422_empty_mask(client, function, scene_id, monkeypatch):
    from handler.segmentation.base import Segmentation

    def finds_nothing(image, prompt, image_key=None):
        return Segmentation(mask=np.zeros(image.shape[:2], bool), score=0.0, segmenter="grabcut")

    monkeypatch.setattr(function.runtime.segmentation.grabcut, "segment", finds_nothing)
    response = mask_request(client, scene_id, box=PRODUCT_BOX)
    assert response.status_code == 422
    assert error_code(response) == "empty_mask"
    assert "box" in response.get_json()["error"]["message"]
