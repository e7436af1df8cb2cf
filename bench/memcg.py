"""A child memory cgroup (v1) with a hard limit: a real 512 MB box on this machine.

Root can make a child of its own memory cgroup, set `memory.limit_in_bytes`, move a process
into it (its children follow), and afterwards read the peak usage, the failure count and the
OOM kills. Used by the memory benchmark and by the cgroup test. Also: this process's own
memory readings (/proc/self/status) for the benches that measure in-process.
"""
from __future__ import annotations

import os
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup/memory")
MIB = 1024 * 1024


@dataclass(frozen=True)
class CgroupStats:
    usage_bytes: int
    max_usage_bytes: int
    failcnt: int
    oom_kills: int
    rss_bytes: int        # anonymous memory (memory.stat total_rss)
    cache_bytes: int      # page cache, including /dev/shm files (total_cache)
    shmem_bytes: int      # of which tmpfs/shm (total_shmem)
    mapped_file_bytes: int


def own_memory_cgroup() -> Path | None:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if "memory" in controllers.split(","):
                return ROOT / path.lstrip("/")
    except OSError:
        return None
    return None


def unavailable_reason() -> str | None:
    """Why a limited child cgroup cannot be made here, or None when it can."""
    parent = own_memory_cgroup()
    if os.geteuid() != 0:
        return "needs root to create a memory cgroup"
    if parent is None or not (parent / "memory.limit_in_bytes").exists():
        return "no cgroup-v1 memory controller for this process"
    if not os.access(parent, os.W_OK):
        return "the memory cgroup is not writable here"
    return None


class MemoryCgroup:
    """`with MemoryCgroup(512 * MIB) as group:` then start processes with preexec_fn=group.join."""

    def __init__(self, limit_bytes: int, name: str = "drishya"):
        parent = own_memory_cgroup()
        if parent is None:
            raise RuntimeError("no memory cgroup")
        self.path = parent / f"{name}-{secrets.token_hex(4)}"
        self.limit_bytes = limit_bytes

    def __enter__(self) -> "MemoryCgroup":
        self.path.mkdir()
        self._write("memory.limit_in_bytes", self.limit_bytes)
        return self

    def __exit__(self, *exc) -> None:
        self.kill_all()
        for _ in range(100):
            try:
                self.path.rmdir()
                return
            except OSError:
                self.kill_all()
                os.sched_yield()

    def join(self) -> None:
        """Move the calling process into the group (use as Popen's preexec_fn)."""
        self._write("cgroup.procs", os.getpid())

    def pids(self) -> list[int]:
        return [int(pid) for pid in (self.path / "cgroup.procs").read_text().split()]

    def kill_all(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stats(self) -> CgroupStats:
        stat = dict(line.split() for line in (self.path / "memory.stat").read_text().splitlines())
        oom = dict(line.split() for line in (self.path / "memory.oom_control").read_text().splitlines())
        return CgroupStats(
            usage_bytes=self._read("memory.usage_in_bytes"),
            max_usage_bytes=self._read("memory.max_usage_in_bytes"),
            failcnt=self._read("memory.failcnt"),
            oom_kills=int(oom.get("oom_kill", 0)),
            rss_bytes=int(stat.get("total_rss", stat.get("rss", 0))),
            cache_bytes=int(stat.get("total_cache", stat.get("cache", 0))),
            shmem_bytes=int(stat.get("total_shmem", stat.get("shmem", 0))),
            mapped_file_bytes=int(stat.get("total_mapped_file", stat.get("mapped_file", 0))),
        )

    def unreclaimable_bytes(self) -> int:
        """Anonymous memory plus tmpfs (/dev/shm) pages: what the kernel cannot drop at the limit."""
        stat = dict(line.split() for line in (self.path / "memory.stat").read_text().splitlines())
        return int(stat.get("total_rss", 0)) + int(stat.get("total_shmem", 0))

    def reset_peak(self) -> None:
        self._write("memory.max_usage_in_bytes", 0)

    def _read(self, name: str) -> int:
        return int((self.path / name).read_text())

    def _write(self, name: str, value: int) -> None:
        (self.path / name).write_text(str(value))


class PeakSampler:
    """Samples a cgroup's unreclaimable memory in a thread; `peak` is the largest seen.

    The kernel keeps only the peak of the whole usage (page cache included); this gives the
    peak of the part that page-cache reclaim cannot give back.
    """

    def __init__(self, group: MemoryCgroup, interval_s: float = 0.01):
        import threading

        self._group = group
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peak = 0

    def __enter__(self) -> "PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def reset(self) -> None:
        self.peak = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self._group.unreclaimable_bytes())
            except OSError:
                pass
            self._stop.wait(self._interval_s)


def status_mb(field: str) -> float:
    """A field of /proc/self/status in MB (VmRSS, VmHWM, RssFile, ...)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def reset_peak_rss() -> None:
    """Reset this process's VmHWM to its current RSS (clear_refs 5)."""
    Path("/proc/self/clear_refs").write_text("5")
