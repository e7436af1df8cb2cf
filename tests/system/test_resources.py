"""Resource readings come from the container's cgroup when it sets limits, else from the host."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import psutil
import pytest

from handler.platform.resources import (
    charged_file_cache_bytes,
    cpu_quota,
    disk_free_bytes,
    effective_cpu_count,
    memory_usage,
    process_rss_bytes,
)

MiB = 1024**2
V1_NO_LIMIT = "9223372036854771712"
HOST_RAM = psutil.virtual_memory().total
HOST_CPUS = len(os.sched_getaffinity(0))


def write_files(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text + "\n")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "sys-fs-cgroup"


def proc_cgroup(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "proc-self-cgroup"
    path.write_text(text)
    return path


V2_PROC = "0::/app.slice/drishya.scope\n"
V1_PROC = "12:memory:/docker/abc123\n4:cpu,cpuacct:/docker/abc123\n1:name=systemd:/docker/abc123\n"


# Memory, cgroup v2


def test_v2_limit_is_the_total(tmp_path, root):
    write_files(
        root / "app.slice/drishya.scope",
        {"memory.max": str(512 * MiB), "memory.current": str(200 * MiB), "memory.stat": f"anon 1\ninactive_file {50 * MiB}"},
    )
    usage = memory_usage(root, proc_cgroup(tmp_path, V2_PROC))
    assert usage.source == "cgroup_v2"
    assert usage.total_bytes == 512 * MiB
    assert usage.used_bytes == 150 * MiB
    assert usage.available_bytes == 362 * MiB


def test_v2_namespaced_cgroup_is_the_mount_root(tmp_path, root):
    write_files(root, {"memory.max": str(512 * MiB), "memory.current": str(100 * MiB)})
    usage = memory_usage(root, proc_cgroup(tmp_path, "0::/\n"))
    assert (usage.source, usage.total_bytes, usage.used_bytes) == ("cgroup_v2", 512 * MiB, 100 * MiB)


def test_v2_host_path_not_mounted_falls_back_to_the_mount_root(tmp_path, root):
    write_files(root, {"memory.max": str(256 * MiB), "memory.current": str(10 * MiB)})
    usage = memory_usage(root, proc_cgroup(tmp_path, V2_PROC))
    assert (usage.source, usage.total_bytes) == ("cgroup_v2", 256 * MiB)


def test_v2_max_means_host_memory(tmp_path, root):
    write_files(root / "app.slice/drishya.scope", {"memory.max": "max", "memory.current": str(100 * MiB)})
    usage = memory_usage(root, proc_cgroup(tmp_path, V2_PROC))
    assert (usage.source, usage.total_bytes) == ("host", HOST_RAM)


def test_usage_above_the_limit_leaves_nothing_available(tmp_path, root):
    write_files(root, {"memory.max": str(100 * MiB), "memory.current": str(120 * MiB)})
    usage = memory_usage(root, proc_cgroup(tmp_path, "0::/\n"))
    assert usage.available_bytes == 0


def test_unreadable_usage_falls_back_to_this_process(tmp_path, root):
    write_files(root, {"memory.max": str(512 * MiB), "memory.current": "garbage"})
    usage = memory_usage(root, proc_cgroup(tmp_path, "0::/\n"))
    assert usage.total_bytes == 512 * MiB
    assert usage.used_bytes > 0


# Memory, cgroup v1


def test_v1_limit_is_the_total(tmp_path, root):
    write_files(
        root / "memory/docker/abc123",
        {
            "memory.limit_in_bytes": str(512 * MiB),
            "memory.usage_in_bytes": str(300 * MiB),
            "memory.stat": f"cache 5\ntotal_inactive_file {100 * MiB}",
        },
    )
    usage = memory_usage(root, proc_cgroup(tmp_path, V1_PROC))
    assert usage.source == "cgroup_v1"
    assert usage.total_bytes == 512 * MiB
    assert usage.used_bytes == 200 * MiB
    assert usage.available_bytes == 312 * MiB


def test_v1_cgroup_path_not_mounted_falls_back_to_the_controller_root(tmp_path, root):
    write_files(root / "memory", {"memory.limit_in_bytes": str(512 * MiB), "memory.usage_in_bytes": str(64 * MiB)})
    usage = memory_usage(root, proc_cgroup(tmp_path, V1_PROC))
    assert (usage.source, usage.total_bytes, usage.used_bytes) == ("cgroup_v1", 512 * MiB, 64 * MiB)


def test_v1_no_limit_value_means_host_memory(tmp_path, root):
    write_files(root / "memory/docker/abc123", {"memory.limit_in_bytes": V1_NO_LIMIT, "memory.usage_in_bytes": "1"})
    usage = memory_usage(root, proc_cgroup(tmp_path, V1_PROC))
    assert (usage.source, usage.total_bytes) == ("host", HOST_RAM)


def test_limit_above_host_ram_means_host_memory(tmp_path, root):
    write_files(root / "memory", {"memory.limit_in_bytes": str(HOST_RAM * 2), "memory.usage_in_bytes": "1"})
    usage = memory_usage(root, proc_cgroup(tmp_path, V1_PROC))
    assert usage.source == "host"


def test_hybrid_host_without_v2_memory_files_reads_v1(tmp_path, root):
    write_files(root / "unified", {"cgroup.procs": "1"})
    write_files(root / "memory/docker/abc123", {"memory.limit_in_bytes": str(512 * MiB), "memory.usage_in_bytes": "1"})
    usage = memory_usage(root, proc_cgroup(tmp_path, "0::/\n" + V1_PROC))
    assert (usage.source, usage.total_bytes) == ("cgroup_v1", 512 * MiB)


# Memory, broken inputs


@pytest.mark.parametrize("limit", ["", "lots", "-5", "12.5", "\x00\x01"])
def test_garbled_limit_means_host_memory(tmp_path, root, limit):
    write_files(root, {"memory.max": limit, "memory.current": "1"})
    usage = memory_usage(root, proc_cgroup(tmp_path, "0::/\n"))
    assert (usage.source, usage.total_bytes) == ("host", HOST_RAM)


def test_missing_cgroup_files_mean_host_memory(tmp_path, root):
    usage = memory_usage(root, tmp_path / "no-such-proc-file")
    assert (usage.source, usage.total_bytes) == ("host", HOST_RAM)
    assert usage.available_bytes == usage.total_bytes - usage.used_bytes


def test_garbled_proc_self_cgroup_means_host_memory(tmp_path, root):
    write_files(root, {"memory.max": str(512 * MiB)})
    usage = memory_usage(root, proc_cgroup(tmp_path, "nonsense\n::\n7\n"))
    assert usage.source == "host"


# CPU


@pytest.mark.parametrize(("cpu_max", "expected"), [("50000 100000", 0.5), ("150000 100000", 1.5), ("max 100000", None)])
def test_v2_cpu_max(tmp_path, root, cpu_max, expected):
    write_files(root / "app.slice/drishya.scope", {"cpu.max": cpu_max})
    assert cpu_quota(root, proc_cgroup(tmp_path, V2_PROC)) == expected


@pytest.mark.parametrize(("quota", "expected"), [("50000", 0.5), ("200000", 2.0), ("-1", None)])
def test_v1_cfs_quota(tmp_path, root, quota, expected):
    write_files(root / "cpu,cpuacct/docker/abc123", {"cpu.cfs_quota_us": quota, "cpu.cfs_period_us": "100000"})
    assert cpu_quota(root, proc_cgroup(tmp_path, V1_PROC)) == expected


def test_v1_cpu_controller_under_its_own_name(tmp_path, root):
    write_files(root / "cpu", {"cpu.cfs_quota_us": "25000", "cpu.cfs_period_us": "100000"})
    assert cpu_quota(root, proc_cgroup(tmp_path, V1_PROC)) == 0.25


@pytest.mark.parametrize("cpu_max", ["fast 100000", "50000", "50000 0", ""])
def test_garbled_cpu_max_means_no_quota(tmp_path, root, cpu_max):
    write_files(root, {"cpu.max": cpu_max})
    assert cpu_quota(root, proc_cgroup(tmp_path, "0::/\n")) is None


def test_missing_cpu_files_mean_no_quota(tmp_path, root):
    assert cpu_quota(root, proc_cgroup(tmp_path, V1_PROC)) is None
    assert cpu_quota(root, tmp_path / "no-such-proc-file") is None


@pytest.mark.parametrize(("cpu_max", "expected"), [("50000 100000", 1), ("150000 100000", min(2, HOST_CPUS))])
def test_cpu_count_is_the_quota_rounded_up(tmp_path, root, cpu_max, expected):
    write_files(root, {"cpu.max": cpu_max})
    assert effective_cpu_count(root, proc_cgroup(tmp_path, "0::/\n")) == expected


def test_cpu_count_without_quota_is_the_hosts(tmp_path, root):
    assert effective_cpu_count(root, tmp_path / "no-such-proc-file") == HOST_CPUS


# Process and disk


def test_rss_grows_when_the_process_touches_memory():
    before = process_rss_bytes()
    block = bytearray(b"\x01") * (64 * MiB)
    after = process_rss_bytes()
    assert after - before >= 32 * MiB
    del block


def test_disk_free_matches_the_filesystem(tmp_path):
    assert disk_free_bytes(tmp_path) == pytest.approx(shutil.disk_usage(tmp_path).free, rel=0.01)


def test_disk_free_of_a_path_not_created_yet_is_its_parents(tmp_path):
    assert disk_free_bytes(tmp_path / "later" / "weights.pt") == pytest.approx(
        shutil.disk_usage(tmp_path).free, rel=0.01
    )


def test_charged_file_cache_excludes_shm_in_v1(tmp_path, root):
    write_files(root / "memory/docker/abc123", {
        "memory.limit_in_bytes": str(512 * MiB),
        "memory.stat": f"total_cache {200 * MiB}\ntotal_shmem {30 * MiB}\ntotal_rss {100 * MiB}"})
    assert charged_file_cache_bytes(root, proc_cgroup(tmp_path, V1_PROC)) == 170 * MiB


def test_charged_file_cache_excludes_shm_in_v2(tmp_path, root):
    write_files(root / "app.slice/drishya.scope", {
        "memory.max": str(512 * MiB), "memory.stat": f"anon {100 * MiB}\nfile {90 * MiB}\nshmem {10 * MiB}"})
    assert charged_file_cache_bytes(root, proc_cgroup(tmp_path, V2_PROC)) == 80 * MiB


def test_no_memory_limit_means_no_charged_cache(tmp_path, root):
    write_files(root / "memory/docker/abc123", {"memory.limit_in_bytes": V1_NO_LIMIT})
    assert charged_file_cache_bytes(root, proc_cgroup(tmp_path, V1_PROC)) is None
