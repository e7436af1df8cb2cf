"""Wrong-password attempts per client address, kept outside the worker process.

The throttle's counters must survive a worker being recycled (gunicorn replaces it every
MAX_REQUESTS requests) and be shared by every worker: a counter in process memory would let
a guesser start afresh each time. `FileFailureLog` keeps one small file per address beside
the upload store; a shared store (Redis) implements the same two methods.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import Protocol

# Every this many recorded failures, files of addresses quiet for a whole window are removed.
_SWEEP_EVERY = 256


class FailureLog(Protocol):
    def recent(self, client: str, since: float) -> list[float]:
        """Times (unix seconds, oldest first) of the client's failures after `since`."""

    def add(self, client: str, at: float, since: float, keep: int) -> None:
        """Record a failure at `at`; keep at most the `keep` newest ones after `since`."""


class FileFailureLog:
    """One file per client address (named by a hash of it), each a list of failure times.

    Files are locked while read and rewritten, so concurrent workers never lose a failure.
    """

    def __init__(self, directory: Path):
        self.directory = directory
        self._added = 0

    def recent(self, client: str, since: float) -> list[float]:
        try:
            with open(self._path(client), "rb") as log:
                fcntl.flock(log, fcntl.LOCK_SH)
                return _parse(log.read(), since)
        except OSError:  # none recorded yet, or the directory is unusable: nothing to hold against
            return []

    def add(self, client: str, at: float, since: float, keep: int) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(self._path(client), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return
        with os.fdopen(descriptor, "r+b") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            times = (_parse(log.read(), since) + [at])[-keep:]
            log.seek(0)
            log.truncate()
            log.write("\n".join(f"{t:.3f}" for t in times).encode())
        self._added += 1
        if self._added % _SWEEP_EVERY == 0:
            self._sweep(since)

    def _sweep(self, since: float) -> None:
        """Remove the files of addresses with no failure after `since`."""
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return
        for entry in entries:
            try:
                if entry.stat().st_mtime < since:
                    os.unlink(entry.path)
            except OSError:
                continue

    def _path(self, client: str) -> Path:
        return self.directory / hashlib.sha256(client.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _parse(data: bytes, since: float) -> list[float]:
    times = []
    for line in data.split(b"\n"):
        try:
            value = float(line)
        except ValueError:
            continue
        if value > since:
            times.append(value)
    return sorted(times)
