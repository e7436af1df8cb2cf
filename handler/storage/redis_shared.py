"""What every instance must agree on, kept in the shared Redis: the signing key and the
wrong-password log.

    drishya:signing-key         32 random bytes, no expiry (only with no SECRET_KEY)
    drishya:failures:<hash>     sorted set of one address's wrong-password times, expiring
                                one window after its newest failure
"""
from __future__ import annotations

import hashlib
import logging
import math
import secrets

from .redis_store import PREFIX, RedisConnection

log = logging.getLogger(__name__)

SIGNING_KEY = f"{PREFIX}signing-key"


class SharedSigningKey:
    """The HMAC key of every instance when SECRET_KEY is not set: generated once, by whichever
    instance needs it first, and shared through Redis (SET NX: the first one wins, the others
    adopt it). `key(fresh)` gives it; IdSigner asks for it fresh for every id it issues.

    Fresh means agreed with Redis now, in one round trip: this instance's key is offered with
    SET NX and whatever Redis then holds is adopted. So a Redis that lost its data (restarted
    without persistence, or evicted the key) gets the key back from the first instance that
    issues an id, and every instance signs with the key Redis holds, never a stale one. Checking
    an id uses the key held (no round trip) unless it does not verify.
    """

    def __init__(self, connection: RedisConnection):
        self._connection = connection
        self._key: bytes | None = None

    def __call__(self, fresh: bool = False) -> bytes:
        key = self._key
        if fresh or key is None:
            key = self.refresh()
        return key

    def refresh(self) -> bytes:
        """Agree with Redis on the key now (503 store_unavailable when it cannot be reached)."""
        held = self._key
        with self._connection.guard("share the signing key") as client:
            pipe = client.pipeline(transaction=False)
            pipe.set(SIGNING_KEY, held or secrets.token_bytes(32), nx=True)
            pipe.get(SIGNING_KEY)
            published, agreed = pipe.execute()
        if published and held is None:
            log.warning("SECRET_KEY is not set: generated a signing key and shared it through Redis; set SECRET_KEY "
                        "so that ids stay valid if Redis loses its data")
        elif published:
            log.warning("Redis had lost the shared signing key (a restart without persistence, or an eviction): "
                        "shared this instance's key again")
        elif held is not None and agreed != held:
            log.warning("the shared signing key in Redis changed (it lost the one held here): ids signed before "
                        "are no longer valid")
        self._key = agreed
        return agreed


class RedisFailureLog:
    """The FailureLog protocol on Redis: a sorted set per client address (named by a hash of
    it), scored by failure time. Unreachable Redis → 503 store_unavailable: a wrong password
    is never let through unthrottled (the right one never reaches the log)."""

    def __init__(self, connection: RedisConnection):
        self._connection = connection

    def recent(self, client: str, since: float) -> list[float]:
        with self._connection.guard("check the password throttle") as redis:
            return [score for _, score in redis.zrangebyscore(_key(client), f"({since!r}", "+inf", withscores=True)]

    def add(self, client: str, at: float, since: float, keep: int) -> None:
        key = _key(client)
        with self._connection.guard("record a wrong password") as redis:
            pipe = redis.pipeline(transaction=True)
            pipe.zadd(key, {f"{at!r}:{secrets.token_hex(4)}": at})
            pipe.zremrangebyscore(key, "-inf", repr(since))
            pipe.zremrangebyrank(key, 0, -(keep + 1))
            pipe.expire(key, max(1, math.ceil(at - since)) + 1)
            pipe.execute()


def _key(client: str) -> str:
    return f"{PREFIX}failures:{hashlib.sha256(client.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"
