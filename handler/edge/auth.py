"""The shared secret: who may upload and process, and how failed guesses are slowed down."""
from __future__ import annotations

import hashlib
import hmac
import math
import time
from typing import Callable

from ..errors import BadRequest, ServiceUnavailable, TooManyAttempts, Unauthorized
from ..storage.failures import FailureLog

_WRONG_SECRET = "missing or wrong password: send it as 'Authorization: Bearer <password>' or 'X-App-Password'"
_QUERY_NAMES = ("password", "app_password", "secret", "key", "token")


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


def client_address(remote_addr: str | None, forwarded_for: str | None, *, trusted_hops: int) -> str:
    """The caller's address as the nearest trusted proxy saw it.

    trusted_hops 0: the connection's own address (X-Forwarded-For is the client's to write).
    trusted_hops N: the N-th X-Forwarded-For entry from the right: each trusted proxy appends
    the address it received the request from, so the entries to the left of those are
    whatever the client sent and cannot be believed.
    """
    entries = [entry.strip() for entry in (forwarded_for or "").split(",") if entry.strip()]
    if trusted_hops > 0 and len(entries) >= trusted_hops:
        return entries[-trusted_hops]
    return remote_addr or "unknown"


def _as_sent(presented: str) -> str:
    """A header value as the client wrote it: WSGI decodes header bytes as Latin-1, clients
    send UTF-8, so a non-ASCII password arrives garbled unless re-read."""
    try:
        return presented.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return presented


def secrets_match(presented: str | None, expected: str) -> bool:
    """Constant-time comparison that accepts any string, of any length or alphabet."""
    presented_digest = hashlib.sha256((presented or "").encode("utf-8", "surrogatepass")).digest()
    expected_digest = hashlib.sha256(expected.encode("utf-8")).digest()
    return hmac.compare_digest(presented_digest, expected_digest) and bool(presented)


class AuthGate:
    """Checks the shared secret and throttles addresses that keep guessing wrong.

    Each address may fail `max_failures` times within `window_s` seconds; past that its wrong
    guesses get 429 (not 401) until the oldest failure leaves the window, and are not counted
    again. The right password is always let in: the throttle is there to slow guessing, and
    must never lock the owner out because someone behind the same address mistyped. Failures
    are kept in a FailureLog outside the process, so recycling a worker resets nothing.
    """

    def __init__(self, password: str | None, failures: FailureLog, *, max_failures: int, window_s: float,
                 clock: Callable[[], float] = time.time):
        self._password = password
        self._failures = failures
        self._max_failures = max_failures
        self._window_s = window_s
        self._clock = clock

    @property
    def configured(self) -> bool:
        return bool(self._password)

    def require(self, presented: str | None, client: str) -> None:
        """Raise unless `presented` is the password."""
        if not self._password:
            raise ServiceUnavailable("the function has no password yet: set the APP_PASSWORD environment "
                                     "variable and redeploy", code="auth_not_configured")
        if presented is not None and secrets_match(_as_sent(presented), self._password):
            return
        now = self._clock()
        recent = self._failures.recent(client, now - self._window_s)
        if len(recent) >= self._max_failures:
            retry_after = max(1, math.ceil(recent[-self._max_failures] + self._window_s - now))
            raise TooManyAttempts(f"too many wrong passwords from your address: wait {retry_after} s",
                                  headers={"Retry-After": str(retry_after)})
        self._failures.add(client, now, now - self._window_s, self._max_failures)
        raise Unauthorized(_WRONG_SECRET)
