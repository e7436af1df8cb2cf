"""The shared secret: who may call upload and process."""
from conftest import AUTH, PASSWORD

from handler.auth import AuthGate, secrets_match


def test_upload_without_password_is_401(client):
    response = client.post("/upload", data={})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_process_with_wrong_password_is_401(client):
    response = client.post("/process", json={}, headers={"X-App-Password": "nope"})
    assert response.status_code == 401


def test_bearer_token_is_accepted(client):
    response = client.post("/process", json={}, headers={"Authorization": f"Bearer {PASSWORD}"})
    assert response.status_code == 400  # past auth: the body is what is wrong


def test_x_app_password_header_is_accepted(client):
    response = client.post("/process", json={}, headers=AUTH)
    assert response.status_code == 400


def test_every_auth_failure_gets_the_same_body(client):
    bodies = []
    for headers in ({}, {"X-App-Password": ""}, {"X-App-Password": "wrong"},
                    {"X-App-Password": "x" * 65536}, {"Authorization": "Bearer пароль"}):
        response = client.post("/process", json={}, headers=headers)
        assert response.status_code == 401
        bodies.append(response.get_json()["error"])
    assert all(body == bodies[0] for body in bodies)


def test_unset_password_refuses_work_with_503_saying_how_to_fix(client, function_env):
    function_env.delenv("APP_PASSWORD")
    from handler.runtime import reset_runtime

    reset_runtime()
    response = client.post("/process", json={}, headers=AUTH)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "auth_not_configured"
    assert "APP_PASSWORD" in response.get_json()["error"]["message"]


def test_password_in_query_string_is_refused(client):
    response = client.post(f"/process?password={PASSWORD}", json={}, headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "secret_in_url"


def test_repeated_failures_from_one_address_are_throttled_with_retry_after(client):
    for _ in range(10):
        assert client.post("/process", json={}, headers={"X-App-Password": "guess"}).status_code == 401
    response = client.post("/process", json={}, headers=AUTH)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0


def test_throttling_one_address_leaves_others_alone(client):
    for _ in range(10):
        client.post("/process", json={}, headers={"X-App-Password": "guess"},
                    environ_base={"REMOTE_ADDR": "10.0.0.1"})
    response = client.post("/process", json={}, headers=AUTH, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert response.status_code == 400


def test_throttle_window_passes():
    now = [0.0]
    gate = AuthGate("pw", max_failures=2, window_s=60, clock=lambda: now[0])
    for _ in range(2):
        try:
            gate.require("bad", "a")
        except Exception:
            pass
    now[0] = 61
    gate.require("pw", "a")


def test_secret_comparison_survives_non_ascii_and_empty_input():
    assert secrets_match("pässwörd", "pässwörd")
    assert not secrets_match("", "pw")
    assert not secrets_match(None, "pw")
    assert not secrets_match("\udcff", "pw")
