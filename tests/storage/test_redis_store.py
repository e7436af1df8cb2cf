"""The Redis store, the shared signing key and the shared throttle log against a real redis-server
(tests/support/redis_server.py): native expiry, deleting with children, eviction, and every
fault a client should see as a clear 503 (or 507), never a hang or a leaked secret."""
from __future__ import annotations

import logging
import time

import pytest

from handler.errors import DrishyaError, InsufficientStorage, ServiceUnavailable
from handler.storage.failures import FileFailureLog
from handler.storage.ids import IdSigner, ObjectId, new_child_key, new_key
from handler.storage.redis_shared import SIGNING_KEY, RedisFailureLog, SharedSigningKey
from handler.storage.redis_store import EXPIRY_GRACE_S, RedisConnection, RedisStore

from support.redis_server import RedisServer, redis_server, requires_redis
from support.servers import free_port

pytestmark = [pytest.mark.slow, requires_redis]
PASSWORD = "s3cret-redis-pw"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running


@pytest.fixture
def store(server):
    server.client().flushall()
    connection = RedisConnection(server.url, timeout_s=1.0)
    yield RedisStore(connection, key_shared=True)
    connection.close()


def _later(seconds: float = 60) -> float:
    return time.time() + seconds


def _poll(condition, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_an_item_comes_back_as_it_was_put(store):
    key = new_key()
    payload = bytes(range(256)) * 1000
    store.put(key, "scene", payload, {"shape": [10, 20, 3], "original_size": [40, 80]}, _later())
    item = store.get(key)
    assert (item.key, item.kind, item.meta, item.payload) == (key, "scene", {"shape": [10, 20, 3],
                                                                             "original_size": [40, 80]}, payload)
    assert store.contains(key)
    assert store.get(new_key()) is None and not store.contains(new_key())


def test_items_expire_natively_just_after_their_expiry(store, server):
    key, soon = new_key(), time.time() + 0.3 - EXPIRY_GRACE_S
    store.put(key, "scene", b"x", {}, soon)
    store.put(later := new_key(), "scene", b"y", {}, _later(3600))
    ttl_ms = server.client().pttl(f"drishya:item:{later}")
    assert 3590_000 + EXPIRY_GRACE_S * 1000 < ttl_ms <= 3600_000 + EXPIRY_GRACE_S * 1000
    assert _poll(lambda: store.get(key) is None)
    assert not server.client().exists(f"drishya:item:{key}")
    assert store.get(later) is not None
    assert store.purge_expired(now=time.time() + 7200) == 0, "nothing to sweep: Redis expires items itself"


def test_delete_removes_an_upload_with_its_masks_and_original_only(store, server):
    parent, lookalike = new_key(), new_key()
    store.put(parent, "scene", b"s", {}, _later())
    mask = new_child_key(parent)
    store.put(mask, "mask", b"m", {}, _later())
    store.put(f"{parent}_{'0' * 16}", "original", b"o", {}, _later())
    store.put(lookalike, "scene", b"l", {}, _later())
    store.put(new_child_key(lookalike), "mask", b"lm", {}, _later())
    assert store.delete(parent) == 3
    assert store.get(parent) is None and store.get(mask) is None
    assert store.get(lookalike) is not None
    assert not server.client().exists(f"drishya:children:{parent}")
    assert store.delete(parent) == 0, "deleting again is harmless"


def test_deleting_a_mask_alone_takes_it_out_of_its_scene(store, server):
    parent = new_key()
    store.put(parent, "scene", b"s", {}, _later())
    mask = new_child_key(parent)
    store.put(mask, "mask", b"m", {}, _later())
    assert store.delete(mask) == 1
    assert server.client().smembers(f"drishya:children:{parent}") == set()
    assert store.get(parent) is not None


def test_a_damaged_item_reads_as_gone_and_is_removed(store, server):
    key = new_key()
    server.client().hset(f"drishya:item:{key}", mapping={"k": "scene", "m": "{not json", "p": b"x"})
    assert store.get(key) is None
    assert not server.client().exists(f"drishya:item:{key}")


def test_big_items_are_sent_without_a_copy_and_read_with_at_most_one(store):
    import tracemalloc

    payload = b"\x07" * (8 * 1024 * 1024)
    key = new_key()
    store.contains(key)  # a connection, made before measuring
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        store.put(key, "original", payload, {}, _later())
        put_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        item = store.get(key)
        get_peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert item.payload == payload
    assert put_peak < 1024 * 1024, f"sending copied the payload: {put_peak / 2**20:.1f} MB"
    assert get_peak < 1.5 * len(payload), f"reading held {get_peak / 2**20:.1f} MB for an 8 MB item"


def test_store_keys_are_checked(store):
    for bad in ("../etc/passwd", "*", new_key() + "*", ""):
        with pytest.raises(ValueError):
            store.get(bad)


def test_redis_evicts_the_uploads_nearest_their_expiry_when_full(tmp_path):
    with redis_server(tmp_path, maxmemory="8mb", policy="volatile-ttl") as small:
        store = RedisStore(RedisConnection(small.url, timeout_s=1.0))
        keys = [new_key() for _ in range(12)]
        for index, key in enumerate(keys):
            store.put(key, "scene", b"\x01" * 1_000_000, {}, _later(600 + index * 60))
        kept = [store.get(key) is not None for key in keys]
        assert not all(kept), "12 MB cannot all fit in 8 MB"
        assert kept[-1], "the newest upload is kept"
        assert kept.index(True) > 0 and all(kept[kept.index(True):]), "the soonest to expire went first"


def test_a_full_redis_that_may_evict_nothing_is_507(tmp_path):
    with redis_server(tmp_path, maxmemory="4mb", policy="noeviction") as full:
        store = RedisStore(RedisConnection(full.url, timeout_s=1.0))
        with pytest.raises(InsufficientStorage):
            for _ in range(8):
                store.put(new_key(), "scene", b"\x01" * 1_000_000, {}, _later())
        assert "noeviction" in " ".join(store.check().warnings) or store.check().reachable


# ---- the signing key every instance shares -------------------------------------------------------

def test_instances_agree_on_one_generated_signing_key(store, server, caplog):
    first, second = SharedSigningKey(store.connection), SharedSigningKey(store.connection)
    with caplog.at_level(logging.WARNING, logger="handler.storage.redis_shared"):
        assert first() == second() == server.client().get(SIGNING_KEY)
    assert len(first()) == 32
    assert sum("SECRET_KEY is not set" in record.getMessage() for record in caplog.records) == 1
    token = IdSigner(first).issue(ObjectId("scene", new_key(), int(_later())))
    assert IdSigner(second).parse(token, kind="scene", field="image_id").kind == "scene"


def test_after_redis_lost_the_key_instances_agree_again_at_the_next_id(store, server):
    running_a, running_b = IdSigner(SharedSigningKey(store.connection)), IdSigner(SharedSigningKey(store.connection))
    running_a.issue(ObjectId("scene", new_key(), int(_later())))
    running_b.parse(running_a.issue(ObjectId("scene", new_key(), int(_later()))), kind="scene", field="image_id")
    server.client().flushall()  # a restart without persistence
    started_later = IdSigner(SharedSigningKey(store.connection))
    token = started_later.issue(ObjectId("scene", new_key(), int(_later())))  # publishes a new key first
    assert running_a.parse(token, kind="scene", field="image_id"), "an id that does not verify asks Redis again"
    from_a = running_a.issue(ObjectId("scene", new_key(), int(_later())))
    for signer in (running_b, started_later):
        assert signer.parse(from_a, kind="scene", field="image_id"), "the stale key is never signed with"


def test_a_key_redis_lost_is_shared_again_by_the_instance_holding_it(store, server):
    running = SharedSigningKey(store.connection)
    key = running()
    server.client().flushall()
    assert running(fresh=True) == key
    assert SharedSigningKey(store.connection)() == key, "an instance started afterwards agrees"


def test_without_redis_no_id_can_be_issued_or_checked_for_the_first_time():
    nowhere = RedisConnection(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.5)
    signer = IdSigner(SharedSigningKey(nowhere))
    for action in (lambda: signer.issue(ObjectId("scene", new_key(), int(_later()))),
                   lambda: signer.parse("scn." + new_key() + ".abc." + "A" * 22, kind="scene", field="image_id")):
        with pytest.raises(ServiceUnavailable) as refused:
            action()
        assert refused.value.code == "store_unavailable"


# ---- the wrong-password log -----------------------------------------------------------------------

def test_the_failure_log_behaves_like_the_file_one(store, server, tmp_path):
    for log in (RedisFailureLog(store.connection), FileFailureLog(tmp_path / "throttle")):
        now = time.time()
        for offset in (50, 40, 30, 20, 10):
            log.add("203.0.113.9", now - offset, since=now - 60, keep=3)
        assert log.recent("203.0.113.9", since=now - 60) == pytest.approx([now - 30, now - 20, now - 10])
        assert log.recent("203.0.113.9", since=now - 25) == pytest.approx([now - 20, now - 10])
        assert log.recent("198.51.100.1", since=now - 60) == []
        log.add("203.0.113.9", now, since=now - 15, keep=3)
        assert log.recent("203.0.113.9", since=now - 60) == pytest.approx([now - 10, now])
    [key] = server.client().keys("drishya:failures:*")
    assert 0 < server.client().ttl(key) <= 16, "an address's log expires a window after its last failure"
    assert b"203.0.113.9" not in key, "addresses are kept only as hashes"


# ---- faults -----------------------------------------------------------------------------------------

def _fails_with(call, code: str) -> tuple[DrishyaError, float]:
    started = time.monotonic()
    with pytest.raises(DrishyaError) as failure:
        call()
    assert failure.value.code == code, failure.value.to_json()
    return failure.value, time.monotonic() - started


def test_unreachable_redis_is_503_store_unavailable_with_retry_after():
    store = RedisStore(RedisConnection(f"redis://127.0.0.1:{free_port()}/0", timeout_s=1.0))
    error, seconds = _fails_with(lambda: store.put(new_key(), "scene", b"x", {}, _later()), "store_unavailable")
    assert error.status == 503 and error.headers["Retry-After"] == "1"
    assert seconds < 1.0
    assert "127.0.0.1" not in str(error.to_json()), "answers do not name the store's host"
    check = store.check()
    assert not check.reachable and "unreachable" in check.problems[0]
    assert RedisFailureLog(store.connection) is not None
    _fails_with(lambda: RedisFailureLog(store.connection).recent("198.51.100.7", 0.0), "store_unavailable")


def test_a_hung_redis_is_503_within_the_timeout_and_the_next_call_after_it_recovers_works(tmp_path):
    with redis_server(tmp_path) as hung:
        store = RedisStore(RedisConnection(hung.url, timeout_s=0.5))
        key = new_key()
        store.put(key, "scene", b"x", {}, _later())
        hung.pause()
        try:
            error, seconds = _fails_with(lambda: store.get(key), "store_unavailable")
            assert seconds < 1.0, f"waited {seconds:.2f} s with a 0.5 s timeout"
            assert "did not answer within 0.5 s" in error.details["reason"]
            assert not store.check().reachable
        finally:
            hung.resume()
        assert store.get(key).payload == b"x"
        assert store.check().reachable


def test_a_restarted_redis_serves_the_next_call_without_a_new_client(tmp_path):
    with redis_server(tmp_path) as restarting:
        store = RedisStore(RedisConnection(restarting.url, timeout_s=1.0))
        store.put(key := new_key(), "scene", b"x", {}, _later())
        restarting.kill()
        _fails_with(lambda: store.get(key), "store_unavailable")
        restarting.start()
        assert store.get(key) is None, "an empty Redis: the upload is gone (404 for the client)"
        store.put(key, "scene", b"again", {}, _later())
        assert store.get(key).payload == b"again"


def test_a_wrong_password_is_a_configuration_error_that_never_shows_the_password(tmp_path, caplog):
    with redis_server(tmp_path, password=PASSWORD) as guarded:
        wrong = "not-the-" + PASSWORD
        for url in (guarded.url.replace(PASSWORD, wrong), guarded.url.replace(f":{PASSWORD}@", "")):
            store = RedisStore(RedisConnection(url, timeout_s=1.0))
            with caplog.at_level(logging.ERROR, logger="handler.storage.redis_store"):
                error, _ = _fails_with(lambda store=store: store.get(new_key()), "store_misconfigured")
            assert error.status == 503 and "Retry-After" not in error.headers
            assert "credentials" in error.details["reason"]
            check = store.check()
            assert not check.reachable and "misconfigured" in check.problems[0]
            logged = " ".join(f"{record.getMessage()} {getattr(record, 'fields', {})}" for record in caplog.records)
            shown = str(error.to_json()) + str(check) + logged
            assert PASSWORD not in shown and wrong not in shown
            assert "127.0.0.1" in logged, "the logs name the host for the operator"
        assert RedisStore(RedisConnection(guarded.url, timeout_s=1.0)).check().reachable


def test_tls_errors_are_configuration_errors_and_a_given_ca_works(tmp_path):
    with redis_server(tmp_path, tls=True) as tls:
        untrusted = RedisStore(RedisConnection(tls.url, timeout_s=1.0))
        error, _ = _fails_with(lambda: untrusted.get(new_key()), "store_misconfigured")
        assert "TLS" in error.details["reason"] and "certificate" in error.details["reason"]
        assert "TLS" in untrusted.check().problems[0]
        trusted = RedisStore(RedisConnection(
            f"{tls.url}?ssl_ca_certs={tmp_path / 'cert.pem'}&ssl_check_hostname=false", timeout_s=1.0))
        trusted.put(key := new_key(), "scene", b"over tls", {}, _later())
        assert trusted.get(key).payload == b"over tls"
        plain = RedisStore(RedisConnection(tls.url.replace("rediss://", "redis://"), timeout_s=1.0))
        _fails_with(lambda: plain.get(new_key()), "store_unavailable")


def test_health_advice_on_redis_memory_settings(tmp_path):
    with redis_server(tmp_path, maxmemory="0", policy="allkeys-lru") as unbounded:
        warnings = RedisStore(RedisConnection(unbounded.url, timeout_s=1.0), key_shared=True).check().warnings
        assert any("no maxmemory" in warning for warning in warnings)
        assert any("signing key" in warning for warning in warnings)
        assert not RedisStore(RedisConnection(unbounded.url, timeout_s=1.0), key_shared=False).check().warnings[1:]


def test_a_sane_redis_gets_no_advice(store):
    check = store.check()
    assert check.reachable and check.warnings == [] and check.used_bytes > 0


def test_the_server_helper_restarts_on_its_port(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    try:
        port = server.port
        server.kill()
        server.start()
        assert server.port == port and server.client().ping()
    finally:
        server.kill()
