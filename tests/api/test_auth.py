"""The shared secret: who may upload, process and delete, and how failed guesses are slowed down."""
from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from handler.edge import create_handler
from handler.edge.auth import AuthGate, client_address, secrets_match
from handler.errors import TooManyAttempts, Unauthorized
from handler.platform.logs import JsonFormatter
from handler.storage.failures import FileFailureLog

from support.function import AUTH, PASSWORD, client_for
from support.servers import call, function_env, running_function

AUTH_FAILURES = [{}, {"X-App-Password": ""}, {"X-App-Password": "wrong"}, {"X-App-Password": "x" * 65536},
                 {"X-App-Password": "p\u00e4ssw\u00f6rd"}, {"Authorization": "Bearer \u00fc\u00fc"},
                 {"Authorization": "Bearer "}, {"Authorization": f"Basic {PASSWORD}"},
                 {"X-App-Password": PASSWORD + " "}, {"X-App-Password": PASSWORD[:-1]}]


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


@pytest.fixture
def strict_client(config):
    """A function that throttles an address after 3 wrong passwords."""
    return client_for(create_handler(replace(config, auth_max_failures=3)))


def test_bearer_token_is_accepted(client):
    response = client.post("/process", json={}, headers={"Authorization": f"Bearer {PASSWORD}"})
    assert response.status_code == 400  # past auth: the body is what is wrong


def test_x_app_password_header_is_accepted(client):
    assert client.post("/process", json={}, headers=AUTH).status_code == 400


def test_every_auth_failure_on_every_action_gets_the_same_401_body(client):
    bodies = set()
    for index, headers in enumerate(AUTH_FAILURES):
        for path in ("/upload", "/process", "/delete"):
            response = client.post(path, json={}, headers=headers,
                                   environ_base={"REMOTE_ADDR": f"10.1.{index}.{len(path)}"})
            assert response.status_code == 401, (headers.keys(), path)
            bodies.add(str(response.get_json()["error"]))
    assert len(bodies) == 1


def test_unset_password_refuses_work_with_503_saying_how_to_fix(config):
    client = client_for(create_handler(replace(config, app_password=None)))
    response = client.post("/process", json={}, headers=AUTH)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "auth_not_configured"
    assert "APP_PASSWORD" in response.get_json()["error"]["message"]


def test_a_password_in_the_query_string_is_refused_and_never_logged(client, log_lines):
    for name in ("password", "app_password", "key", "token", "secret"):
        response = client.post(f"/process?{name}={PASSWORD}", json={}, headers=AUTH)
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "secret_in_url"
        assert PASSWORD not in response.get_data(as_text=True)
    assert log_lines, "the requests were logged"
    assert not any(PASSWORD in line or "horse" in line for line in log_lines)


@pytest.mark.slow
def test_a_password_in_the_query_string_is_not_logged_by_the_real_server(tmp_path):
    quoted = PASSWORD.replace(" ", "%20")
    with running_function(function_env(tmp_path), tmp_path) as server:
        status, _, body = call(server.url, "GET", f"/health?password={quoted}")
        assert status == 400 and b"secret_in_url" in body
        status, _, _ = call(server.url, "POST", f"/upload?token={quoted}", body=b"{}",
                            headers={"Content-Type": "application/json"})
        assert status == 400
        text = server.log()
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


def _guess(client, forwarded_for: str | None = None, address: str = "10.9.9.9", password: str = "guess"):
    headers = {"X-App-Password": password} | ({"X-Forwarded-For": forwarded_for} if forwarded_for else {})
    return client.post("/process", json={}, headers=headers, environ_base={"REMOTE_ADDR": address})


def test_failed_guesses_are_throttled_after_auth_max_failures_with_retry_after(strict_client):
    assert [_guess(strict_client).status_code for _ in range(3)] == [401, 401, 401]
    response = _guess(strict_client)
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "too_many_attempts"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_a_throttled_address_presenting_the_right_password_is_let_in(strict_client):
    for _ in range(4):
        _guess(strict_client)
    assert _guess(strict_client, password=PASSWORD).status_code == 400  # past auth: the empty body is wrong


def test_throttling_one_address_leaves_others_alone(strict_client):
    for _ in range(3):
        _guess(strict_client, address="10.0.0.1")
    assert _guess(strict_client, address="10.0.0.2").status_code == 401


def test_the_throttle_survives_a_new_worker(config):
    """A recycled worker builds its services afresh; the failures are kept beside the store."""
    strict = replace(config, auth_max_failures=3)
    for _ in range(3):
        _guess(client_for(create_handler(strict)))
    assert _guess(client_for(create_handler(strict))).status_code == 429


def test_without_trust_proxy_x_forwarded_for_is_ignored_so_it_cannot_dodge_the_throttle(strict_client):
    for index in range(3):
        _guess(strict_client, forwarded_for=f"203.0.113.{index}")
    assert _guess(strict_client, forwarded_for="198.51.100.7").status_code == 429


def test_with_trust_proxy_the_client_is_the_entry_the_proxy_appended(config):
    client = client_for(create_handler(replace(config, auth_max_failures=3, trust_proxy=True)))
    for index in range(3):  # the client rotates what it writes; the proxy appends what it saw
        _guess(client, forwarded_for=f"198.51.100.{index}, 203.0.113.5")
    assert _guess(client, forwarded_for="192.0.2.77, 203.0.113.5").status_code == 429
    assert _guess(client, forwarded_for="203.0.113.5, 192.0.2.8").status_code == 401


def test_a_client_cannot_lock_out_another_address_by_naming_it(config):
    client = client_for(create_handler(replace(config, auth_max_failures=3, trust_proxy=True)))
    for _ in range(3):
        _guess(client, forwarded_for="203.0.113.5, 192.0.2.66")  # spoofs the victim 203.0.113.5
    assert _guess(client, forwarded_for="203.0.113.5").status_code == 401


def test_trusted_proxy_hops_counts_that_many_entries_from_the_right():
    assert client_address("10.0.0.1", "a, b, c", trusted_hops=2) == "b"
    assert client_address("10.0.0.1", "c", trusted_hops=2) == "10.0.0.1"
    assert client_address("10.0.0.1", "a, b", trusted_hops=0) == "10.0.0.1"


def test_a_non_latin_1_password_can_be_used(config):
    client = client_for(create_handler(replace(config, app_password="пароль-ключ")))
    garbled = "пароль-ключ".encode().decode("latin-1")  # how WSGI hands the header over
    assert client.post("/process", json={}, headers={"X-App-Password": garbled}).status_code == 400


def test_an_address_is_let_back_in_once_its_oldest_failure_leaves_the_window(tmp_path):
    now = [1000.0]
    gate = AuthGate("pw", FileFailureLog(tmp_path), max_failures=2, window_s=60, clock=lambda: now[0])
    for _ in range(2):
        with pytest.raises(Unauthorized):
            gate.require("bad", "a")
    with pytest.raises(TooManyAttempts) as throttled:
        gate.require("bad", "a")
    assert throttled.value.headers["Retry-After"] == "60"
    now[0] += 61
    with pytest.raises(Unauthorized):
        gate.require("bad", "a")


def test_secret_comparison_survives_non_ascii_and_empty_input():
    assert secrets_match("pässwörd", "pässwörd")
    assert not secrets_match("", "pw")
    assert not secrets_match(None, "pw")
    assert not secrets_match("\udcff", "pw")
