"""GET /health: the platform's health check and the operator's view."""
from dataclasses import replace

from handler.edge import create_handler

from support.function import AUTH, client_for

SYSTEM_FIELDS = {"memory_total_gb", "memory_available_gb", "memory_used_gb", "rss_mb", "cpu_count",
                 "temp_dir_writable", "store_used_mb", "disk_free_gb"}


def test_health_needs_no_password_and_reports_every_field(client):
    response = client.get("/health")
    body = response.get_json()
    assert response.status_code == 200
    assert body["status"] == "healthy"
    assert {"auth_configured", "model_loaded", "model", "system", "uptime_s", "invocations", "version"} <= set(body)
    assert {"state", "segmenter", "load_seconds", "error"} <= set(body["model"])
    assert SYSTEM_FIELDS <= set(body["system"])


def test_health_names_the_segmenter_that_would_serve(client):
    assert client.get("/health").get_json()["model"]["segmenter"] == "grabcut"


def test_health_with_right_password_says_authenticated(client):
    assert client.get("/health", headers=AUTH).get_json()["authenticated"] is True


def test_health_with_wrong_password_is_401(client):
    assert client.get("/health", headers={"X-App-Password": "no"}).status_code == 401


def test_health_without_password_configured_is_degraded_but_200(config):
    client = client_for(create_handler(replace(config, app_password=None)))
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json()["status"] == "degraded"
    assert response.get_json()["auth_configured"] is False


def test_unwritable_temp_dir_is_unhealthy_503(config, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    client = client_for(create_handler(replace(config, temp_dir=blocker / "store")))
    response = client.get("/health")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unhealthy"
    assert response.get_json()["system"]["temp_dir_writable"] is False


def test_mobilesam_required_without_weights_is_unhealthy(config):
    client = client_for(create_handler(replace(config, segmenter="mobilesam")))
    response = client.get("/health")
    assert response.status_code == 503
    assert response.get_json()["model"]["state"] == "unavailable"


def test_health_reveals_no_secret_or_path(config, tmp_path):
    client = client_for(create_handler(replace(config, secret_key="sekrit-signing-key")))
    text = client.get("/health", headers=AUTH).get_data(as_text=True)
    assert "correct horse" not in text and "sekrit" not in text and str(tmp_path) not in text


def test_railway_health_check_host_gets_200_not_a_redirect(client):
    response = client.get("/health", headers={"Host": "healthcheck.railway.app"})
    assert response.status_code == 200


def test_health_counts_invocations(client):
    first = client.get("/health").get_json()["invocations"]
    assert client.get("/health").get_json()["invocations"] == first + 1


def test_health_with_a_password_but_none_configured_still_answers_200(config):
    client = client_for(create_handler(replace(config, app_password=None)))
    response = client.get("/health", headers=AUTH)
    assert response.status_code == 200
    assert "authenticated" not in response.get_json()
