"""Admission control: heavy work (decoding uploads, segmenting, compositing) runs a few jobs
at a time, so that a burst of requests queues briefly or is turned away with Retry-After
instead of growing memory past the container's limit. Health is never admitted through here.
"""
from __future__ import annotations

import contextlib
import math
import threading

from ..errors import ServiceUnavailable
from .allocator import heap_for_small_blocks, release_freed_memory


class Admission:
    """max_jobs run at once; at most max_waiting more wait (up to queue_timeout_s) for a slot,
    the rest are turned away at once, so that waiting jobs never hold every request thread."""

    def __init__(self, max_jobs: int, max_waiting: int, queue_timeout_s: float):
        self._slots = threading.BoundedSemaphore(max_jobs)
        self._max_waiting = max_waiting
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
        admitted = self._slots.acquire(blocking=False)
        if not admitted:
            with self._lock:
                queue_full = self.waiting >= self._max_waiting
                if not queue_full:
                    self.waiting += 1
            if queue_full:
                raise self._busy()
            try:
                admitted = self._slots.acquire(timeout=self._queue_timeout_s)
            finally:
                with self._lock:
                    self.waiting -= 1
        if not admitted:
            raise self._busy()
        with self._lock:
            self.running += 1
        try:
            # A job's mid-sized blocks (row bands of the encoder, the inpainting network and
            # the compositing) are reused from the heap, not mapped and faulted in anew: encode
            # 1.65 -> 1.12 s, a 24 MP composite 1.0 -> 0.6 s, peak +4-10 MB. Trimmed when it ends.
            with heap_for_small_blocks():
                yield
        finally:
            with self._lock:
                self.running -= 1
            release_freed_memory()
            self._slots.release()

    def _busy(self) -> ServiceUnavailable:
        retry_after = max(1, math.ceil(self._queue_timeout_s / 2))
        return ServiceUnavailable("the server is busy with other images: try again shortly",
                                  code="busy", headers={"Retry-After": str(retry_after)})
