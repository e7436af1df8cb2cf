"""The local upload store: one file per item under TEMP_DIR (in a container, /dev/shm)."""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import struct
import time
from pathlib import Path

from ..errors import InsufficientStorage, ServiceUnavailable
from .store import StoredItem

_KEY_PATTERN = re.compile(r"^[0-9a-f]{32}(?:_[0-9a-f]{16})?$")
_MAGIC = b"DRSY1"
_SUFFIX = ".item"
_PARTIAL_SUFFIX = ".partial"
# A partial file still being written is young; one older than this was left by a crash.
_PARTIAL_GRACE_S = 600


class FileStore:
    """One file per item, named by its key; its mtime is its expiry time.

    Files are written aside with mode 0600 and renamed into place, so a crash never leaves
    a half-written item under a valid name. Readers read a whole file at once, so removing
    it meanwhile (expiry, eviction) never breaks a request that already holds it.
    """

    def __init__(self, directory: Path, max_bytes: int):
        self.directory = directory
        self.max_bytes = max_bytes

    def put(self, key: str, kind: str, payload: bytes, meta: dict, expires_at: float) -> None:
        header = json.dumps({"kind": kind, "meta": meta, "length": len(payload)}).encode()
        blob = _MAGIC + struct.pack(">I", len(header)) + header + payload
        if len(blob) > self.max_bytes:
            raise InsufficientStorage("this upload is larger than the whole store (MAX_STORE_MB); "
                                      "send a smaller image")
        self._ensure_directory()
        self.purge_expired()
        self._make_room(len(blob))
        self._write_atomically(self._path(key), blob, expires_at)

    def get(self, key: str) -> StoredItem | None:
        path = self._path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        item = _parse_item(key, blob)
        if item is None:  # damaged on disk, or not ours: unusable, so treat it as gone
            with contextlib.suppress(ServiceUnavailable):
                _unlink(path)
        else:
            _mark_used(path)
        return item

    def contains(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> int:
        self._path(key)
        removed = 0
        for path in self.directory.glob(f"{key}*{_SUFFIX}"):
            removed += _unlink(path)
        return removed

    def purge_expired(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        return sum(_unlink(entry.path) for entry, stat in self._entries(include_partial=True)
                   if stat.st_mtime <= (now - _PARTIAL_GRACE_S if _is_partial(entry.name) else now))

    def used_bytes(self) -> int:
        return sum(stat.st_size for _, stat in self._entries(include_partial=True))

    def is_writable(self) -> bool:
        try:
            self._ensure_directory()
        except ServiceUnavailable:
            return False
        return os.access(self.directory, os.W_OK | os.X_OK)

    def _make_room(self, needed: int) -> None:
        # ctime is when the item was put or last read (rename and utime set it), to the
        # nanosecond: the least recently used go first (a product used for every replace stays).
        entries = sorted(self._entries(include_partial=False), key=lambda item: item[1].st_ctime_ns)
        used = sum(stat.st_size for _, stat in entries)
        for entry, stat in entries:
            if used + needed <= self.max_bytes:
                break
            _unlink(entry.path)
            used -= stat.st_size

    def _write_atomically(self, path: Path, blob: bytes, expires_at: float) -> None:
        partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}{_PARTIAL_SUFFIX}")
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(blob)
                out.flush()
                os.fsync(out.fileno())
            os.utime(partial, (expires_at, expires_at))
            os.replace(partial, path)
        except OSError as error:
            with contextlib.suppress(OSError):  # on a read-only file system this fails too
                partial.unlink(missing_ok=True)
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise InsufficientStorage("the server's upload storage is full; try again later") from None
            raise _unavailable() from None

    def _entries(self, *, include_partial: bool):
        try:
            scanner = os.scandir(self.directory)
        except OSError:
            return []
        with scanner:
            entries = []
            for entry in scanner:
                if not entry.name.endswith((_SUFFIX, _PARTIAL_SUFFIX)):
                    continue
                if _is_partial(entry.name) and not include_partial:
                    continue
                try:
                    entries.append((entry, entry.stat()))
                except FileNotFoundError:
                    continue
            return entries

    def _ensure_directory(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            raise _unavailable() from None

    def _path(self, key: str) -> Path:
        if not _KEY_PATTERN.fullmatch(key):
            raise ValueError("not a store key")
        return self.directory / f"{key}{_SUFFIX}"


def _parse_item(key: str, blob: bytes) -> StoredItem | None:
    start = len(_MAGIC) + 4
    if not blob.startswith(_MAGIC) or len(blob) < start:
        return None
    (header_length,) = struct.unpack(">I", blob[len(_MAGIC):start])
    try:
        header = json.loads(blob[start:start + header_length])
        payload = blob[start + header_length:]
        if len(payload) != header["length"]:
            return None
        return StoredItem(key=key, kind=header["kind"], meta=header["meta"], payload=payload)
    except (ValueError, KeyError, TypeError):
        return None


def _mark_used(path: Path) -> None:
    """Touch an item's ctime (its last use) without changing its mtime (its expiry)."""
    try:
        os.utime(path, ns=(time.time_ns(), path.stat().st_mtime_ns))
    except OSError:  # gone meanwhile, or a read-only store: it was read all the same
        pass


def _unlink(path: str | Path) -> int:
    try:
        os.unlink(path)
        return 1
    except FileNotFoundError:
        return 0
    except OSError:  # a read-only or vanished TEMP_DIR
        raise _unavailable() from None


def _is_partial(name: str) -> bool:
    return name.endswith(_PARTIAL_SUFFIX)


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("the server cannot store uploads right now: try again later", code="storage_unavailable",
                              details={"reason": "TEMP_DIR is not writable"})
