"""Resource readings that respect the container's limits.

Inside a container, the host's figures (psutil.virtual_memory, os.cpu_count) describe the
whole machine; what the process may actually use is set by its cgroup. These functions read
the process's own cgroup (v2 unified, else v1) and fall back to host figures where no limit
is set or the cgroup files are missing or unreadable. None of them raises.
"""
from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psutil

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
# cgroup v1 writes "no limit" as a huge page-aligned number (9223372036854771712 on 64-bit);
# any limit from here on means none. v2's "max" reads as this too.
NO_LIMIT_FROM = 2**60

MemorySource = Literal["cgroup_v2", "cgroup_v1", "host"]


@dataclass(frozen=True)
class MemoryUsage:
    """Memory in bytes: total (the limit, or host RAM), used, available = total - used (>= 0).

    In a cgroup, used = the cgroup's charged memory minus its inactive file cache (the same
    figure `docker stats` shows): that cache is reclaimed before the OOM killer acts, so it is
    not memory the process lacks. On the host, used = total - psutil's `available`.
    """

    total_bytes: int
    used_bytes: int
    available_bytes: int
    source: MemorySource


@dataclass(frozen=True)
class _MemoryFiles:
    """Names of one cgroup version's memory files, and of its inactive-file-cache stat."""

    source: MemorySource
    limit: str
    usage: str
    inactive_stat: str
    cache_stat: str
    shmem_stat: str


_V2_FILES = _MemoryFiles("cgroup_v2", "memory.max", "memory.current", "inactive_file", "file", "shmem")
_V1_FILES = _MemoryFiles("cgroup_v1", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file",
                         "total_cache", "total_shmem")


@dataclass(frozen=True)
class _CgroupLine:
    """One line of /proc/self/cgroup: controllers ("" for v2) and the cgroup path."""

    controllers: tuple[str, ...]
    path: str


def memory_usage(cgroup_root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP) -> MemoryUsage:
    """Memory of this process's container: its cgroup limit when one is set, else the host's.

    If the cgroup's usage file cannot be read but its limit can, used falls back to this
    process's RSS (a lower bound of the cgroup's use).
    """
    limited = _limited_memory_cgroup(cgroup_root, proc_self_cgroup)
    if limited is None:
        return _host_memory()
    directory, files, limit = limited
    return _memory(limit, _cgroup_used(directory, files), files.source)


def charged_file_cache_bytes(cgroup_root: Path = CGROUP_ROOT,
                             proc_self_cgroup: Path = PROC_SELF_CGROUP) -> int | None:
    """Page cache of ordinary files (tmpfs excluded) that this container's memory limit is
    charged for, or None when no memory limit applies."""
    limited = _limited_memory_cgroup(cgroup_root, proc_self_cgroup)
    if limited is None:
        return None
    directory, files, _ = limited
    stat = _read_stat(directory / "memory.stat")
    return max(0, stat.get(files.cache_stat, 0) - stat.get(files.shmem_stat, 0))


def _limited_memory_cgroup(cgroup_root: Path, proc_self_cgroup: Path) -> tuple[Path, "_MemoryFiles", int] | None:
    lines = _read_cgroup_lines(proc_self_cgroup)
    for files, directories in (
        (_V2_FILES, _v2_directories(cgroup_root, lines)),
        (_V1_FILES, _v1_directories(cgroup_root, lines, "memory")),
    ):
        for directory in directories:
            limit = _read_int(directory / files.limit)
            if limit is None:
                continue
            if limit >= NO_LIMIT_FROM or limit >= psutil.virtual_memory().total:
                return None
            return directory, files, limit
    return None


def cpu_quota(cgroup_root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP) -> float | None:
    """CPUs' worth of time the cgroup may use (e.g. 0.5, 2.0), or None when unlimited/unknown."""
    lines = _read_cgroup_lines(proc_self_cgroup)
    for directory in _v2_directories(cgroup_root, lines):
        fields = _read_text(directory / "cpu.max")
        if fields is None:
            continue
        # "max 100000" means no quota; _quota reads "max" as not a number.
        parts = fields.split()
        return _quota(parts[0], parts[1]) if len(parts) == 2 else None
    for directory in _v1_directories(cgroup_root, lines, "cpu"):
        quota = _read_text(directory / "cpu.cfs_quota_us")
        period = _read_text(directory / "cpu.cfs_period_us")
        if quota is not None and period is not None:
            return _quota(quota, period)
    return None


def effective_cpu_count(cgroup_root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP) -> int:
    """CPUs this process can keep busy: the CPUs it may run on (affinity, else os.cpu_count()),
    capped by the ceiling of the cgroup's CPU quota; at least 1."""
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count() or 1
    quota = cpu_quota(cgroup_root, proc_self_cgroup)
    if quota is not None:
        available = min(available, math.ceil(quota))
    return max(1, available)


def process_rss_bytes() -> int:
    """Resident set size of this process in bytes."""
    return psutil.Process().memory_info().rss


def disk_free_bytes(path: Path) -> int:
    """Bytes free for unprivileged use on the filesystem holding `path` (or its nearest existing
    parent, so a directory not created yet can be asked about); 0 if none can be read."""
    for candidate in (Path(path), *Path(path).parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return 0


def _read_cgroup_lines(proc_self_cgroup: Path) -> list[_CgroupLine]:
    """Parse "hierarchy-id:controllers:path" lines; unreadable or malformed lines are skipped."""
    text = _read_text(proc_self_cgroup)
    if text is None:
        return []
    lines = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[2].startswith("/"):
            controllers = tuple(name for name in parts[1].split(",") if name)
            lines.append(_CgroupLine(controllers=controllers, path=parts[2]))
    return lines


def _v2_directories(root: Path, lines: list[_CgroupLine]) -> list[Path]:
    """Where the process's v2 cgroup may be mounted: its own path under root, then root itself
    (inside a container without a cgroup namespace, the path names a host directory)."""
    paths = [line.path for line in lines if line.controllers == ()]
    return _unique([root / path.lstrip("/") for path in paths] + ([root] if paths else []))


def _v1_directories(root: Path, lines: list[_CgroupLine], controller: str) -> list[Path]:
    """Where the process's v1 `controller` cgroup may be mounted: under the controller's own
    name or its co-mounted list (e.g. "cpu,cpuacct"), with the cgroup path, then without."""
    directories = []
    for line in lines:
        if controller in line.controllers:
            mounts = _unique([root / controller, root / ",".join(line.controllers)])
            directories += [mount / line.path.lstrip("/") for mount in mounts] + mounts
    return _unique(directories)


def _cgroup_used(directory: Path, files: _MemoryFiles) -> int:
    usage = _read_int(directory / files.usage)
    if usage is None:
        return process_rss_bytes()
    inactive = _read_stat(directory / "memory.stat").get(files.inactive_stat, 0)
    return max(0, usage - inactive)


def _memory(total: int, used: int, source: MemorySource) -> MemoryUsage:
    used = max(0, used)
    return MemoryUsage(total_bytes=total, used_bytes=used, available_bytes=max(0, total - used), source=source)


def _host_memory() -> MemoryUsage:
    memory = psutil.virtual_memory()
    return _memory(memory.total, memory.total - memory.available, "host")


def _quota(quota: str, period: str) -> float | None:
    """quota / period for positive integers, else None (v1 writes -1 for no quota)."""
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:
        return None
    if quota_us <= 0 or period_us <= 0:
        return None
    return quota_us / period_us


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _read_int(path: Path) -> int | None:
    """A non-negative integer file's value; "max" (v2's no limit) reads as NO_LIMIT_FROM."""
    text = _read_text(path)
    if text == "max":
        return NO_LIMIT_FROM
    return int(text) if text is not None and text.isdigit() else None


def _read_stat(path: Path) -> dict[str, int]:
    """"key value" lines of a memory.stat file; unparsable lines are skipped."""
    text = _read_text(path) or ""
    stats = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            stats[parts[0]] = int(parts[1])
    return stats


def _unique(paths: list[Path]) -> list[Path]:
    return list(dict.fromkeys(paths))
