"""Redis outages through the real HTTP function (two instances): Redis killed or hung mid-flow
is a 503 store_unavailable with Retry-After within the timeout and health unhealthy, and the
flow works again as soon as Redis does, with no function restart; a wrong Redis password is a
plain configuration error that never shows the password."""
from __future__ import annotations

import json
import time

import pytest

from support.function import AUTH
from support.paths import SAMPLES
from support.redis_server import redis_server, requires_redis
from support.servers import call, call_json, function_env, multipart, running_function, two_instances

SAMPLE = json.loads((SAMPLES / "samples.json").read_text())
TIMEOUT_S = 1.0
# The timeout, plus a GrabCut-free request's own work and the test's HTTP round trip.
ANSWER_WITHIN_S = TIMEOUT_S + 1.0
pytestmark = [pytest.mark.slow, requires_redis]


@pytest.fixture(scope="module")
def instances(tmp_path_factory, redis):
    env_for = lambda workdir: function_env(workdir, STORE_URL=redis.url, STORE_TIMEOUT_S=str(TIMEOUT_S))  # noqa: E731
    with two_instances(tmp_path_factory, env_for) as pair:
        yield pair


def upload(url: str, path, kind: str = "scene") -> tuple[int, dict, dict]:
    body, content_type = multipart(path.read_bytes(), path.name, kind=kind)
    status, headers, data = call(url, "POST", "/upload", body=body, headers={**AUTH, "Content-Type": content_type})
    return status, headers, json.loads(data)


def timed(action):
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


def full_flow(a: str, b: str) -> None:
    status, _, scene = upload(a, SAMPLES / SAMPLE["scene"])
    assert status == 200, scene
    status, _, product = upload(b, SAMPLES / SAMPLE["product"], "product")
    assert status == 200, product
    status, mask = call_json(b, "POST", "/process", {"image_id": scene["image_id"], "box": SAMPLE["box"]}, AUTH)
    assert status == 200, mask
    status, replaced = call_json(a, "POST", "/process", {"image_id": scene["image_id"], "mask_id": mask["mask_id"],
                                                         "product_id": product["image_id"]}, AUTH)
    assert status == 200, replaced


def assert_store_unavailable(status: int, headers: dict, body: dict, seconds: float) -> None:
    assert status == 503 and body["error"]["code"] == "store_unavailable", body
    assert int(headers["Retry-After"]) >= 1
    assert seconds < ANSWER_WITHIN_S, f"answered after {seconds:.2f} s with a {TIMEOUT_S} s timeout"


def timed_cutout(url: str, scene_id: str) -> tuple[int, dict, dict, float]:
    """(status, headers, JSON body, seconds) of a cut-out of the sample's box on `url`."""
    (status, headers, data), seconds = timed(lambda: call(url, "POST", "/process", body=json.dumps(
        {"image_id": scene_id, "box": SAMPLE["box"]}).encode(), headers={**AUTH, "Content-Type": "application/json"}))
    return status, headers, json.loads(data), seconds


def assert_unhealthy(url: str) -> None:
    (status, report), seconds = timed(lambda: call_json(url, "GET", "/health"))
    assert status == 503 and report["status"] == "unhealthy", report
    assert any("shared store (Redis) is unreachable" in reason for reason in report["reasons"]), report
    assert seconds < ANSWER_WITHIN_S


def test_redis_killed_mid_flow_is_503_then_the_flow_works_when_it_is_back(instances, redis):
    a, b = (server.url for server in instances)
    status, _, scene = upload(a, SAMPLES / SAMPLE["scene"])
    assert status == 200
    redis.kill()
    try:
        assert_store_unavailable(*timed_cutout(b, scene["image_id"]))
        (status, headers, body), seconds = timed(lambda: upload(a, SAMPLES / SAMPLE["scene"]))
        assert_store_unavailable(status, headers, body, seconds)
        assert_unhealthy(a)
    finally:
        redis.start()  # the same port, empty: a restart without persistence
    assert call_json(a, "GET", "/health")[0] == 200
    status, gone = call_json(b, "POST", "/process", {"image_id": scene["image_id"], "box": SAMPLE["box"]}, AUTH)
    # The restarted Redis lost the upload, and the generated signing key with it: B never held
    # that key (its first request came during the outage), so it cannot even check the old id.
    # Either way the client is told to upload again (SECRET_KEY keeps ids checkable).
    assert (status, gone["error"]["code"]) in ((404, "not_found"), (400, "invalid_id")), gone
    full_flow(a, b)
    assert all(server.process.poll() is None for server in instances), "no instance was restarted"


def test_a_hung_redis_is_503_within_the_timeout_and_the_same_ids_work_after(instances, redis):
    a, b = (server.url for server in instances)
    status, _, scene = upload(a, SAMPLES / SAMPLE["scene"])
    assert status == 200
    redis.pause()
    try:
        assert_store_unavailable(*timed_cutout(b, scene["image_id"]))
        assert_unhealthy(b)
    finally:
        redis.resume()
    status, mask = call_json(b, "POST", "/process", {"image_id": scene["image_id"], "box": SAMPLE["box"]}, AUTH)
    assert status == 200, mask
    assert call_json(a, "GET", "/health")[0] == 200


def test_a_wrong_redis_password_is_a_configuration_error_in_health_and_logs(tmp_path):
    secret = "the-redis-secret-4711"
    with redis_server(tmp_path / "redis", password=secret) as guarded:
        wrong_url = guarded.url.replace(secret, "not-" + secret)
        with running_function(function_env(tmp_path, STORE_URL=wrong_url, STORE_TIMEOUT_S="1"), tmp_path) as server:
            status, report = call_json(server.url, "GET", "/health")
            assert status == 503 and report["status"] == "unhealthy"
            assert any("misconfigured" in reason and "credentials" in reason for reason in report["reasons"]), report
            status, _, body = upload(server.url, SAMPLES / SAMPLE["scene"])
            assert status == 503 and body["error"]["code"] == "store_misconfigured", body
            shown = json.dumps(report) + json.dumps(body) + server.log()
            assert secret not in shown
            assert "store_misconfigured" in shown or "misconfigured" in server.log()
