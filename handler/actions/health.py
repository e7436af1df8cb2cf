"""The health report: can this instance serve, with what, and how much room it has.

Health never waits on the model or on heavy work: it only reads recorded state and a few
small files, so it answers while a load or a request is in progress.
"""
from __future__ import annotations

import time

from .. import __version__
from ..models.lifecycle import LoadRecord, ModelState
from ..platform import resources
from ..platform.runtime import Runtime

_GIB = 1024 ** 3
_MIB = 1024 ** 2
_STORE_NEARLY_FULL = 0.9
_DISK_FULL_BYTES = 1024 * 1024


def health_report(runtime: Runtime) -> tuple[dict, int]:
    """The report and its HTTP status: 200 when healthy or degraded, 503 when unhealthy."""
    config = runtime.config
    record = runtime.segmentation.record
    store = runtime.records.store
    # A shared store (Redis, STORE_URL) reports itself: reachable, its memory, advice on its
    # settings; TEMP_DIR then holds nothing of the store's.
    shared = store.check() if config.store_url else None
    writable = shared.reachable if shared else store.is_writable()
    store_used = shared.used_bytes if shared else store.used_bytes()
    disk_free = resources.disk_free_bytes(config.temp_dir)
    problems, warnings = [], []
    if shared:
        problems += shared.problems
        warnings += shared.warnings
    elif not writable:
        problems.append("TEMP_DIR is not writable: uploads cannot be stored")
    elif disk_free < _DISK_FULL_BYTES:
        problems.append("the file system holding TEMP_DIR is full: uploads cannot be stored")
    elif disk_free < config.max_upload_bytes:
        warnings.append("the file system holding TEMP_DIR has less room than one upload may take")
    if config.segmenter == "mobilesam" and record.state in (ModelState.UNAVAILABLE, ModelState.FAILED):
        problems.append("SEGMENTER=mobilesam but the model has no usable weights")
    if not config.app_password:
        warnings.append("APP_PASSWORD is not set: upload and process are refused until it is")
    if config.segmenter == "auto" and record.state is ModelState.FAILED:
        warnings.append("the model failed to load; the offline segmenter serves meanwhile")
    if runtime.inpainting.problem:
        warnings.append(runtime.inpainting.problem)
    if not shared and store_used > _STORE_NEARLY_FULL * config.max_store_bytes:
        warnings.append("the upload store is nearly full; the oldest uploads are evicted first")
    status = "unhealthy" if problems else "degraded" if warnings else "healthy"
    report = {
        "status": status,
        "reasons": problems + warnings,
        "auth_configured": bool(config.app_password),
        "model_loaded": record.state is ModelState.READY,
        "model": _model_report(record, segmenter=runtime.segmentation.expected_segmenter()),
        "models": {
            "segmenter": _model_report(record, segmenter=runtime.segmentation.expected_segmenter()),
            "inpainter": _model_report(runtime.inpainting.record,
                                       inpainter=runtime.inpainting.expected_inpainter()),
        },
        "system": _system_report(writable, store_used, disk_free) | {"store": "redis" if shared else "file"},
        "jobs": runtime.admission.counts(),
        "uptime_s": round(time.monotonic() - runtime.started_at, 1),
        "invocations": runtime.invocations,
        "version": __version__,
    }
    return report, 503 if problems else 200


def _model_report(record: LoadRecord, **serving: str) -> dict:
    """A model's load state, and what serves in its place's name (segmenter or inpainter)."""
    return {"state": record.state.value, **serving, "load_seconds": record.load_seconds, "error": record.error}


def _system_report(writable: bool, store_used: int, disk_free: int) -> dict:
    memory = resources.memory_usage()
    return {
        "memory_total_gb": round(memory.total_bytes / _GIB, 3),
        "memory_available_gb": round(memory.available_bytes / _GIB, 3),
        "memory_used_gb": round(memory.used_bytes / _GIB, 3),
        "memory_source": memory.source,
        "rss_mb": round(resources.process_rss_bytes() / _MIB, 1),
        "cpu_count": resources.effective_cpu_count(),
        "temp_dir_writable": writable,
        "store_used_mb": round(store_used / _MIB, 2),
        "disk_free_gb": round(disk_free / _GIB, 2),
    }
