"""What actions answer besides JSON objects, and how long their stages took."""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Base64:
    """Bytes a JSON answer carries as a base64 string. The edge writes it piece by piece as the
    answer is sent, so a 40 MB result never exists as a 53 MB string (let alone two)."""

    data: bytes


@dataclass(frozen=True)
class RawImage:
    """Encoded image bytes answered as they are, with their content type and facts as headers."""

    data: bytes
    content_type: str
    headers: dict


class Stopwatch:
    """Milliseconds per named stage of a request; a stage entered twice adds up."""

    def __init__(self):
        self._started = time.perf_counter()
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.record(name, (time.perf_counter() - started) * 1000)

    def record(self, name: str, ms: float) -> None:
        self.timings[name] = round(self.timings.get(name, 0.0) + ms, 1)

    def total(self) -> dict[str, float]:
        return {**self.timings, "total": round((time.perf_counter() - self._started) * 1000, 1)}
