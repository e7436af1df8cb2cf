"""The shared Redis store against the local file store, on this machine.

1. Latency of the user's flow, timed from the client: upload the scene, upload the product, mask
   with a box, replace, delete. One instance on the file store (in /dev/shm) vs two instances
   sharing one Redis, each step on the other instance than the step before; GrabCut, so that
   the model does not dominate; flows of the two set-ups interleaved, so that the machine's
   load falls on both alike.
2. What Redis adds to each request, measured inside the function (in-process): the time spent
   in the store per step with each backend, Redis commands per step, and the bytes one flow
   keeps in Redis.
3. Memory: the same flow plus a store filled with uploads, with the container's server in a
   real 512 MB memory cgroup (MobileSAM, random weights): the file store in /dev/shm (charged
   to the function) vs Redis (outside the cgroup).

    python3 bench/bench_redis.py [--flows 15] [--no-memory]   # needs redis-server; part 3 root + cgroup v1

Prints markdown tables (for bench/RESULTS.md, with the machine line).
"""
from __future__ import annotations

import argparse
import contextlib
import inspect
import itertools
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import flow  # noqa: E402
from bench.memcg import MIB, MemoryCgroup, PeakSampler, unavailable_reason  # noqa: E402
from handler.platform.config import Config  # noqa: E402

LIMIT = 512 * MIB
STEPS = ("upload scene", "upload product", "mask (box)", "replace", "delete")
TARGET_ADDED_MS = 30.0
FILL_UPLOADS = 15  # scenes uploaded after the flow: ~58 MB, past the file store's cap (MAX_STORE_MB)


# ---- a redis-server of our own ------------------------------------------------------------------------

@contextlib.contextmanager
def redis_server(workdir: Path, maxmemory: str = "256mb", policy: str = "volatile-ttl"):
    """redis-server on a free loopback port, no persistence; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = flow.free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no", "--maxmemory", maxmemory, "--maxmemory-policy", policy, "--dir", str(workdir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    import redis

    client = redis.Redis(port=port)
    try:
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(0.025)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait()


def clean_env(env: dict) -> dict:
    return {key: value for key, value in env.items() if key not in ("STORE_URL", "REDIS_URL", "SECRET_KEY")}


# ---- 1. end to end, from the client ---------------------------------------------------------------------

def one_flow(urls: list[str]) -> dict[str, float]:
    """The flow's steps, each on the next instance (round robin); seconds per step."""
    scene_path, product_path, box = flow.sample()
    instance = itertools.cycle(urls)
    seconds: dict[str, float] = {}

    def step(name: str, answer: flow.Answer) -> dict:
        if answer.status != 200:
            raise RuntimeError(f"{name}: HTTP {answer.status} {answer.body}")
        seconds[name] = answer.seconds
        return answer.body

    scene = step("upload scene", flow.upload(next(instance), scene_path, "scene"))
    product = step("upload product", flow.upload(next(instance), product_path, "product"))
    mask = step("mask (box)", flow.process(next(instance), {"image_id": scene["image_id"], "box": box}))
    step("replace", flow.process(next(instance), {"image_id": scene["image_id"], "mask_id": mask["mask_id"],
                                                  "product_id": product["image_id"], "output": {"format": "jpeg"}}))
    step("delete", flow.call(next(instance), "/delete", json.dumps({"image_id": scene["image_id"]}).encode()))
    flow.call(next(instance), "/delete", json.dumps({"image_id": product["image_id"]}).encode())
    return seconds


def measure_latency(work: Path, redis_url: str, flows: int) -> list[tuple]:
    shm = Path(tempfile.mkdtemp(prefix="drishya-bench-", dir="/dev/shm"))
    servers, urls = [], {"file": [], "redis": []}
    try:
        for store, count in (("file", 1), ("redis", 2)):
            for index in range(count):
                port = flow.free_port()
                extra = {"STORE_URL": redis_url} if store == "redis" else {}
                env = flow.server_env(port, shm / f"{store}{index}", work / "none.pt", SEGMENTER="grabcut",
                                      MAX_CONCURRENT_JOBS="1", **extra)
                server = flow.start_server(clean_env(env) | extra, work / f"{store}{index}.log")
                servers.append(server)
                flow.wait_for_health(f"http://127.0.0.1:{port}", server)
                urls[store].append(f"http://127.0.0.1:{port}")
        for _ in range(2):  # warm: imports, first GrabCut, connections
            one_flow(urls["file"])
            one_flow(urls["redis"])
        times = {"file": [], "redis": []}
        for _ in range(flows):
            for store in ("file", "redis"):
                times[store].append(one_flow(urls[store]))
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
        shutil.rmtree(shm, ignore_errors=True)
    rows = []
    for name in (*STEPS, "whole flow"):
        def median(store):
            values = [sum(t.values()) if name == "whole flow" else t[name] for t in times[store]]
            return statistics.median(values) * 1000
        file_ms, redis_ms = median("file"), median("redis")
        rows.append((name, f"{file_ms:.0f}", f"{redis_ms:.0f}", f"{redis_ms - file_ms:+.0f}"))
    return rows


# ---- 2. inside the function ----------------------------------------------------------------------------

class Meter:
    def __init__(self):
        self.seconds = 0.0

    def take(self) -> float:
        seconds, self.seconds = self.seconds, 0.0
        return seconds


def metered_file_store(store, meter: Meter) -> None:
    for name in ("put", "get", "contains", "delete"):
        method = getattr(store, name)

        def timed(*args, _method=method, **kwargs):
            started = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                meter.seconds += time.perf_counter() - started
        setattr(store, name, timed)


def metered_redis(connection, meter: Meter) -> None:
    guard = connection.guard

    @contextlib.contextmanager
    def timed(doing: str):
        started = time.perf_counter()
        try:
            with guard(doing) as client:
                yield client
        finally:
            meter.seconds += time.perf_counter() - started
    connection.guard = timed


def in_process_client(config):
    import logging

    import functions_framework

    from handler.edge import create_handler
    from handler.platform.logs import configure_logging

    configure_logging()
    logging.getLogger("handler").setLevel(logging.WARNING)

    function = create_handler(config)
    app = functions_framework.create_app("handler", str(flow.REPO / "main.py"))
    inspect.unwrap(app.view_functions["run"]).__globals__["function"] = function
    return function, app.test_client()


def measure_inside(work: Path, redis_url: str, flows: int) -> tuple[list[tuple], list[tuple]]:
    import redis

    from handler.platform.config import Config

    scene_path, product_path, box = flow.sample()
    admin = redis.Redis.from_url(redis_url)
    headers = {"X-App-Password": flow.PASSWORD}
    shm = Path(tempfile.mkdtemp(prefix="drishya-bench-", dir="/dev/shm"))
    store_ms = {"file": {step: [] for step in STEPS}, "redis": {step: [] for step in STEPS}}
    commands = {step: [] for step in STEPS}
    flow_bytes = []
    try:
        for store in ("file", "redis"):
            config = Config(app_password=flow.PASSWORD, temp_dir=shm / store, segmenter="grabcut",
                            store_url=redis_url if store == "redis" else None)
            function, client = in_process_client(config)
            meter = Meter()
            if store == "redis":
                metered_redis(function.runtime.records.store.connection, meter)
            else:
                metered_file_store(function.runtime.records.store, meter)

            def step(name, method, path, record, **kwargs):
                before = admin.info("stats")["total_commands_processed"] if store == "redis" else 0
                response = client.open(path, method=method, headers=headers, **kwargs)
                assert response.status_code == 200, response.get_data()[:300]
                if record:
                    store_ms[store][name].append(meter.take() * 1000)
                    if store == "redis":
                        commands[name].append(admin.info("stats")["total_commands_processed"] - before - 1)
                meter.take()
                return response.get_json()

            for index in range(flows + 2):
                record = index >= 2
                scene = step("upload scene", "POST", "/upload", record,
                             data={"image": (open(scene_path, "rb"), "scene.jpg"), "kind": "scene"})
                product = step("upload product", "POST", "/upload", record,
                               data={"image": (open(product_path, "rb"), "product.png"), "kind": "product"})
                mask = step("mask (box)", "POST", "/process", record,
                            json={"image_id": scene["image_id"], "box": box})
                step("replace", "POST", "/process", record,
                     json={"image_id": scene["image_id"], "mask_id": mask["mask_id"],
                           "product_id": product["image_id"], "output": {"format": "jpeg"}})
                if store == "redis" and record:
                    flow_bytes.append(flow_keys(admin, scene["image_id"], product["image_id"]))
                step("delete", "POST", "/delete", record, json={"image_id": scene["image_id"]})
                client.post("/delete", headers=headers, json={"image_id": product["image_id"]})
    finally:
        shutil.rmtree(shm, ignore_errors=True)
    rows = []
    for name in STEPS:
        file_ms = statistics.median(store_ms["file"][name])
        redis_ms = statistics.median(store_ms["redis"][name])
        rows.append((name, f"{file_ms:.1f}", f"{redis_ms:.1f}", f"{redis_ms - file_ms:+.1f}",
                     f"{statistics.median(commands[name]):.0f}"))
    last = flow_bytes[-1]
    size_rows = [(what, f"{size:,}") for what, size in last.items()]
    size_rows.append(("one flow in all", f"{sum(last.values()):,} ({sum(last.values()) / MIB:.2f} MB)"))
    return rows, size_rows


def flow_keys(admin, scene_id: str, product_id: str) -> dict[str, int]:
    """Bytes (MEMORY USAGE, exact) of each Redis key one flow made, named by what it holds."""
    scene, product = scene_id.split(".")[1], product_id.split(".")[1]
    sizes: dict[str, int] = {}
    for key in admin.scan_iter("drishya:*", count=1000):
        name = key.decode()
        if scene not in name and product not in name:
            continue
        item = name.rsplit(":", 1)[1]
        what = ("children set of the scene" if ":children:" in name else
                "scene working copy (raw RGB)" if item == scene else
                "scene original (as uploaded)" if item == f"{scene}_{'0' * 16}" else
                "product (PNG)" if item == product else
                "mask (bits + logits)" if item.startswith(f"{scene}_") else name)
        sizes[what] = sizes.get(what, 0) + admin.memory_usage(key, samples=0)
    return sizes


# ---- 3. memory in a 512 MB cgroup --------------------------------------------------------------------------

def warm_page_cache(checkpoint: Path) -> None:
    """Read the libraries and the model once in another process, so that neither set-up is
    charged for reading them first (as on a host that ran the function before)."""
    code = f"""
import numpy as np, torch, cv2, PIL.Image, redis, handler.platform.server
from handler.sam.checkpoint import load_mobile_sam
from handler.sam.predictor import SamPredictor
predictor = SamPredictor(load_mobile_sam({str(checkpoint)!r}))
image = np.asarray(PIL.Image.open({str(flow.sample()[0])!r}).convert("RGB"))
predictor.predict(predictor.encode(image), box=np.array({flow.sample()[2]!r}, dtype=np.float32))
"""
    subprocess.run([sys.executable, "-c", code], cwd=flow.REPO, check=True)


def measure_memory(work: Path, redis_url: str) -> list[tuple]:
    sys.path.insert(0, str(flow.REPO / "tests"))
    from support.checkpoints import write_random_checkpoint

    checkpoint = write_random_checkpoint(work / "mobile_sam.pt")
    warm_page_cache(checkpoint)
    rows = []
    for store in ("file", "redis"):
        shm = Path(tempfile.mkdtemp(prefix="drishya-bench-", dir="/dev/shm"))
        port = flow.free_port()
        url = f"http://127.0.0.1:{port}"
        extra = {"STORE_URL": redis_url} if store == "redis" else {}
        env = clean_env(flow.server_env(port, shm, checkpoint, MAX_CONCURRENT_JOBS="1")) | extra
        try:
            with MemoryCgroup(LIMIT, "drishya-bench-redis") as group, PeakSampler(group) as sampler:
                server = flow.start_server(env, work / f"memory-{store}.log", preexec_fn=group.join)
                try:
                    flow.wait_for_health(url, server)
                    result = flow.run_flow(url, time.perf_counter(), replaces=3, resegments=3)
                    after_flow, flow_peak = group.stats(), sampler.peak
                    last = None
                    for _ in range(FILL_UPLOADS):
                        last = flow.upload(url, flow.sample()[0], "scene").body["image_id"]
                    product = flow.upload(url, flow.sample()[1], "product").body["image_id"]
                    answer = flow.process(url, {"image_id": last, "box": flow.sample()[2], "product_id": product,
                                                "output": {"format": "jpeg"}})
                    if answer.status != 200 or set(result.statuses) != {200}:
                        raise RuntimeError(f"{store}: HTTP {answer.status} {answer.body}")
                    filled = group.stats()
                finally:
                    server.send_signal(signal.SIGTERM)
                    server.wait(60)
        finally:
            shutil.rmtree(shm, ignore_errors=True)
        rows.append((store, f"{after_flow.max_usage_bytes / MIB:.0f}", f"{flow_peak / MIB:.0f}",
                     f"{after_flow.shmem_bytes / MIB:.1f}", f"{filled.max_usage_bytes / MIB:.0f}",
                     f"{sampler.peak / MIB:.0f}", f"{filled.shmem_bytes / MIB:.1f}",
                     f"{filled.oom_kills}"))
    return rows


# ---- the report ---------------------------------------------------------------------------------------------

def machine_line() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
    import redis

    return (f"Machine: {platform.machine()}, {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
            f"redis-server {redis_version.removeprefix('v=')} and redis-py {redis.__version__} on 127.0.0.1 (no "
            f"network between function and Redis: a VPC hop to Memorystore adds ~0.2–1 ms per round trip), "
            f"load average {os.getloadavg()[0]:.2f}")


def table(header: tuple, rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flows", type=int, default=15)
    parser.add_argument("--no-memory", action="store_true", help="skip the 512 MB cgroup part")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="drishya-bench-redis-"))
    try:
        with redis_server(work) as redis_url:
            latency = measure_latency(work, redis_url, args.flows)
            inside, sizes = measure_inside(work, redis_url, args.flows)
            reason = unavailable_reason()
            memory = None if args.no_memory or reason else measure_memory(work, redis_url)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(machine_line() + "\n")
    print(f"Latency from the client, median of {args.flows} interleaved flows, 1280×960 scene, GrabCut, "
          "container server (gunicorn), MAX_CONCURRENT_JOBS=1:\n")
    print(table(("step", "file store, 1 instance (ms)", "Redis, 2 instances (ms)", "difference (ms)"), latency))
    print(f"\nTime spent in the store inside the function, per request, median of {args.flows} (in-process, "
          f"the same requests; target ≤ {TARGET_ADDED_MS:.0f} ms added):\n")
    print(table(("step", "file store in /dev/shm (ms)", "Redis (ms)", "added by Redis (ms)", "Redis commands"),
                inside))
    print("\nBytes one flow keeps in Redis (MEMORY USAGE of its keys, after the replace):\n")
    print(table(("what", "bytes"), sizes))
    if memory is None:
        print(f"\nMemory part skipped: {reason or '--no-memory'}")
    else:
        print(f"\nMemory in a {LIMIT // MIB} MB cgroup, container server, MobileSAM (random weights), flow = upload "
              f"scene + product, mask, replace, 3 replaces on new scenes, 3 re-segments; then {FILL_UPLOADS} more "
              f"scene uploads (~58 MB) and a replace (the file store at its {Config().max_store_mb:.0f} MB cap, the "
              "least recently used evicted):\n")
        print(table(("store", "flow: peak cgroup (MB)", "flow: unreclaimable peak (MB)", "flow: shm after (MB)",
                     "filled: peak cgroup (MB)", "filled: unreclaimable peak (MB)", "filled: shm after (MB)",
                     "OOM kills"), memory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
