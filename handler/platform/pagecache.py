"""Page cache that a memory cgroup is charged for, and dropping what the process does not use.

A memory cgroup is charged for the file pages its processes read first: in a fresh container
that includes every shared library imported and the model checkpoints read, most of it never
mapped again. These functions let the kernel forget such pages (best effort, never raising).
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from .resources import charged_file_cache_bytes

log = logging.getLogger(__name__)

# Wheels bundle their own shared libraries in a sibling folder (auditwheel's "<dist>.libs").
_BUNDLED_LIBRARIES = {"cv2": "opencv_python*.libs", "PIL": "pillow.libs"}
LIBRARY_MODULES = ("cv2", "numpy", "PIL", "torch")
CHARGED_CACHE_THRESHOLD = 64 * 1024 * 1024


def drop_library_page_cache(modules: tuple[str, ...] = LIBRARY_MODULES,
                            threshold_bytes: int = CHARGED_CACHE_THRESHOLD) -> bool:
    """Drop the page cache of these (imported) modules' shared libraries when this container
    pays for it; returns whether it did.

    A memory cgroup is charged for the file pages its processes read first. In a fresh
    container, importing OpenCV reads ~150 MB of shared objects and torch ~275 MB, most of it
    readahead that is never mapped: dropped, it no longer counts against the limit (pages
    still mapped are kept by the kernel). Where the libraries were read before by another
    cgroup (a warm host), dropping would only make this one pay to read them again, so the
    drop happens only when the container's own file cache is large.
    """
    charged = charged_file_cache_bytes()
    if charged is None or charged < threshold_bytes:
        return False
    for folder in _library_folders(modules):
        for path in (*folder.glob("*.so*"), *folder.glob("*/*.so*")):
            drop_file_cache(path)
    log.info("dropped the page cache of shared libraries", extra={"fields": {
        "charged_mb_before": round(charged / 2**20), "charged_mb_after": round((charged_file_cache_bytes() or 0) / 2**20)}})
    return True


def _library_folders(modules: tuple[str, ...]) -> list[Path]:
    folders = []
    for name in modules:
        location = getattr(sys.modules.get(name), "__file__", None)
        if location:
            package = Path(location).parent
            folders.append(package)
            folders.extend(package.parent.glob(_BUNDLED_LIBRARIES.get(name, f"{name}.libs")))
    return folders


def drop_file_cache(path: Path) -> None:
    """Ask the kernel to evict a file's pages from the page cache (best effort).

    Pages still mapped by a process stay. Dirty pages (a file just written, e.g. downloaded)
    would be skipped, so they are written back first (a no-op for a clean file).
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except (OSError, AttributeError):  # no fadvise on this platform or file system: nothing to do
        pass
    finally:
        os.close(fd)
