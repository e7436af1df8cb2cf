"""The shared upload store: Redis, so that any instance of the function serves any step.

Selected by STORE_URL (or REDIS_URL) = redis://… or rediss://… (TLS). Uploads, originals and
masks live in Redis with Redis's own expiry; an instance keeps none of them on its disk, only
its caches (the image embeddings).

Key layout (all under `drishya:`):

    item:<key>        hash {k: kind, m: metadata as JSON, p: payload}, PEXPIREAT its expiry
                      plus a few seconds. One hash per item: one read returns it whole, and an
                      eviction takes all of it or nothing.
    children:<key>    set of an upload's child keys (its masks and original), expiring with
                      them. A delete reads it and removes them all in one transaction; a SCAN
                      over `item:<key>_*` would walk the whole keyspace on every delete.
    signing-key, failures:<hash>     see redis_shared.py

Faults: every Redis call goes through `RedisConnection.guard`, which turns Redis's errors into
the function's: unreachable or too slow → 503 `store_unavailable` with Retry-After; refused
credentials or a failed TLS handshake → 503 `store_misconfigured` (the operator must fix
STORE_URL); Redis full with nothing it may evict → 507. Commands are never retried (the pool
replaces a connection the server closed before using it), so no request waits longer than
STORE_TIMEOUT_S on one command, and after an outage the next request reconnects by itself.
Neither answers nor health name Redis's host (they are public); the logs do. No message ever
holds the password.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import socket
import ssl
import threading
from dataclasses import dataclass, field

import redis
from redis._parsers import Encoder
from redis.backoff import NoBackoff
from redis.connection import PythonRespSerializer, parse_url
from redis.exceptions import (
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    BusyLoadingError,
    NoPermissionError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
)
from redis.retry import Retry

from ..errors import DrishyaError, InsufficientStorage, ServiceUnavailable
from .store import StoredItem

log = logging.getLogger(__name__)

PREFIX = "drishya:"
# The keys ids.py makes: an upload's, or a child's (`<upload key>_<16 hex>`).
_KEY_PATTERN = re.compile(r"^[0-9a-f]{32}(?:_[0-9a-f]{16})?$")
# More than the request threads of one worker (4 per CPU) plus the background ones.
_MAX_CONNECTIONS = 32
# Idle connections are probed, so that a NAT or proxy on the way (Cloud Run's VPC egress) keeps
# them open, and a peer that vanished is noticed within about a minute.
_KEEPALIVE = {option: value for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3))
              if (option := getattr(socket, name, None)) is not None}
_NEARLY_FULL = 0.9
# Items stay this long past their ids' expiry: a request that checked an id just before it
# expired still finds its item (the client sees 410 after that, never a 404 in between), and
# the clocks of the instances and of Redis may differ a little.
EXPIRY_GRACE_S = 5
# Commands are packed by redis-py's own serializer even where hiredis parses the replies: it sends
# a large value (an image) as it is, where hiredis's packer would copy it into one buffer with the
# command (a 15 MB original: 45 MB more at the peak of an upload instead of none).
_PACKER = PythonRespSerializer(6000, Encoder("utf-8", "strict", False).encode)

UNAVAILABLE, MISCONFIGURED, FULL = "unavailable", "misconfigured", "full"


@dataclass(frozen=True)
class StoreCheck:
    """What health reports about the shared store."""

    reachable: bool
    used_bytes: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class RedisConnection:
    """A pooled, time-bounded client for one Redis, and the one place its errors are mapped.

    Building it does no I/O: connections are made by the first command that needs one, so an
    unreachable Redis never stops the function from starting (health says so instead).
    """

    def __init__(self, url: str, timeout_s: float):
        options = parse_url(url)  # ValueError for a malformed URL
        self.where = f"{options.get('host', 'localhost')}:{options.get('port', 6379)}"
        self.timeout_s = timeout_s
        self._secrets = [str(value) for value in (options.get("password"), options.get("username")) if value]
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=_MAX_CONNECTIONS, timeout=timeout_s, socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s, socket_keepalive=True, socket_keepalive_options=_KEEPALIVE,
            retry=Retry(NoBackoff(), 0), client_name="drishya", command_packer=_PACKER)
        self.client = redis.Redis(connection_pool=pool)
        self._lock = threading.Lock()
        self._fault: tuple[str, str] | None = None  # the last failure's (kind, reason) until a call succeeds

    @property
    def retry_after_s(self) -> int:
        return max(1, math.ceil(self.timeout_s))

    @contextlib.contextmanager
    def guard(self, doing: str):
        """Run Redis commands; their failure leaves as the DrishyaError a client should get."""
        try:
            yield self.client
        except redis.RedisError as error:
            raise self._failed(error, doing) from None
        if self._fault is not None:
            self._recovered()

    def close(self) -> None:
        self.client.connection_pool.disconnect()

    def _failed(self, error: redis.RedisError, doing: str) -> DrishyaError:
        kind, reason = classify(error, self.timeout_s)
        reason = self._scrub(reason)
        with self._lock:
            changed, self._fault = self._fault != (kind, reason), (kind, reason)
        if changed:  # logged when it starts or changes, not once per request of an outage
            log.error("the shared store (Redis) failed", extra={"fields": {
                "store": "redis", "at": self.where, "doing": doing, "fault": kind, "reason": reason,
                "error": self._scrub(f"{type(error).__name__}: {str(error)[:300]}")}})
        if kind == MISCONFIGURED:
            return ServiceUnavailable("the function cannot use its shared store: its operator must fix STORE_URL",
                                      code="store_misconfigured", details={"reason": reason})
        if kind == FULL:
            return InsufficientStorage("the shared upload store is full: try again later", details={"reason": reason})
        return ServiceUnavailable("the shared upload store cannot be reached right now: try again shortly",
                                  code="store_unavailable", headers={"Retry-After": str(self.retry_after_s)},
                                  details={"reason": reason})

    def _recovered(self) -> None:
        with self._lock:
            was, self._fault = self._fault, None
        if was is not None:
            log.warning("the shared store (Redis) answers again", extra={"fields": {"store": "redis", "at": self.where}})

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def classify(error: redis.RedisError, timeout_s: float) -> tuple[str, str]:
    """(UNAVAILABLE | MISCONFIGURED | FULL, a reason naming neither host nor secret)."""
    message = str(error)
    if isinstance(error, (AuthenticationError, AuthenticationWrongNumberOfArgsError, NoPermissionError)):
        return MISCONFIGURED, ("Redis refused the credentials in STORE_URL (a wrong or missing password, or a "
                               "user without access)")
    tls = _ssl_error(error)
    if tls is not None:
        detail = getattr(tls, "verify_message", None) or getattr(tls, "reason", None) or "handshake failed"
        return MISCONFIGURED, (f"the TLS connection to Redis failed ({detail}): check the rediss:// address, "
                               "and give the server's CA with ?ssl_ca_certs=<file> if it is not a public one")
    if isinstance(error, redis.TimeoutError):
        handshake = "handshake" in str(error.__context__ or "")
        hint = " (in the TLS handshake: does the server speak TLS on this port?)" if handshake else ""
        return UNAVAILABLE, f"Redis did not answer within {timeout_s:g} s{hint}"
    if isinstance(error, BusyLoadingError):
        return UNAVAILABLE, "Redis is loading its data set"
    if isinstance(error, ReadOnlyError):
        return UNAVAILABLE, "Redis is a read-only replica (a failover in progress?)"
    if isinstance(error, redis.ConnectionError):
        cause = _os_error(error)
        what = cause.strerror if cause is not None and cause.strerror else "the connection failed or was closed"
        return UNAVAILABLE, f"cannot talk to Redis: {what.lower()}"
    if isinstance(error, OutOfMemoryError) or message.startswith("OOM"):
        return FULL, "Redis is at its maxmemory and may evict nothing more (maxmemory-policy)"
    if isinstance(error, ResponseError) and "DB index" in message:
        return MISCONFIGURED, "STORE_URL names a database number Redis does not have"
    return UNAVAILABLE, f"Redis answered an error ({type(error).__name__})"


def _chain(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _ssl_error(error: BaseException) -> ssl.SSLError | None:
    return next((e for e in _chain(error) if isinstance(e, ssl.SSLError)), None)


def _os_error(error: BaseException) -> OSError | None:
    return next((e for e in _chain(error) if isinstance(e, OSError) and e.errno), None)


class RedisStore:
    """The UploadStore protocol on Redis (see the module's docstring for the key layout).

    key_shared: the signing key is kept in Redis too (no SECRET_KEY), which health's advice on
    eviction policies depends on.
    """

    def __init__(self, connection: RedisConnection, *, key_shared: bool = False):
        self.connection = connection
        self._key_shared = key_shared

    def put(self, key: str, kind: str, payload: bytes, meta: dict, expires_at: float) -> None:
        item, at_ms = _item(key), int((expires_at + EXPIRY_GRACE_S) * 1000)
        parent = _parent(key)
        with self.connection.guard("store an upload") as client:
            pipe = client.pipeline(transaction=True)
            pipe.hset(item, mapping={"k": kind, "m": json.dumps(meta), "p": payload})
            pipe.pexpireat(item, at_ms)
            if parent is not None:
                pipe.sadd(_children(parent), key)
                pipe.pexpireat(_children(parent), at_ms)
            pipe.execute()

    def get(self, key: str) -> StoredItem | None:
        with self.connection.guard("read an upload") as client:
            kind, meta, payload = client.hmget(_item(key), ["k", "m", "p"])
        if kind is None or meta is None or payload is None:
            return None
        try:
            return StoredItem(key=key, kind=kind.decode(), meta=json.loads(meta), payload=payload)
        except (UnicodeDecodeError, ValueError):  # not ours: unusable, so treat it as gone
            with self.connection.guard("remove a damaged item") as client:
                client.delete(_item(key))
            return None

    def contains(self, key: str) -> bool:
        with self.connection.guard("look up an upload") as client:
            return bool(client.exists(_item(key)))

    def delete(self, key: str) -> int:
        item = _item(key)
        parent = _parent(key)
        with self.connection.guard("delete an upload") as client:
            children = [child.decode() for child in client.smembers(_children(key))]
            pipe = client.pipeline(transaction=True)
            pipe.delete(item, *(_item(child) for child in children if _KEY_PATTERN.fullmatch(child)))
            pipe.delete(_children(key))
            if parent is not None:
                pipe.srem(_children(parent), key)
            return int(pipe.execute()[0])

    def purge_expired(self, now: float | None = None) -> int:
        return 0  # Redis expires items itself

    def used_bytes(self) -> int:
        with self.connection.guard("read the store's size") as client:
            return int(client.info("memory").get("used_memory", 0))

    def is_writable(self) -> bool:
        return self.check().reachable

    def check(self) -> StoreCheck:
        """Reachable or why not, its memory, and advice on its settings (for health)."""
        try:
            with self.connection.guard("check the store") as client:
                info = client.info("memory")
        except ServiceUnavailable as error:
            kind = "misconfigured" if error.code == "store_misconfigured" else "unreachable"
            return StoreCheck(False, problems=[f"the shared store (Redis) is {kind}: {error.details['reason']}"])
        used, limit = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
        policy = str(info.get("maxmemory_policy", ""))
        warnings = []
        if limit == 0:
            warnings.append("Redis has no maxmemory: set maxmemory (e.g. 256mb) and maxmemory-policy volatile-ttl, "
                            "so that the uploads nearest their expiry make room")
        elif policy == "noeviction" and used > _NEARLY_FULL * limit:
            warnings.append("Redis is nearly full and may evict nothing (noeviction): uploads will be refused; "
                            "maxmemory-policy volatile-ttl evicts the uploads nearest their expiry instead")
        if policy.startswith("allkeys") and self._key_shared:
            warnings.append(f"Redis may evict keys without an expiry ({policy}), the shared signing key among them: "
                            "use maxmemory-policy volatile-ttl, or set SECRET_KEY")
        return StoreCheck(True, used_bytes=used, warnings=warnings)


def _item(key: str) -> str:
    if not _KEY_PATTERN.fullmatch(key):
        raise ValueError("not a store key")
    return f"{PREFIX}item:{key}"


def _children(key: str) -> str:
    return f"{PREFIX}children:{key}"


def _parent(key: str) -> str | None:
    return key.split("_", 1)[0] if "_" in key else None
