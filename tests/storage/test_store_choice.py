"""Choosing the store: STORE_URL (or REDIS_URL) selects Redis, unset keeps the file store; a
function whose Redis is not there starts, answers 503 store_unavailable and reports it in health
(no redis-server needed: nothing listens on the port)."""
from __future__ import annotations

import io
import time
from dataclasses import replace

import pytest

from handler.edge import create_handler
from handler.platform.config import Config, ConfigError
from handler.storage.file_store import FileStore
from handler.storage.redis_store import RedisStore

from support.function import AUTH, client_for
from support.images import png_bytes
from support.servers import free_port

SECRET_URL = "redis://:hunter2-redis@10.0.0.3:6379/0"


def test_store_url_selects_redis_and_redis_url_is_read_too():
    assert Config.from_env({"STORE_URL": SECRET_URL}).store_url == SECRET_URL
    assert Config.from_env({"REDIS_URL": "rediss://cache:6380"}).store_url == "rediss://cache:6380"
    assert Config.from_env({"STORE_URL": SECRET_URL, "REDIS_URL": "redis://other"}).store_url == SECRET_URL
    assert Config.from_env({}).store_url is None
    assert Config.from_env({"STORE_TIMEOUT_S": "1.5"}).store_timeout_s == 1.5


def test_a_store_url_that_is_not_redis_is_refused_without_repeating_it():
    with pytest.raises(ConfigError) as refused:
        Config.from_env({"STORE_URL": "http://user:hunter2@example.com"})
    assert "hunter2" not in str(refused.value)


def test_the_config_never_prints_the_store_url():
    assert "hunter2" not in repr(Config.from_env({"STORE_URL": SECRET_URL}))


def test_unset_keeps_the_file_store_and_set_builds_redis_without_connecting(config):
    assert isinstance(create_handler(config).runtime.records.store, FileStore)
    started = time.monotonic()
    runtime = create_handler(replace(config, store_url="redis://192.0.2.1:6379/0")).runtime
    assert isinstance(runtime.records.store, RedisStore)
    assert time.monotonic() - started < 1.0, "building the runtime does not wait for Redis"


def test_a_malformed_redis_url_is_a_configuration_error(config):
    response = client_for(create_handler(replace(config, store_url="redis://host:notaport/0"))).get("/health")
    assert response.status_code == 500 and response.get_json()["error"]["code"] == "misconfigured"
    assert "notaport" not in response.get_data(as_text=True)


@pytest.fixture
def without_redis(config):
    """A function whose Redis is not there (nothing listens on the port)."""
    return client_for(create_handler(replace(config, store_url=f"redis://127.0.0.1:{free_port()}/0",
                                             store_timeout_s=1.0)))


def test_without_redis_health_is_unhealthy_with_the_reason(without_redis):
    response = without_redis.get("/health")
    body = response.get_json()
    assert response.status_code == 503 and body["status"] == "unhealthy"
    assert any("shared store (Redis) is unreachable" in reason for reason in body["reasons"])
    assert body["system"]["store"] == "redis"


def test_without_redis_an_upload_is_503_store_unavailable_with_retry_after(without_redis, scene_pixels):
    started = time.monotonic()
    response = without_redis.post("/upload", headers=AUTH,
                                  data={"image": (io.BytesIO(png_bytes(scene_pixels)), "scene.png")})
    assert response.status_code == 503, response.get_json()
    assert response.get_json()["error"]["code"] == "store_unavailable"
    assert response.headers["Retry-After"] == "1"
    assert time.monotonic() - started < 2.0


def test_without_redis_a_wrong_password_is_not_let_through_unthrottled(without_redis):
    response = without_redis.post("/process", headers={"X-App-Password": "guess"}, json={})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "store_unavailable"
