"""Two instances of the function (two processes, as a platform that scaled out runs them) sharing
one real Redis: any instance serves any step, a delete or an expiry holds everywhere, an evicted
upload is 404, the password throttle counts across instances, and no upload touches their disks."""
from __future__ import annotations

import json
import time

import pytest

from handler.storage.redis_store import EXPIRY_GRACE_S

from support.function import AUTH
from support.paths import SAMPLES
from support.redis_server import requires_redis
from support.servers import call, call_json, function_env, multipart, running_function, two_instances

SAMPLE = json.loads((SAMPLES / "samples.json").read_text())
pytestmark = [pytest.mark.slow, requires_redis]


def shared_env(workdir, redis, **overrides):
    """A function of the shared deployment: the Redis store, no SECRET_KEY (the key is shared
    through Redis), its own TEMP_DIR."""
    return function_env(workdir, STORE_URL=redis.url, STORE_TIMEOUT_S="1", AUTH_MAX_FAILURES="3", **overrides)


@pytest.fixture(scope="module")
def instances(tmp_path_factory, redis):
    with two_instances(tmp_path_factory, lambda workdir: shared_env(workdir, redis)) as pair:
        yield pair


def upload(url: str, path, kind: str = "scene") -> dict:
    body, content_type = multipart(path.read_bytes(), path.name, kind=kind)
    status, _, data = call(url, "POST", "/upload", body=body, headers={**AUTH, "Content-Type": content_type})
    assert status == 200, data
    return json.loads(data)


def key_of(image_id: str) -> str:
    return image_id.split(".")[1]


def test_any_instance_serves_any_step_and_a_delete_holds_everywhere(instances, redis):
    a, b = (server.url for server in instances)
    scene = upload(a, SAMPLES / SAMPLE["scene"])
    product = upload(a, SAMPLES / SAMPLE["product"], "product")
    status, mask = call_json(b, "POST", "/process", {"image_id": scene["image_id"], "box": SAMPLE["box"]}, AUTH)
    assert status == 200, mask
    status, replaced = call_json(a, "POST", "/process", {
        "image_id": scene["image_id"], "mask_id": mask["mask_id"], "product_id": product["image_id"],
        "output": {"format": "jpeg"}}, AUTH)
    assert status == 200, replaced
    assert replaced["mask_id"] == mask["mask_id"]
    status, deleted = call_json(b, "POST", "/delete", {"image_id": scene["image_id"]}, AUTH)
    assert status == 200 and deleted["deleted"] >= 2, deleted  # the scene, its mask (and its original)
    status, gone = call_json(a, "POST", "/process", {"image_id": scene["image_id"], "box": SAMPLE["box"]}, AUTH)
    assert status == 404 and gone["error"]["code"] == "not_found"
    assert redis.client().keys(f"drishya:*{key_of(scene['image_id'])}*") == []


def test_no_upload_is_kept_on_an_instances_disk(instances):
    a, b = (server.url for server in instances)
    scene = upload(a, SAMPLES / SAMPLE["scene"])
    status, _ = call_json(b, "POST", "/process", {"image_id": scene["image_id"], "box": SAMPLE["box"]}, AUTH)
    assert status == 200
    for server in instances:
        temp = server.log_path.parent / "temp"
        assert not temp.exists() or not any(path.is_file() for path in temp.rglob("*")), list(temp.rglob("*"))


def test_the_mask_step_on_another_instance_encodes_again_and_says_so(instances):
    a, b = (server.url for server in instances)
    scene = upload(a, SAMPLES / SAMPLE["scene"])
    status, mask = call_json(b, "POST", "/process", {"image_id": scene["image_id"], "box": SAMPLE["box"]}, AUTH)
    assert status == 200 and mask["cache_hit"] is False


def test_an_upload_expires_everywhere_410(tmp_path, instances, redis):
    a = instances[0].url
    with running_function(shared_env(tmp_path, redis, UPLOAD_TTL_S="1"), tmp_path) as short_lived:
        scene = upload(short_lived.url, SAMPLES / SAMPLE["scene"])
    deadline = time.monotonic() + 5
    while True:
        status, answer = call_json(a, "POST", "/process", {"image_id": scene["image_id"], "box": SAMPLE["box"]},
                                   AUTH)
        if status != 200 or time.monotonic() > deadline:
            break
    assert status == 410 and answer["error"]["code"] == "expired", answer
    item = f"drishya:item:{key_of(scene['image_id'])}"
    assert redis.client().pttl(item) <= EXPIRY_GRACE_S * 1000, "Redis expires it (gone, or in a moment)"


def test_an_evicted_upload_is_404(instances, redis):
    a, b = (server.url for server in instances)
    admin = redis.client()
    first = upload(a, SAMPLES / SAMPLE["scene"])
    limit = admin.info("memory")["used_memory"] + 6 * 1024 * 1024  # room for one more scene, not five
    admin.config_set("maxmemory", limit)
    try:
        later = [upload(a, SAMPLES / SAMPLE["scene"]) for _ in range(5)]
        evicted = [scene for scene in [first, *later]
                   if not admin.exists(f"drishya:item:{key_of(scene['image_id'])}")]
        assert evicted, "Redis at its maxmemory evicts uploads (volatile-ttl)"
        status, answer = call_json(b, "POST", "/process", {"image_id": evicted[0]["image_id"],
                                                           "box": SAMPLE["box"]}, AUTH)
        assert status == 404 and answer["error"]["code"] == "not_found", answer
    finally:
        admin.config_set("maxmemory", "64mb")


def test_wrong_passwords_count_across_instances(instances):
    a, b = (server.url for server in instances)
    wrong = {"X-App-Password": "not it"}
    statuses = [call_json(url, "POST", "/process", {}, wrong)[0] for url in (a, b, a, b)]
    assert statuses == [401, 401, 401, 429]
    assert call_json(b, "GET", "/health", None, AUTH)[0] == 200, "the right password is always let in"


def test_health_reports_the_shared_store(instances):
    status, report = call_json(instances[1].url, "GET", "/health")
    assert status == 200 and report["status"] == "healthy", report
    assert report["system"]["store"] == "redis" and report["system"]["store_used_mb"] > 0
