"""Signed ids for stored uploads and masks.

An id is `<kind>.<key>.<expiry>.<signature>`: the store key, its expiry (unix seconds,
base 36) and an HMAC-SHA256 over both, so ids cannot be guessed, forged or extended, and
an expired id is told apart from an unknown one without a lookup.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import InvalidId, WrongKind

log = logging.getLogger(__name__)

KIND_PREFIXES = {"scene": "scn", "product": "prd", "mask": "msk"}
_KIND_BY_PREFIX = {prefix: kind for kind, prefix in KIND_PREFIXES.items()}
_ID_PATTERN = re.compile(r"(scn|prd|msk)\.([0-9a-f]{32}(?:_[0-9a-f]{16})?)\.([0-9a-z]{1,12})\.([A-Za-z0-9_-]{22})")
KEY_FILENAME = ".signing_key"


@dataclass(frozen=True)
class ObjectId:
    kind: str
    key: str
    expires_at: int


def new_key() -> str:
    """A fresh random store key for an upload."""
    return secrets.token_hex(16)


def new_child_key(parent_key: str) -> str:
    """A store key for something derived from an upload (a mask), tied to its parent."""
    return f"{parent_key}_{secrets.token_hex(8)}"


class IdSigner:
    """key: the HMAC key, or a callable `key(fresh)` giving it, for a key shared through Redis.
    Such a key is asked for fresh (agreed with Redis) for every id issued, and again when an id
    does not verify with the key held: instances that share it never sign with a stale one,
    and an unreachable Redis is a 503 for the request, never a function that cannot start."""

    def __init__(self, key: bytes | Callable[[bool], bytes]):
        self._key = key

    def issue(self, object_id: ObjectId) -> str:
        body = f"{KIND_PREFIXES[object_id.kind]}.{object_id.key}.{_base36(object_id.expires_at)}"
        return f"{body}.{self._signature(body, self._current(fresh=True))}"

    def parse(self, token: object, *, kind: str, field: str) -> ObjectId:
        """The ObjectId a token names, if it is well formed, authentic and of `kind`."""
        match = _ID_PATTERN.fullmatch(token) if isinstance(token, str) and len(token) < 128 else None
        if match is None:
            raise InvalidId(f"{field} is not an id this service issued")
        prefix, key, expiry, signature = match.groups()
        body = f"{prefix}.{key}.{expiry}"
        if not self._verifies(body, signature):
            raise InvalidId(f"{field} is not an id this service issued")
        if _KIND_BY_PREFIX[prefix] != kind:
            raise WrongKind(f"{field} names a {_KIND_BY_PREFIX[prefix]}, but a {kind} is needed here")
        return ObjectId(kind=kind, key=key, expires_at=int(expiry, 36))

    def _verifies(self, body: str, signature: str) -> bool:
        held = self._current(fresh=False)
        if hmac.compare_digest(signature, self._signature(body, held)):
            return True
        if not callable(self._key):
            return False
        fresh = self._current(fresh=True)  # the shared key may have changed meanwhile
        return fresh != held and hmac.compare_digest(signature, self._signature(body, fresh))

    def _current(self, *, fresh: bool) -> bytes:
        return self._key(fresh) if callable(self._key) else self._key

    @staticmethod
    def _signature(body: str, key: bytes) -> str:
        digest = hmac.new(key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:22]


def signing_key(secret: str | None, temp_dir: Path) -> bytes:
    """The HMAC key: derived from SECRET_KEY, or generated once and kept in temp_dir.

    The generated key lives beside the store, so ids survive a worker restart for as long
    as the uploads they name do.
    """
    if secret:
        return key_from_secret(secret)
    path = temp_dir / KEY_FILENAME
    temp_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _publish_new_key(path)
    return path.read_bytes()


def key_from_secret(secret: str) -> bytes:
    """The HMAC key SECRET_KEY stands for (the same on every instance that shares it)."""
    return hashlib.sha256(secret.encode()).digest()


def _publish_new_key(path: Path) -> None:
    # Written aside and hard-linked into place, so that concurrent workers agree on one key
    # and none ever reads a half-written file.
    candidate = path.with_name(f"{path.name}.{secrets.token_hex(4)}")
    fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_bytes(32))
    try:
        os.link(candidate, path)
        log.warning("SECRET_KEY is not set: generated a signing key in TEMP_DIR; set SECRET_KEY "
                    "so that ids stay valid in a new container")
    except FileExistsError:
        pass
    finally:
        candidate.unlink()


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out
