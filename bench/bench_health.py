"""Health latency: idle, while the model loads (torch import holds the GIL), during an encode.

    python3 bench/bench_health.py        # needs ../shared/mobilesam for the checkpoint

Prints a markdown table of client-side latencies of GET /health against the container's
server (python -m handler.platform.server) on 127.0.0.1.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import flow  # noqa: E402

IDLE_SAMPLES = 30


def main() -> int:
    if not flow.SHARED_GOLDEN.is_file():
        print("cannot run: no ../shared/mobilesam/golden_vit_t.pt", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="drishya-health-"))
    try:
        rows = measure(flow.write_checkpoint(work / "mobile_sam.pt"), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"Load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, 1 torch thread, server on 127.0.0.1\n")
    print("| health while | requests | median ms | max ms | target |")
    print("|---|---|---|---|---|")
    for label, latencies, target in rows:
        print(f"| {label} | {len(latencies)} | {statistics.median(latencies):.1f} | {max(latencies):.1f} | {target} |")
    return 0


def measure(checkpoint: Path, work: Path) -> list[tuple]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    # Worker recycling off: every health request counts towards MAX_REQUESTS, and a recycle
    # (~0.8 s without a worker) is not what this measures.
    env = flow.server_env(port, work / "store", checkpoint, MAX_REQUESTS="0")
    server = flow.start_server(env, work / "server.log")
    try:
        flow.wait_for_health(url, server)
        idle = [_health_ms(url) for _ in range(IDLE_SAMPLES)]
        scene_path, _, box = flow.sample()
        scene = flow.upload(url, scene_path, "scene").body["image_id"]  # starts the model load
        loading = _health_while(url, lambda: flow.process(url, {"image_id": scene, "box": box}))
        fresh = flow.upload(url, scene_path, "scene").body["image_id"]
        encoding = _health_while(url, lambda: flow.process(url, {"image_id": fresh, "box": box}))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    return [("idle", idle, "< 100 ms"), ("the model loads (first mask request in flight)", loading, "< 1 s"),
            ("an encode runs (mask on a new scene)", encoding, "< 100 ms")]


def _health_while(url: str, work) -> list[float]:
    done = threading.Event()
    worker = threading.Thread(target=lambda: (work(), done.set()))
    worker.start()
    latencies = []
    while not done.is_set():
        latencies.append(_health_ms(url))
        done.wait(0.05)
    worker.join()
    return latencies


def _health_ms(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url + "/health", timeout=10) as response:
        response.read()
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    sys.exit(main())
