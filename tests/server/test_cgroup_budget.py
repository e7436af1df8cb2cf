"""The function fits a real 512 MB box: the container's server, in a 512 MB memory cgroup,
serves a cold start, a mask and replaces on new scenes without being OOM-killed.

The full flow with its numbers is bench/bench_budget.py; this is its short version.
"""
import signal
from pathlib import Path

import pytest

from bench import flow
from bench.memcg import MIB, MemoryCgroup, unavailable_reason

from support.checkpoints import write_random_checkpoint
from support.paths import SHARED_MOBILESAM
from support.servers import free_port

REASON = unavailable_reason()
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(REASON is not None, reason=f"no writable 512 MB cgroup: {REASON}")]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "mobile_sam.pt"
    if (SHARED_MOBILESAM / "golden_vit_t.pt").is_file():
        return flow.write_checkpoint(path)  # calibrated weights: realistic activations
    return write_random_checkpoint(path)


def test_short_flow_in_a_512_mb_cgroup_is_never_oom_killed(checkpoint, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = flow.server_env(port, tmp_path / "store", checkpoint)
    with MemoryCgroup(512 * MIB, "drishya-test") as group:
        server = flow.start_server(env, tmp_path / "server.log", preexec_fn=group.join)
        try:
            flow.wait_for_health(url, server)
            result = flow.run_flow(url, started_at=0.0, replaces=1, resegments=1)
            stats = group.stats()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
    assert set(result.statuses) == {200}
    assert result.segmenters == {"mobilesam"}
    assert stats.oom_kills == 0, f"OOM-killed; peak {stats.max_usage_bytes / MIB:.0f} MB"
