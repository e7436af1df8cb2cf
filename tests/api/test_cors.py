"""Cross-origin access: none unless the caller's origin is listed in CORS_ORIGINS."""
from __future__ import annotations

from dataclasses import replace

import pytest

from handler.edge import create_handler

from support.function import client_for

ORIGIN = "https://shop.example"
PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "x-app-password, content-type"}


@pytest.fixture
def shop_client(config):
    return client_for(create_handler(replace(config, cors_origins=(ORIGIN,))))


def _cors_headers(response) -> set[str]:
    return {name for name in response.headers.keys() if name.lower().startswith("access-control-")}


def test_no_cors_headers_by_default(client):
    assert _cors_headers(client.open("/process", method="OPTIONS", headers=PREFLIGHT)) == set()
    assert _cors_headers(client.get("/health", headers={"Origin": ORIGIN})) == set()


def test_a_preflight_from_an_allowed_origin_is_answered(config):
    client = client_for(create_handler(replace(config, cors_origins=("https://other.example", ORIGIN))))
    response = client.open("/process", method="OPTIONS", headers=PREFLIGHT)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "x-app-password" in response.headers["Access-Control-Allow-Headers"].lower()
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Origin" in response.headers["Vary"]


def test_an_allowed_origin_can_read_answers_and_errors(shop_client):
    client = shop_client
    for response in (client.get("/health", headers={"Origin": ORIGIN}),
                     client.post("/process", json={}, headers={"Origin": ORIGIN})):
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_a_disallowed_origin_gets_no_cors_headers(shop_client):
    client = shop_client
    for origin in ("https://evil.example", "https://shop.example.evil.example", "null", ORIGIN + "/"):
        response = client.open("/process", method="OPTIONS", headers={**PREFLIGHT, "Origin": origin})
        assert _cors_headers(response) == set(), origin
