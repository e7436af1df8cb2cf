"""The function's process-wide state, in one place.

Everything that outlives a request — configuration, the upload store, the id signer, the
auth throttle, the segmentation service with its model and caches — hangs off one Runtime,
created on the first request (never at import, so that `import main` stays light and a
gunicorn master never owns threads or a model).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

from .admission import Admission
from .auth import AuthGate
from .config import Config
from .ids import IdSigner, signing_key
from .segmentation.service import SegmentationService
from .store import FileStore, UploadStore

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    config: Config
    store: UploadStore
    signer: IdSigner
    auth: AuthGate
    segmentation: SegmentationService
    admission: Admission
    started_at: float = field(default_factory=time.monotonic)
    invocations: int = 0
    _counter_lock: threading.Lock = field(default_factory=threading.Lock)

    def count_invocation(self) -> None:
        with self._counter_lock:
            self.invocations += 1

    @classmethod
    def from_config(cls, config: Config) -> "Runtime":
        runtime = cls(
            config=config,
            store=FileStore(config.store_dir, config.max_store_bytes),
            signer=IdSigner(_signing_key_or_ephemeral(config)),
            auth=AuthGate(config.app_password, max_failures=config.auth_max_failures,
                          window_s=config.auth_window_s),
            segmentation=SegmentationService(config),
            admission=Admission(config.max_concurrent_jobs, config.queue_timeout_s),
        )
        if config.model_preload and runtime.segmentation.wants_model:
            runtime.segmentation.start_preload()
        return runtime


def _signing_key_or_ephemeral(config: Config) -> bytes:
    try:
        return signing_key(config.secret_key, config.temp_dir)
    except OSError:
        # TEMP_DIR is unusable: health reports it; ids from this key die with the process.
        log.error("cannot keep a signing key in TEMP_DIR; ids will not survive a restart")
        return os.urandom(32)


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        with _runtime_lock:
            if _runtime is None:
                _runtime = Runtime.from_config(Config.from_env())
    return _runtime


def reset_runtime() -> None:
    """Forget the runtime, so the next request reads the environment again (tests, forks)."""
    global _runtime
    with _runtime_lock:
        _runtime = None


# A runtime never crosses a fork: its locks and threads would not come along.
os.register_at_fork(after_in_child=lambda: globals().update(_runtime=None))
