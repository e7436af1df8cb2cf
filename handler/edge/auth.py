"""The shared secret: who may upload and process, and how failed guesses are slowed down."""
from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections import OrderedDict, deque
from typing import Callable

from ..errors import BadRequest, ServiceUnavailable, TooManyAttempts, Unauthorized

_WRONG_SECRET = "missing or wrong password: send it as 'Authorization: Bearer <password>' or 'X-App-Password'"
_QUERY_NAMES = ("password", "app_password", "secret", "key", "token")
_MAX_TRACKED_CLIENTS = 10_000


def presented_secret(headers) -> str | None:
    """The password a request carries in its headers, or None."""
    authorization = headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return headers.get("X-App-Password")


def refuse_secret_in_query(query_args) -> None:
    if any(name in query_args for name in _QUERY_NAMES):
        raise BadRequest("never put the password in the URL, where proxies and logs keep it: "
                         "send it in the X-App-Password header", code="secret_in_url")


def client_address(remote_addr: str | None, forwarded_for: str | None, *, trust_proxy: bool) -> str:
    """The caller's address: the first X-Forwarded-For entry only behind a trusted proxy."""
    if trust_proxy and forwarded_for:
        return forwarded_for.split(",")[0].strip() or "unknown"
    return remote_addr or "unknown"


def secrets_match(presented: str | None, expected: str) -> bool:
    """Constant-time comparison that accepts any string, of any length or alphabet."""
    presented_digest = hashlib.sha256((presented or "").encode("utf-8", "surrogatepass")).digest()
    expected_digest = hashlib.sha256(expected.encode("utf-8")).digest()
    return hmac.compare_digest(presented_digest, expected_digest) and bool(presented)


class AuthGate:
    """Checks the shared secret and throttles addresses that keep guessing wrong.

    Each address may fail `max_failures` times within `window_s` seconds; past that it gets
    429 until its oldest failure leaves the window. Other addresses are unaffected.
    """

    def __init__(self, password: str | None, *, max_failures: int, window_s: float,
                 clock: Callable[[], float] = time.monotonic):
        self._password = password
        self._max_failures = max_failures
        self._window_s = window_s
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(self._password)

    def require(self, presented: str | None, client: str) -> None:
        """Raise unless `presented` is the password and `client` is not throttled."""
        if not self._password:
            raise ServiceUnavailable("the function has no password yet: set the APP_PASSWORD environment "
                                     "variable and redeploy", code="auth_not_configured")
        self._refuse_if_throttled(client)
        if not secrets_match(presented, self._password):
            self._record_failure(client)
            raise Unauthorized(_WRONG_SECRET)

    def _refuse_if_throttled(self, client: str) -> None:
        with self._lock:
            failures = self._recent_failures(client)
            if len(failures) < self._max_failures:
                return
            retry_after = max(1, math.ceil(failures[0] + self._window_s - self._clock()))
        raise TooManyAttempts(f"too many wrong passwords from your address: wait {retry_after} s",
                              headers={"Retry-After": str(retry_after)})

    def _record_failure(self, client: str) -> None:
        with self._lock:
            self._recent_failures(client).append(self._clock())
            self._failures.move_to_end(client)
            while len(self._failures) > _MAX_TRACKED_CLIENTS:
                self._failures.popitem(last=False)

    def _recent_failures(self, client: str) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        horizon = self._clock() - self._window_s
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures
