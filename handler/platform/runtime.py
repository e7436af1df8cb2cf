"""The function's long-lived services, built from one Config.

Everything that outlives a request — the records in the upload store, the log of wrong
passwords, the segmentation and inpainting services with their models and caches, the job
slots — hangs off one
Runtime. The HTTP edge builds
it on the first request (never at import, so that `import main` stays light and a gunicorn
master never owns threads or a model).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from ..inpainting.service import InpaintingService
from ..segmentation.service import SegmentationService
from ..storage.failures import FailureLog, FileFailureLog
from ..storage.file_store import FileStore
from ..storage.ids import IdSigner, key_from_secret, signing_key
from ..storage.records import Records
from ..storage.store import UploadStore
from .admission import Admission
from .config import Config, ConfigError

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    config: Config
    records: Records
    failures: FailureLog
    segmentation: SegmentationService
    admission: Admission
    inpainting: InpaintingService
    started_at: float = field(default_factory=time.monotonic)
    invocations: int = 0
    _counter_lock: threading.Lock = field(default_factory=threading.Lock)

    def count_invocation(self) -> None:
        with self._counter_lock:
            self.invocations += 1

    @classmethod
    def from_config(cls, config: Config) -> "Runtime":
        store, failures, key = _storage(config)
        runtime = cls(
            config=config,
            records=Records(store, IdSigner(key), config.upload_ttl_s),
            failures=failures,
            segmentation=SegmentationService(config),
            admission=Admission(config.max_concurrent_jobs, config.max_queued_jobs, config.queue_timeout_s),
            inpainting=InpaintingService(config),
        )
        if config.model_preload and runtime.segmentation.wants_model:
            runtime.segmentation.model.start_background_load()
        if config.model_preload and runtime.inpainting.wants_model and runtime.inpainting.model.obtainable:
            runtime.inpainting.model.start_background_load()
        return runtime


def _storage(config: Config) -> tuple[UploadStore, FailureLog, bytes | Callable[[bool], bytes]]:
    """The upload store, the wrong-password log and the signing key: files under TEMP_DIR, or
    one Redis that every instance shares (STORE_URL), which then holds all three."""
    if not config.store_url:
        return (FileStore(config.store_dir, config.max_store_bytes), FileFailureLog(config.failures_dir),
                _signing_key_or_ephemeral(config))
    from ..storage.redis_shared import RedisFailureLog, SharedSigningKey
    from ..storage.redis_store import RedisConnection, RedisStore

    try:
        connection = RedisConnection(config.store_url, config.store_timeout_s)
    except ValueError:
        raise ConfigError("STORE_URL (or REDIS_URL) is not a valid Redis URL") from None
    key = key_from_secret(config.secret_key) if config.secret_key else SharedSigningKey(connection)
    return (RedisStore(connection, key_shared=not config.secret_key), RedisFailureLog(connection), key)


def _signing_key_or_ephemeral(config: Config) -> bytes:
    try:
        return signing_key(config.secret_key, config.temp_dir)
    except OSError:
        # TEMP_DIR is unusable: health reports it; ids from this key die with the process.
        log.error("cannot keep a signing key in TEMP_DIR; ids will not survive a restart")
        return os.urandom(32)
