"""MobileSAM behind the Segmenter interface, with the per-scene embedding cache."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict

import numpy as np

from .base import MaskLogits, Prompt, Segmentation


class EmbeddingCache:
    """A bounded LRU of image embeddings, keyed by stored-image key (0 entries = off).

    get_or_compute computes each key's embedding once: a request arriving while the same
    scene is being encoded (by the background precompute, or another request) waits for it.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._entries: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[str, threading.Lock] = {}

    def get_or_compute(self, key: str | None, compute) -> tuple[object, bool]:
        """(the embedding, whether it was cached) for `key`, computing it with compute() once."""
        if key is None or self.capacity == 0:
            return compute(), False
        with self._lock:
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:
            embedding = self.get(key)
            if embedding is not None:
                return embedding, True
            embedding = compute()
            self.put(key, embedding)
        with self._lock:
            self._computing.pop(key, None)
        return embedding, False

    def get(self, key: str | None):
        if key is None:
            return None
        with self._lock:
            embedding = self._entries.get(key)
            if embedding is not None:
                self._entries.move_to_end(key)
            return embedding

    def put(self, key: str | None, embedding) -> None:
        if key is None or self.capacity == 0:
            return
        with self._lock:
            self._entries[key] = embedding
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def discard(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class MobileSamSegmenter:
    """Encodes a scene once (cached by its store key) and decodes each prompt against it."""

    name = "mobilesam"

    def __init__(self, predictor, cache: EmbeddingCache):
        self._predictor = predictor
        self._cache = cache

    def segment(self, image: np.ndarray, prompt: Prompt, image_key: str | None = None) -> Segmentation:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        embedding, cache_hit = self.encode(image, image_key)
        if not cache_hit:
            timings["encode"] = _ms_since(started)
        started = time.perf_counter()
        prediction = self._predictor.predict(embedding, box=prompt.box, points=prompt.points,
                                             labels=prompt.labels)
        timings["segment"] = _ms_since(started)
        # The IoU head is a regression and can stray a little outside 0..1.
        score = min(1.0, max(0.0, float(prediction.score)))
        return Segmentation(mask=prediction.mask, score=score, segmenter=self.name, cache_hit=cache_hit,
                            timings_ms=timings, logits=MaskLogits(prediction.low_res_logits, embedding.input_size))

    def encode(self, image: np.ndarray, image_key: str | None) -> tuple[object, bool]:
        """The scene's embedding (from the cache when it is there) and whether it was cached."""
        return self._cache.get_or_compute(image_key, lambda: self._predictor.encode(image))


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
