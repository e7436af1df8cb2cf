"""Security: the shared secret, its throttle, deletion on request, CORS, stored files and what
responses and logs may reveal.

Covered elsewhere: the Railway health check host gets 200 (test_health), stored files are mode
0600 (test_upload), the health report reveals no secret (test_health).
"""
from __future__ import annotations

import errno
import io
import logging
import os
import time

import pytest
from conftest import AUTH, PASSWORD, PRODUCT_BOX, png_bytes
from server import call, running_function

from handler.ids import new_child_key, new_key
from handler.logs import JsonFormatter
from handler.runtime import get_runtime, reset_runtime
from handler.store import FileStore


@pytest.fixture
def log_lines():
    """Every log line the function writes during the test, formatted as it would be shipped."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(JsonFormatter().format(record))

    collector = Collect(level=logging.DEBUG)
    loggers = [logging.getLogger(), logging.getLogger("handler"), logging.getLogger("werkzeug")]
    for logger in loggers:
        logger.addHandler(collector)
    yield lines
    for logger in loggers:
        logger.removeHandler(collector)


def store_files(tmp_path) -> list:
    folder = tmp_path / "store" / "store"
    return sorted(folder.iterdir()) if folder.exists() else []


# ---- the secret ----------------------------------------------------------------------------

AUTH_FAILURES = [{}, {"X-App-Password": ""}, {"X-App-Password": "wrong"}, {"X-App-Password": "x" * 65536},
                 {"X-App-Password": "p\u00e4ssw\u00f6rd"}, {"Authorization": "Bearer \u00fc\u00fc"},
                 {"Authorization": "Bearer "}, {"Authorization": f"Basic {PASSWORD}"},
                 {"X-App-Password": PASSWORD + " "}, {"X-App-Password": PASSWORD[:-1]}]


def test_every_auth_failure_on_every_action_gets_the_same_401_body(client):
    bodies = set()
    for index, headers in enumerate(AUTH_FAILURES):
        for path in ("/upload", "/process", "/delete"):
            response = client.post(path, json={}, headers=headers,
                                   environ_base={"REMOTE_ADDR": f"10.1.{index}.{len(path)}"})
            assert response.status_code == 401, (headers.keys(), path)
            bodies.add(str(response.get_json()["error"]))
    assert len(bodies) == 1


def test_a_password_in_the_query_string_is_refused_and_never_logged(client, log_lines):
    for name in ("password", "app_password", "key", "token", "secret"):
        response = client.post(f"/process?{name}={PASSWORD}", json={}, headers=AUTH)
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "secret_in_url"
        assert PASSWORD not in response.get_data(as_text=True)
    assert log_lines, "the requests were logged"
    assert not any(PASSWORD in line or "horse" in line for line in log_lines)


def test_a_password_in_the_query_string_is_not_logged_by_the_real_server(tmp_path):
    env = {"APP_PASSWORD": PASSWORD, "TEMP_DIR": str(tmp_path / "store"), "SEGMENTER": "grabcut",
           "MODEL_CACHE_DIR": str(tmp_path / "models")}
    log_path = tmp_path / "server.log"
    quoted = PASSWORD.replace(" ", "%20")
    with running_function(env, log_path) as url:
        status, _, body = call(url, "GET", f"/health?password={quoted}")
        assert status == 400 and b"secret_in_url" in body
        status, _, _ = call(url, "POST", f"/upload?token={quoted}", body=b"{}", headers={"Content-Type": "application/json"})
        assert status == 400
    text = log_path.read_text()
    assert "horse" not in text and quoted not in text


def test_the_secret_never_appears_in_logs_or_responses(client, upload, scene_pixels, log_lines):
    texts = []
    scene = upload(scene_pixels)
    for headers in ({**AUTH}, {"X-App-Password": PASSWORD + "x"}, {"Authorization": f"Bearer {PASSWORD}"}):
        for path, body in (("/process", {"image_id": scene["image_id"], "box": [1, 1, 2, 2, 3]}),
                           ("/process", {"image_id": "nope"}), ("/delete", {"image_id": "nope"})):
            texts.append(client.post(path, json=body, headers=headers).get_data(as_text=True))
        texts.append(client.get("/health", headers=headers).get_data(as_text=True))
    texts += log_lines
    assert not [text for text in texts if "horse" in text]


def test_failed_guesses_are_throttled_after_auth_max_failures_with_retry_after(client, function_env):
    function_env.setenv("AUTH_MAX_FAILURES", "3")
    reset_runtime()
    for _ in range(3):
        assert client.post("/process", json={}, headers={"X-App-Password": "guess"}).status_code == 401
    response = client.post("/process", json={}, headers=AUTH)
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "too_many_attempts"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def _fail_three_times(client, forwarded_for: str) -> None:
    for _ in range(3):
        client.post("/process", json={}, headers={"X-App-Password": "guess", "X-Forwarded-For": forwarded_for},
                    environ_base={"REMOTE_ADDR": "10.9.9.9"})


def test_without_trust_proxy_x_forwarded_for_is_ignored_so_it_cannot_dodge_the_throttle(client, function_env):
    function_env.setenv("AUTH_MAX_FAILURES", "3")
    reset_runtime()
    _fail_three_times(client, "203.0.113.5")
    response = client.post("/process", json={}, headers={**AUTH, "X-Forwarded-For": "198.51.100.7"},
                           environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert response.status_code == 429


def test_with_trust_proxy_the_first_x_forwarded_for_entry_is_the_client(client, function_env):
    function_env.setenv("AUTH_MAX_FAILURES", "3")
    function_env.setenv("TRUST_PROXY", "1")
    reset_runtime()
    _fail_three_times(client, "203.0.113.5, 10.0.0.1")
    same_client = client.post("/process", json={}, headers={**AUTH, "X-Forwarded-For": "203.0.113.5"},
                              environ_base={"REMOTE_ADDR": "10.9.9.9"})
    other_client = client.post("/process", json={}, headers={**AUTH, "X-Forwarded-For": "198.51.100.7, 10.0.0.1"},
                               environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert same_client.status_code == 429
    assert other_client.status_code == 400  # past auth: only the empty body is wrong


# ---- delete --------------------------------------------------------------------------------

def test_delete_removes_a_scene_its_masks_and_its_cached_embedding(client, upload, scene_pixels, tmp_path, monkeypatch):
    scene = upload(scene_pixels)
    other = upload(scene_pixels)
    mask = client.post("/process", json={"image_id": scene["image_id"], "box": PRODUCT_BOX}, headers=AUTH)
    assert mask.status_code == 200
    forgotten = []
    monkeypatch.setattr(get_runtime().segmentation, "forget_image", forgotten.append)
    assert len(store_files(tmp_path)) == 3
    response = client.post("/delete", json={"image_id": scene["image_id"]}, headers=AUTH)
    assert response.status_code == 200
    assert response.get_json()["deleted"] == 2
    assert forgotten == [scene["image_id"].split(".")[1]]
    assert len(store_files(tmp_path)) == 1
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
    assert response.get_json()["deleted"] == 1
    assert store_files(tmp_path) == []


def test_delete_through_post_root_with_an_action_field(client, upload, scene_pixels):
    scene = upload(scene_pixels)
    response = client.post("/", json={"action": "delete", "image_id": scene["image_id"]}, headers=AUTH)
    assert response.get_json()["deleted"] == 1


def test_delete_needs_the_secret(client, upload, scene_pixels, tmp_path):
    scene = upload(scene_pixels)
    response = client.post("/delete", json={"image_id": scene["image_id"]})
    assert response.status_code == 401
    assert len(store_files(tmp_path)) == 1


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


# ---- CORS ----------------------------------------------------------------------------------

ORIGIN = "https://shop.example"
PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "x-app-password, content-type"}


def _cors_headers(response) -> set[str]:
    return {name for name in response.headers.keys() if name.lower().startswith("access-control-")}


def test_no_cors_headers_by_default(client):
    assert _cors_headers(client.open("/process", method="OPTIONS", headers=PREFLIGHT)) == set()
    assert _cors_headers(client.get("/health", headers={"Origin": ORIGIN})) == set()


def test_a_preflight_from_an_allowed_origin_is_answered(client, function_env):
    function_env.setenv("CORS_ORIGINS", f"https://other.example {ORIGIN}")
    reset_runtime()
    response = client.open("/process", method="OPTIONS", headers=PREFLIGHT)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "x-app-password" in response.headers["Access-Control-Allow-Headers"].lower()
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Origin" in response.headers["Vary"]


def test_an_allowed_origin_can_read_answers_and_errors(client, function_env):
    function_env.setenv("CORS_ORIGINS", ORIGIN)
    reset_runtime()
    for response in (client.get("/health", headers={"Origin": ORIGIN}),
                     client.post("/process", json={}, headers={"Origin": ORIGIN})):
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_a_disallowed_origin_gets_no_cors_headers(client, function_env):
    function_env.setenv("CORS_ORIGINS", ORIGIN)
    reset_runtime()
    for origin in ("https://evil.example", "https://shop.example.evil.example", "null", ORIGIN + "/"):
        response = client.open("/process", method="OPTIONS", headers={**PREFLIGHT, "Origin": origin})
        assert _cors_headers(response) == set(), origin


# ---- stored files --------------------------------------------------------------------------

class _Crash(BaseException):
    """The process dies here: nothing after this point runs, no cleanup either."""


def test_a_crash_mid_write_leaves_no_item_under_a_valid_name(tmp_path, monkeypatch):
    store = FileStore(tmp_path, max_bytes=100_000)
    key = new_key()

    def crash(*args, **kwargs):
        raise _Crash

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(_Crash):
        store.put(key, "scene", b"x" * 5000, {}, expires_at=time.time() + 60)
    monkeypatch.undo()
    assert store.get(key) is None
    assert list(tmp_path.glob("*.item")) == []
    assert store.purge_expired(now=time.time() + 3600) == 1, "the crash's leftover is swept later"


def test_cleanup_spares_a_file_still_being_written(tmp_path):
    store = FileStore(tmp_path, max_bytes=100_000)
    being_written = tmp_path / f".{new_key()}.item.0000.partial"
    being_written.write_bytes(b"half")
    assert store.purge_expired() == 0
    assert being_written.exists()


def test_cleanup_during_a_request_does_not_break_it(client, upload, scene_pixels, product_pixels, monkeypatch):
    from handler import compositing

    scene, product = upload(scene_pixels), upload(product_pixels, "product")
    runtime = get_runtime()
    replace_product = compositing.replace_product

    def replace_while_everything_expires(*args, **kwargs):
        assert runtime.store.purge_expired(now=time.time() + 10 * runtime.config.upload_ttl_s) == 3
        return replace_product(*args, **kwargs)

    monkeypatch.setattr(compositing, "replace_product", replace_while_everything_expires)
    response = client.post("/process", headers=AUTH, json={
        "image_id": scene["image_id"], "box": PRODUCT_BOX, "product_id": product["image_id"]})
    assert response.status_code == 200, response.get_json()


def test_disk_full_is_507_and_leaves_no_partial_file(client, scene_pixels, tmp_path, monkeypatch):
    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    response = client.post("/upload", headers=AUTH, data={"image": (io.BytesIO(png_bytes(scene_pixels)), "s.png")})
    assert response.status_code == 507
    assert response.get_json()["error"]["code"] == "insufficient_storage"
    assert store_files(tmp_path) == []


def test_a_child_key_is_deleted_with_its_parent_only(tmp_path):
    store = FileStore(tmp_path, max_bytes=100_000)
    parent, lookalike = new_key(), new_key()
    store.put(parent, "scene", b"s", {}, expires_at=time.time() + 60)
    store.put(new_child_key(parent), "mask", b"m", {}, expires_at=time.time() + 60)
    store.put(lookalike, "scene", b"o", {}, expires_at=time.time() + 60)
    assert store.delete(parent) == 2
    assert store.get(lookalike) is not None


# ---- response headers and what responses reveal --------------------------------------------

def test_every_kind_of_response_carries_nosniff_and_no_store(client, upload, scene_pixels, product_pixels):
    scene, product = upload(scene_pixels), upload(product_pixels, "product")
    responses = [
        client.get("/"), client.get("/health"), client.get("/nowhere"), client.open("/process", method="OPTIONS"),
        client.post("/process", json={}), client.post("/process", json={}, headers=AUTH),
        client.post("/process", headers=AUTH, json={"image_id": scene["image_id"], "box": PRODUCT_BOX,
                                                    "product_id": product["image_id"], "output": {"raw": True}}),
    ]
    for response in responses:
        assert response.headers["X-Content-Type-Options"] == "nosniff", response.status
        assert response.headers["Cache-Control"] == "no-store", response.status


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

    monkeypatch.setattr("handler.upload.decode_upload", fail_with_a_path)
    internal = client.post("/upload", headers=AUTH, data={"image": (io.BytesIO(png_bytes(scene_pixels)), "s.png")})
    assert internal.status_code == 500
    assert internal.get_json()["error"]["code"] == "internal_error"
    texts.append(internal.get_data(as_text=True))
    for text in texts:
        assert not [leak for leak in LEAKS if leak in text], text
