"""How this process's memory allocator behaves: set once at start-up, trimmed after heavy work.

glibc's defaults suit long-lived servers with plenty of RAM, not a 512 MB container: every
thread that allocates under contention gets an arena of its own (up to 8 per core), and the
threshold above which large blocks are mmapped (and so returned to the OS on free) grows with
each large free, up to 32 MB. Under concurrent requests both keep tens of MB of freed numpy
buffers resident. The function sets the limits itself, so they hold however it is started
(functions-framework, gunicorn, local_invoke), not only under the Dockerfile's environment.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import logging
import threading

log = logging.getLogger(__name__)

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

ARENA_MAX = 2
# Image rows, masks and tensors above this size are mmapped: freed, they leave at once.
MMAP_THRESHOLD_BYTES = 256 * 1024
TRIM_THRESHOLD_BYTES = 1024 * 1024
# Within heap_for_small_blocks: blocks up to this size come from the heap and stay there.
SMALL_BLOCK_BYTES = 8 * 1024 * 1024

_configured = False
_scopes = 0
_scopes_lock = threading.Lock()


def configure_allocator() -> bool:
    """Cap the arenas and fix the mmap and trim thresholds; returns whether glibc took them.

    Idempotent. Setting the mmap threshold explicitly also turns off glibc's dynamic
    adjustment of it, which is what lets freed large buffers stay resident.
    """
    global _configured
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    applied = all(mallopt(parameter, value) == 1 for parameter, value in (
        (_M_ARENA_MAX, ARENA_MAX), (_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
        (_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)))
    if not applied:
        log.warning("the allocator refused a memory setting; memory may run higher under load")
    _configured = _configured or applied
    return applied


@contextlib.contextmanager
def heap_for_small_blocks(limit_bytes: int = SMALL_BLOCK_BYTES):
    """Within the block, allocations up to limit_bytes stay on the heap when freed, and are
    reused; afterwards the process's settings are back and freed memory is returned.

    Every heavy job runs in it (admission.Admission.job): the networks and the compositing
    are made of thousands of short-lived blocks just above MMAP_THRESHOLD_BYTES (row bands of
    ~0.5 MB); mmapped, each would be mapped, faulted in page by page and unmapped again
    (~600 000 page faults, a third of the inpainting network's time, per forward).
    The heap holds at most what the work holds live at once. A no-op unless
    configure_allocator took effect (glibc's own adaptive threshold already reuses such
    blocks). Nested and concurrent scopes share the setting until the last one ends.
    """
    global _scopes
    mallopt = _libc_function("mallopt")
    if not _configured or mallopt is None:
        yield
        return
    with _scopes_lock:
        _scopes += 1
        if _scopes == 1:
            mallopt(_M_MMAP_THRESHOLD, limit_bytes)
            mallopt(_M_TRIM_THRESHOLD, 4 * limit_bytes)
    try:
        yield
    finally:
        with _scopes_lock:
            _scopes -= 1
            if _scopes == 0:
                mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
                mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
                release_freed_memory()


def release_freed_memory() -> None:
    """Give memory that heavy work freed back to the OS (glibc's malloc_trim).

    glibc keeps freed blocks in per-thread arenas; after an encoder pass that is tens of MB,
    held by whichever request thread ran it, so the next request on another thread would
    add its own. Trimming after each heavy job keeps RSS near its warm baseline.
    """
    trim = _libc_function("malloc_trim")
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=None)
def _libc_function(name: str):
    """A glibc function by name, or None on a C library without it (musl, macOS)."""
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None
