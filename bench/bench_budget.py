"""The 512 MB budget, proven: the whole flow with the container's server in a real 512 MB
memory cgroup, timed from the client's side, plus the encoder against the plain eager model.

    python3 bench/bench_budget.py            # needs root, cgroup v1, ../shared/mobilesam

Prints a markdown table (commit it to bench/RESULTS.md with machine notes).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import flow  # noqa: E402
from bench.memcg import MIB, MemoryCgroup, PeakSampler, unavailable_reason  # noqa: E402

LIMIT = 512 * MIB
WARM_REQUESTS = 50
STORE_MB = 48  # the default MAX_STORE_MB: in /dev/shm the store is part of the budget
TARGETS = {"peak": 400 * MIB, "startup": 120 * MIB, "cold": 4.0, "replace": 1.8, "resegment": 0.150,
           "encoder_speedup": 1.5}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replaces", type=int, default=3)
    parser.add_argument("--resegments", type=int, default=7)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--encoder-runs", type=int, default=5)
    parser.add_argument("--server", choices=flow.SERVERS, default="container",
                        help="the container's gunicorn (default), or plain functions-framework with no "
                             "allocator variables in its environment")
    parser.add_argument("--cold-page-cache", action="store_true",
                        help="drop the host's page cache first, so that the server's cgroup is charged for every "
                             "library file it reads (as in a fresh container); default: warm it first")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason or not flow.SHARED_GOLDEN.is_file():
        print(f"cannot run: {reason or 'no ../shared/mobilesam/golden_vit_t.pt'}", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="drishya-bench-"))
    shm = Path(tempfile.mkdtemp(prefix="drishya-bench-", dir="/dev/shm"))
    try:
        checkpoint = flow.write_checkpoint(work / "mobile_sam.pt")
        rows = measure_in_cgroup(checkpoint, shm, work, args)
        rows += measure_encoder(checkpoint, args.encoder_runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)
    print_table(rows, args.cold_page_cache, args.server)
    return 0


def measure_in_cgroup(checkpoint: Path, store: Path, work: Path, args) -> list[tuple]:
    port = flow.free_port()
    url = f"http://127.0.0.1:{port}"
    env = flow.server_env(port, store, checkpoint, MAX_CONCURRENT_JOBS="1", QUEUE_TIMEOUT_S="20",
                          MAX_STORE_MB=str(STORE_MB))
    _prepare_page_cache(checkpoint, cold=args.cold_page_cache)
    with MemoryCgroup(LIMIT, "drishya-bench") as group, PeakSampler(group) as sampler:
        started = time.perf_counter()
        server = flow.start_server(env, work / "server.log", preexec_fn=group.join, server=args.server)
        try:
            flow.wait_for_health(url, server)
            result = flow.run_flow(url, started, args.replaces, args.resegments,
                                   usage_before_model=lambda: group.stats().usage_bytes)
            sequential, sequential_unreclaimable = group.stats(), sampler.peak
            warm_growth = _worker_rss_growth_over_warm_requests(url, server, WARM_REQUESTS)
            restart_s = _cold_start_after_worker_restart(url, server)
            group.reset_peak()
            sampler.reset()
            statuses = _concurrent_clients(url, args.clients)
            concurrent, concurrent_unreclaimable = group.stats(), sampler.peak
            group.reset_peak()
            sampler.reset()
            store_full_s = _replace_with_a_full_store(url, STORE_MB)
            store_full, store_full_unreclaimable = group.stats(), sampler.peak
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
    rss, cache, shmem = (f"{value / MIB:.0f}" for value in
                         (sequential.rss_bytes, sequential.cache_bytes, sequential.shmem_bytes))
    return [
        ("server cgroup usage at start-up (before the model)", f"{result.startup_usage_bytes / MIB:.0f} MB",
         "≤ 120 MB", "80–120 MB", result.startup_usage_bytes <= TARGETS["startup"]),
        ("cold start: process start → first mask", f"{result.first_mask_s:.2f} s", "≤ 4 s", "30–60 s",
         result.first_mask_s <= TARGETS["cold"]),
        (f"warm replace, new scene + box, median of {len(result.replace_s)}",
         f"{flow.median_ms(result.replace_s) / 1000:.2f} s", "≤ 1.8 s", "3–8 s",
         flow.median_ms(result.replace_s) / 1000 <= TARGETS["replace"]),
        (f"re-segment a cached scene, median of {len(result.resegment_s)}",
         f"{flow.median_ms(result.resegment_s):.0f} ms", "≤ 150 ms", "—",
         flow.median_ms(result.resegment_s) / 1000 <= TARGETS["resegment"]),
        ("peak cgroup memory (max_usage_in_bytes), whole sequential flow",
         f"{sequential.max_usage_bytes / MIB:.0f} MB", "≤ 400 MB", "650–700 MB, OOM-killed",
         sequential.max_usage_bytes <= TARGETS["peak"]),
        ("  of which unreclaimable (anonymous + shm), sampled peak", f"{sequential_unreclaimable / MIB:.0f} MB",
         "", "", None),
        ("  memory.stat after the flow: rss / cache (of which shmem)", f"{rss} / {cache} ({shmem}) MB", "", "", None),
        ("OOM kills / failcnt, sequential flow", f"{sequential.oom_kills} / {sequential.failcnt}", "0 kills", "killed",
         sequential.oom_kills == 0),
        (f"worker RSS growth over {WARM_REQUESTS} warm requests (re-segments and replaces)",
         f"{warm_growth / MIB:+.1f} MB", "< 30 MB", "", warm_growth < 30 * MIB),
        ("cold start after a worker restart (next mask, ids still valid)", f"{restart_s:.2f} s", "", "", None),
        (f"{args.clients} concurrent clients (upload + replace each): answers",
         ", ".join(f"{statuses.count(code)}×{code}" for code in sorted(set(statuses))), "200 or 503+Retry-After",
         "", all(code in (200, 503) for code in statuses)),
        (f"{args.clients} concurrent clients: peak cgroup memory / OOM kills",
         f"{concurrent.max_usage_bytes / MIB:.0f} MB / {concurrent.oom_kills} (unreclaimable "
         f"{concurrent_unreclaimable / MIB:.0f} MB)", "none killed", "", concurrent.oom_kills == 0),
        (f"store filled to MAX_STORE_MB ({STORE_MB} MB of /dev/shm), then a replace: peak / OOM kills",
         f"{store_full.max_usage_bytes / MIB:.0f} MB / {store_full.oom_kills} (unreclaimable "
         f"{store_full_unreclaimable / MIB:.0f} MB, shmem {store_full.shmem_bytes / MIB:.0f} MB; replace "
         f"{store_full_s:.2f} s)", "none killed", "", store_full.oom_kills == 0),
    ]


def _worker_rss_growth_over_warm_requests(url: str, server: subprocess.Popen, count: int) -> int:
    scene_path, product_path, box = flow.sample()
    scene = flow.upload(url, scene_path, "scene").body["image_id"]
    product = flow.upload(url, product_path, "product").body["image_id"]
    worker = psutil.Process(server.pid).children()[0]

    def one_request(index: int) -> None:
        request = {"image_id": scene, "box": [box[0] - index % 7, box[1], box[2] + index % 5, box[3]]}
        answer = flow.process(url, request | ({"product_id": product} if index % 2 else {}))
        if answer.status != 200:
            raise RuntimeError(f"warm request: HTTP {answer.status} {answer.body}")

    for index in range(5):
        one_request(index)
    before = worker.memory_info().rss
    for index in range(count):
        one_request(index)
    return worker.memory_info().rss - before


def _prepare_page_cache(checkpoint: Path, *, cold: bool) -> None:
    """Make the page cache's state explicit, since the cgroup is charged for file pages it
    reads first: warm (the libraries already read, and the model run once, by another process,
    as on a host that ran the function before) or cold (dropped, as in a fresh container;
    reclaimable at the limit)."""
    if cold:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("1")
        return
    warm_up = f"""
import numpy as np, torch, cv2, PIL.Image, flask, functions_framework, gunicorn, handler.platform.server
from handler.sam.checkpoint import load_mobile_sam
from handler.sam.predictor import SamPredictor
predictor = SamPredictor(load_mobile_sam({str(checkpoint)!r}))
image = np.asarray(PIL.Image.open({str(flow.sample()[0])!r}).convert("RGB"))
predictor.predict(predictor.encode(image), box=np.array({flow.sample()[2]!r}, dtype=np.float32))
"""
    subprocess.run([sys.executable, "-c", warm_up], cwd=flow.REPO, check=True)


def _cold_start_after_worker_restart(url: str, server: subprocess.Popen) -> float:
    scene_path, _, box = flow.sample()
    scene = flow.upload(url, scene_path, "scene").body["image_id"]
    worker = psutil.Process(server.pid).children()[0]
    worker.send_signal(signal.SIGKILL)
    worker.wait(30)
    flow.wait_for_health(url, server)
    answer = flow.process(url, {"image_id": scene, "box": box})
    if answer.status != 200:
        raise RuntimeError(f"after a worker restart: HTTP {answer.status} {answer.body}")
    return answer.seconds


def _replace_with_a_full_store(url: str, store_mb: int) -> float:
    """Upload scenes until the store has evicted for room, then replace on the last one."""
    scene_path, product_path, box = flow.sample()
    scene_bytes = 1280 * 960 * 3
    for _ in range(store_mb * MIB // scene_bytes + 2):
        last = flow.upload(url, scene_path, "scene").body["image_id"]
    product = flow.upload(url, product_path, "product").body["image_id"]
    answer = flow.process(url, {"image_id": last, "box": box, "product_id": product, "output": {"format": "jpeg"}})
    if answer.status != 200:
        raise RuntimeError(f"replace with a full store: HTTP {answer.status} {answer.body}")
    return answer.seconds


def _concurrent_clients(url: str, clients: int) -> list[int]:
    scene_path, product_path, box = flow.sample()
    product = flow.upload(url, product_path, "product").body["image_id"]
    statuses: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        uploaded = flow.upload(url, scene_path, "scene")
        answers = [uploaded]
        if uploaded.status == 200:
            answers.append(flow.process(url, {"image_id": uploaded.body["image_id"], "box": box,
                                              "product_id": product, "output": {"format": "jpeg"}}))
        with lock:
            for answer in answers:
                busy_ok = answer.status != 503 or "Retry-After" in answer.headers
                statuses.append(answer.status if busy_ok else 599)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    return statuses


def measure_encoder(checkpoint: Path, runs: int) -> list[tuple]:
    """Encoder median at 1 thread, optimised vs the literal SPEC model, in one fresh process."""
    code = f"""
import json, statistics, time, numpy as np, torch
torch.set_num_threads(1)
from PIL import Image
from handler.sam.checkpoint import load_mobile_sam
from handler.sam.predictor import SamPredictor
image = np.asarray(Image.open({str(flow.sample()[0])!r}).convert("RGB"))
out = {{}}
for optimise in (False, True):
    predictor = SamPredictor(load_mobile_sam({str(checkpoint)!r}, optimise=optimise))
    predictor.encode(image)
    times = []
    for _ in range({runs}):
        started = time.perf_counter(); predictor.encode(image); times.append(time.perf_counter() - started)
    out[str(optimise)] = statistics.median(times)
print(json.dumps(out))
"""
    completed = subprocess.run([sys.executable, "-c", code], cwd=flow.REPO, capture_output=True, text=True,
                               check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    times = json.loads(completed.stdout.strip().splitlines()[-1])
    plain, lean = times["False"], times["True"]
    return [
        (f"encoder 1280×960 at 1 thread, median of {runs}: optimised vs plain eager",
         f"{lean * 1000:.0f} ms vs {plain * 1000:.0f} ms ({plain / lean:.2f}×)", "≥ 1.5×", "2.2–3.1 s",
         plain / lean >= TARGETS["encoder_speedup"]),
    ]


def print_table(rows: list[tuple], cold_page_cache: bool, server: str) -> None:
    cache = "cold (dropped first)" if cold_page_cache else "warm (libraries read by another process first)"
    command = ("python -m handler.platform.server" if server == "container"
               else "functions-framework --target handler (no MALLOC_* variables)")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs ({_cpu_model()}), Python {platform.python_version()}, "
          f"torch threads 1, load average {os.getloadavg()[0]:.2f}; server: {command} in a "
          f"{LIMIT // MIB} MB memory cgroup (v1); page cache: {cache}\n")
    print("| measure | Drishya | target | seed | met |")
    print("|---|---|---|---|---|")
    for label, value, target, seed, met in rows:
        mark = "" if met is None else ("yes" if met else "**no**")
        print(f"| {label} | {value} | {target} | {seed} | {mark} |")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
