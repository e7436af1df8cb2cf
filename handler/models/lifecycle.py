"""A model created lazily, once, with a record that health can read without waiting.

The first caller that needs the model loads it (downloading its weights first when they are
configured to be fetched), concurrent callers wait on that one load (single flight), and a
failed load is retried after a back-off that doubles with each failure. Health reads the
LoadRecord at any moment: it never takes the load lock.
"""
from __future__ import annotations

import enum
import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Generic, TypeVar

log = logging.getLogger(__name__)

MAX_RETRY_S = 600.0

Model = TypeVar("Model")


class ModelLoadError(RuntimeError):
    """A model could not be obtained or built. Its message names what is wrong and never a
    path, so health and responses may show it as it is."""


class ModelState(str, enum.Enum):
    NOT_LOADED = "not_loaded"
    DOWNLOADING = "downloading"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class LoadRecord:
    """What health reports about a model. error never contains a path."""

    state: ModelState = ModelState.NOT_LOADED
    load_seconds: float | None = None
    error: str | None = None
    failures: int = 0
    retry_at: float | None = None  # clock() after which a failed load is retried


SetState = Callable[[ModelState], None]


class LazyModel(Generic[Model]):
    """Holds one model: `get()` returns it, loading it first when it is due.

    load(set_state) builds the model; it may report DOWNLOADING/LOADING through set_state and
    raise anything (ModelLoadError for failures whose words users may see). obtainable()
    says whether weights exist or can be fetched, without loading anything.
    """

    def __init__(self, name: str, load: Callable[[SetState], Model], *, obtainable: Callable[[], bool],
                 retry_s: float, clock: Callable[[], float] = time.monotonic):
        self.name = name
        self._load_model = load
        self._obtainable = obtainable
        self._retry_s = retry_s
        self._clock = clock
        self._record = LoadRecord()
        self._lock = threading.Lock()
        self._model: Model | None = None

    @property
    def record(self) -> LoadRecord:
        if self._record.state is ModelState.NOT_LOADED and not self._obtainable():
            return replace(self._record, state=ModelState.UNAVAILABLE)
        return self._record

    @property
    def obtainable(self) -> bool:
        return self._obtainable()

    @property
    def failed(self) -> bool:
        return self._record.state is ModelState.FAILED

    def get(self) -> Model | None:
        """The model, loading it now if due; None while a failed load backs off."""
        if self._model is not None:
            return self._model
        with self._lock:  # single flight: later callers wait here, then see the result
            if self._model is None and self._load_due():
                self._load()
            return self._model

    def start_background_load(self) -> threading.Thread:
        thread = threading.Thread(target=self.get, name=f"{self.name}-load", daemon=True)
        thread.start()
        return thread

    def warm_up(self) -> None:
        """Start loading in the background unless the model is loaded, loading or failed."""
        if (self._model is None and self._record.state is ModelState.NOT_LOADED and self._obtainable()
                and not self._lock.locked()):
            self.start_background_load()

    def retry_after_s(self) -> int:
        """Whole seconds until a failed load is tried again (at least 1)."""
        return max(1, round((self._record.retry_at or self._clock()) - self._clock()))

    def _load_due(self) -> bool:
        retry_at = self._record.retry_at
        return retry_at is None or self._clock() >= retry_at

    def _load(self) -> None:
        started = self._clock()
        self._record = replace(self._record, state=ModelState.LOADING, error=None, retry_at=None)
        try:
            model = self._load_model(self._set_state)
        except Exception as error:  # any failure is reported and retried, never raised to users
            self._record_failure(error)
            return
        self._model = model
        seconds = round(self._clock() - started, 3)
        self._record = LoadRecord(state=ModelState.READY, load_seconds=seconds)
        log.info("model ready", extra={"fields": {"model": self.name, "load_seconds": seconds}})

    def _record_failure(self, error: Exception) -> None:
        failures = self._record.failures + 1
        delay = min(MAX_RETRY_S, self._retry_s * 2 ** (failures - 1))
        message = describe_load_error(error)
        self._record = LoadRecord(state=ModelState.FAILED, error=message, failures=failures,
                                  retry_at=self._clock() + delay)
        log.error("model load failed", extra={"fields": {"model": self.name, "error": message,
                                                         "retry_in_s": delay}})

    def _set_state(self, state: ModelState) -> None:
        self._record = replace(self._record, state=state)


def describe_load_error(error: Exception) -> str:
    """A message for users and health: the error's own words for the errors raised on purpose
    (they never name paths), only the kind of failure for anything else."""
    if isinstance(error, ModelLoadError):
        return str(error)
    if isinstance(error, MemoryError):
        return "not enough memory to load the model"
    return f"unexpected {type(error).__name__} while loading the model"


def log_download_progress(name: str) -> Callable[[int, int | None], None]:
    """A progress callback for a weights download that logs at most every 2 s."""
    last_logged = [0.0]

    def report(done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last_logged[0] >= 2 or (total and done >= total):
            last_logged[0] = now
            log.info("downloading model", extra={"fields": {"model": name, "bytes": done, "total_bytes": total}})

    return report
