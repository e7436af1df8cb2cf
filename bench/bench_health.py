"""Health latency: idle, while the model loads (torch import holds the GIL), during an encode,
and with 32 stalled connections open (half a request head each, or a head and a stalled body).

    python3 bench/bench_health.py [--server functions-framework]   # needs ../shared/mobilesam

Prints a markdown table of client-side latencies of GET /health against the container's
server (python -m handler.platform.server; or plain functions-framework) on 127.0.0.1. A
health request that gets no answer within 5 s counts as 5000 ms.
"""
from __future__ import annotations

import argparse
import contextlib
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
STALLED = 32
GIVE_UP_S = 5.0
STALLED_HEADS = {"head": b"GET /health HTTP/1.1\r\nHost: x\r\n",
                 "body": b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000\r\n\r\n{"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=flow.SERVERS, default="container")
    args = parser.parse_args()
    if not flow.SHARED_GOLDEN.is_file():
        print("cannot run: no ../shared/mobilesam/golden_vit_t.pt", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="drishya-health-"))
    try:
        rows = measure(flow.write_checkpoint(work / "mobile_sam.pt"), work, args.server)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"Load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, 1 torch thread, "
          f"{args.server} server on 127.0.0.1\n")
    print("| health while | requests | median ms | max ms | target |")
    print("|---|---|---|---|---|")
    for label, latencies, target in rows:
        print(f"| {label} | {len(latencies)} | {statistics.median(latencies):.1f} | {max(latencies):.1f} | {target} |")
    return 0


def measure(checkpoint: Path, work: Path, server_kind: str) -> list[tuple]:
    port = flow.free_port()
    url = f"http://127.0.0.1:{port}"
    # Worker recycling off: every health request counts towards MAX_REQUESTS, and a recycle
    # (~0.8 s without a worker) is not what this measures.
    env = flow.server_env(port, work / "store", checkpoint, MAX_REQUESTS="0")
    server = flow.start_server(env, work / "server.log", server=server_kind)
    try:
        flow.wait_for_health(url, server)
        idle = [_health_ms(url) for _ in range(IDLE_SAMPLES)]
        scene_path, _, box = flow.sample()
        scene = flow.upload(url, scene_path, "scene").body["image_id"]  # starts the model load
        loading = _health_while(url, lambda: flow.process(url, {"image_id": scene, "box": box}))
        fresh = flow.upload(url, scene_path, "scene").body["image_id"]
        encoding = _health_while(url, lambda: flow.process(url, {"image_id": fresh, "box": box}))
        stalled = {}
        for kind, head in STALLED_HEADS.items():
            with _stalled_connections(port, head):
                stalled[kind] = [_health_ms(url) for _ in range(IDLE_SAMPLES)]
                replace_s = flow.process(url, {"image_id": fresh, "box": box, "output": {"format": "jpeg"},
                                               "product_id": flow.upload(url, flow.sample()[1], "product")
                                               .body.get("image_id")}).seconds
                stalled[kind].append(replace_s)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    return [("idle", idle, "< 100 ms"), ("the model loads (first mask request in flight)", loading, "< 1 s"),
            ("an encode runs (mask on a new scene)", encoding, "< 100 ms")] + [
        (f"{STALLED} connections stalled in their {kind} (a replace meanwhile: "
         f"{latencies[-1]:.2f} s)", latencies[:-1], "< 1 s") for kind, latencies in stalled.items()]


@contextlib.contextmanager
def _stalled_connections(port: int, head: bytes):
    connections = []
    try:
        for _ in range(STALLED):
            connection = socket.create_connection(("127.0.0.1", port), timeout=30)
            connection.sendall(head)
            connections.append(connection)
        yield
    finally:
        for connection in connections:
            connection.close()


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
    try:
        with urllib.request.urlopen(url + "/health", timeout=GIVE_UP_S) as response:
            response.read()
    except OSError:
        return GIVE_UP_S * 1000
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    sys.exit(main())
