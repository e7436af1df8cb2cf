"""Admission control: heavy work (decoding uploads, segmenting, compositing) runs a few jobs
at a time, so that a burst of requests queues briefly or is turned away with Retry-After
instead of growing memory past the container's limit. Health is never admitted through here.
"""
from __future__ import annotations

import contextlib
import math
import threading

from ..errors import ServiceUnavailable
from ..platform.allocator import release_freed_memory


class Admission:
    def __init__(self, max_jobs: int, queue_timeout_s: float):
        self._slots = threading.BoundedSemaphore(max_jobs)
        self._queue_timeout_s = queue_timeout_s
        self._lock = threading.Lock()
        self.running = 0
        self.waiting = 0

    def counts(self) -> dict[str, int]:
        """Jobs holding a slot and jobs waiting for one, now."""
        with self._lock:
            return {"running": self.running, "waiting": self.waiting}

    @contextlib.contextmanager
    def job(self):
        """Hold one job slot for the duration of the block, waiting at most queue_timeout_s."""
        with self._lock:
            self.waiting += 1
        try:
            admitted = self._slots.acquire(timeout=self._queue_timeout_s)
        finally:
            with self._lock:
                self.waiting -= 1
        if not admitted:
            retry_after = max(1, math.ceil(self._queue_timeout_s / 2))
            raise ServiceUnavailable("the server is busy with other images: try again shortly",
                                     code="busy", headers={"Retry-After": str(retry_after)})
        with self._lock:
            self.running += 1
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1
            release_freed_memory()
            self._slots.release()
