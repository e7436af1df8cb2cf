"""Routing and the error shape: every error is JSON with a code and a message."""
from support.function import AUTH


def test_unknown_path_is_404_json(client):
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert set(response.get_json()["error"]) == {"code", "message"}


def test_get_on_an_action_that_needs_post_is_405(client):
    response = client.get("/upload")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


def test_post_root_dispatches_on_the_action_field(client):
    response = client.post("/", json={"action": "health"})
    assert response.status_code == 200
    assert response.get_json()["status"] == "healthy"


def test_post_root_with_an_unknown_action_is_404(client):
    response = client.post("/", json={"action": "explode"}, headers=AUTH)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "unknown_action"


def test_malformed_json_is_400_invalid_json(client):
    response = client.post("/process", data="{not json", content_type="application/json", headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"


def test_every_response_carries_a_request_id_and_safety_headers(client):
    for response in (client.get("/health"), client.get("/nowhere")):
        assert len(response.headers["X-Request-Id"]) == 16
        assert response.get_json()["request_id"] == response.headers["X-Request-Id"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


def test_get_root_serves_the_web_page(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")


def test_app_assets_cannot_escape_the_static_folder(client):
    assert client.get("/app/../main.py").status_code == 404
    assert client.get("/app/%2e%2e/config.py").status_code == 404


def test_log_lines_are_json_carrying_the_request_id():
    import json
    import logging

    from handler.platform.logs import JsonFormatter, request_id_var

    token = request_id_var.set("abc123")
    try:
        record = logging.LogRecord("handler.x", logging.INFO, __file__, 1, "hello", None, None)
        record.fields = {"status": 200}
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert (line["message"], line["request_id"], line["status"]) == ("hello", "abc123", 200)
