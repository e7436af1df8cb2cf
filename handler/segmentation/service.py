"""Which segmenter serves a request, and the MobileSAM model's lifecycle.

The model is created lazily: the first request that needs it loads it (downloading the
checkpoint first when MODEL_URL is set and the file is missing), concurrent requests wait
on that one load, and health reads the LoadRecord without ever waiting on it.
"""
from __future__ import annotations

import enum
import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable

from ..config import Config
from ..errors import ModelLoadError, ServiceUnavailable
from ..system import drop_library_page_cache
from .base import Segmenter
from .grabcut import GrabCutSegmenter
from .mobilesam import EmbeddingCache, MobileSamSegmenter

log = logging.getLogger(__name__)

_MAX_RETRY_S = 600.0


class ModelState(str, enum.Enum):
    NOT_LOADED = "not_loaded"
    DOWNLOADING = "downloading"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class LoadRecord:
    """What health reports about the model. error never contains a path."""

    state: ModelState = ModelState.NOT_LOADED
    load_seconds: float | None = None
    error: str | None = None
    failures: int = 0
    retry_at: float | None = None  # time.monotonic() after which a failed load is retried


@dataclass(frozen=True)
class Choice:
    """The segmenter that serves a request, and why the preferred one did not, if it did not."""

    segmenter: Segmenter
    fallback_reason: str | None = None


class SegmentationService:
    def __init__(self, config: Config, *, load_predictor: Callable[[Config, Callable], object] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._config = config
        self._load_predictor = load_predictor or load_predictor_from_checkpoint
        self._clock = clock
        self._record = LoadRecord()
        self._lock = threading.Lock()
        self._model_segmenter: MobileSamSegmenter | None = None
        self.embedding_cache = EmbeddingCache(config.embedding_cache_size)
        self.grabcut = GrabCutSegmenter()

    @property
    def record(self) -> LoadRecord:
        if self._record.state is ModelState.NOT_LOADED and not self._weights_obtainable():
            return replace(self._record, state=ModelState.UNAVAILABLE)
        return self._record

    @property
    def wants_model(self) -> bool:
        return self._config.segmenter == "mobilesam" or (
            self._config.segmenter == "auto" and self._weights_obtainable())

    def expected_segmenter(self) -> str:
        """The segmenter a request would get now, without loading anything."""
        if not self.wants_model:
            return self.grabcut.name
        if self._record.state is ModelState.FAILED and self._config.segmenter == "auto":
            return self.grabcut.name
        return MobileSamSegmenter.name

    def choose(self) -> Choice:
        """The segmenter for a request, loading the model first if it is needed and due."""
        if not self.wants_model:
            if self._config.segmenter == "mobilesam":
                raise ServiceUnavailable("SEGMENTER=mobilesam but no model weights are present: set "
                                         "MODEL_PATH to a checkpoint or MODEL_URL to download one",
                                         code="model_unavailable")
            return Choice(self.grabcut)
        model = self.ensure_loaded()
        if model is not None:
            return Choice(model)
        reason = f"the model is not available ({self._record.error}); served by the offline segmenter"
        if self._config.segmenter == "auto":
            return Choice(self.grabcut, fallback_reason=reason)
        retry_after = max(1, round((self._record.retry_at or self._clock()) - self._clock()))
        raise ServiceUnavailable(f"the segmentation model could not be loaded: {self._record.error}",
                                 code="model_failed", headers={"Retry-After": str(retry_after)})

    def ensure_loaded(self) -> MobileSamSegmenter | None:
        """The loaded model segmenter, loading it now if due; None while a failed load backs off."""
        if self._model_segmenter is not None:
            return self._model_segmenter
        with self._lock:  # single flight: later callers wait here, then see the result
            if self._model_segmenter is None and self._load_due():
                self._load()
            return self._model_segmenter

    def start_preload(self) -> threading.Thread:
        thread = threading.Thread(target=self.ensure_loaded, name="model-preload", daemon=True)
        thread.start()
        return thread

    def warm_up(self) -> None:
        """Start loading the model in the background if it will be needed and is not under way.

        Called when a scene is uploaded: its mask request usually follows within seconds, so
        the load overlaps with the person drawing their box.
        """
        if (self.wants_model and self._model_segmenter is None and self._record.state is ModelState.NOT_LOADED
                and not self._lock.locked()):
            self.start_preload()

    def forget_image(self, image_key: str) -> None:
        self.embedding_cache.discard(image_key)

    def _load_due(self) -> bool:
        retry_at = self._record.retry_at
        return retry_at is None or self._clock() >= retry_at

    def _load(self) -> None:
        started = self._clock()
        self._record = replace(self._record, state=ModelState.LOADING, error=None, retry_at=None)
        try:
            predictor = self._load_predictor(self._config, self._set_state)
        except Exception as error:  # any failure is reported and retried, never raised to users
            self._record_failure(error)
            return
        self._model_segmenter = MobileSamSegmenter(predictor, self.embedding_cache)
        seconds = round(self._clock() - started, 3)
        self._record = LoadRecord(state=ModelState.READY, load_seconds=seconds)
        log.info("model ready", extra={"fields": {"load_seconds": seconds}})

    def _record_failure(self, error: Exception) -> None:
        failures = self._record.failures + 1
        delay = min(_MAX_RETRY_S, self._config.model_retry_s * 2 ** (failures - 1))
        message = describe_load_error(error)
        self._record = LoadRecord(state=ModelState.FAILED, error=message, failures=failures,
                                  retry_at=self._clock() + delay)
        log.error("model load failed", extra={"fields": {"error": message, "retry_in_s": delay}})

    def _set_state(self, state: ModelState) -> None:
        self._record = replace(self._record, state=state)

    def _weights_obtainable(self) -> bool:
        return self._config.checkpoint_path.is_file() or bool(self._config.model_url)


def describe_load_error(error: Exception) -> str:
    """A message for users and health: the error's own words for the errors we raise on
    purpose (they never name paths), only the kind of failure for anything else."""
    if isinstance(error, ModelLoadError):
        return str(error)
    if isinstance(error, MemoryError):
        return "not enough memory to load the model"
    return f"unexpected {type(error).__name__} while loading the model"


def load_predictor_from_checkpoint(config: Config, set_state: Callable[[ModelState], None]):
    """Download the checkpoint if needed, then build the MobileSAM predictor (imports torch)."""
    path = config.checkpoint_path
    if not path.is_file() and config.model_url:
        from .weights import fetch_checkpoint

        set_state(ModelState.DOWNLOADING)
        fetch_checkpoint(config.model_url, path, sha256=config.model_sha256,
                         on_progress=_log_download_progress())
        set_state(ModelState.LOADING)
    import torch

    from ..sam.checkpoint import load_mobile_sam
    from ..sam.predictor import SamPredictor

    torch.set_num_threads(config.torch_threads)
    predictor = SamPredictor(load_mobile_sam(path))
    drop_library_page_cache()
    return predictor


def _log_download_progress() -> Callable[[int, int | None], None]:
    last_logged = [0.0]

    def report(done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last_logged[0] >= 2 or (total and done >= total):
            last_logged[0] = now
            log.info("downloading model", extra={"fields": {"bytes": done, "total_bytes": total}})

    return report
