"""Batch throughput: `local_invoke.py batch --jobs 2` putting one product into 20 ads (1280×960),
against one instance, and against two instances sharing one Redis behind a round-robin proxy
(as a platform spreads requests). Each instance is the container's server with one job slot.

    python3 bench/bench_batch.py [--scenes 20] [--segmenter mobilesam|grabcut ...]   # needs redis-server

MobileSAM runs with random weights (the same work as the published ones). Prints a markdown
table for bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import flow  # noqa: E402
from bench.balancer import RoundRobin  # noqa: E402
from bench.bench_redis import clean_env, machine_line, redis_server, table  # noqa: E402


def make_scenes(folder: Path, count: int) -> Path:
    """`count` ads from the sample scene (every other one mirrored), and their boxes.csv."""
    from PIL import Image

    scene_path, _, (x0, y0, x1, y1) = flow.sample()
    scene = Image.open(scene_path).convert("RGB")
    folder.mkdir(parents=True)
    rows = []
    for index in range(count):
        mirrored = index % 2 == 1
        image = scene.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mirrored else scene
        name = f"ad{index:02d}.jpg"
        image.save(folder / name, quality=90)
        box = (scene.width - x1, y0, scene.width - x0, y1) if mirrored else (x0, y0, x1, y1)
        rows.append(",".join([name, *map(str, box)]))
    boxes = folder.parent / "boxes.csv"
    boxes.write_text("\n".join(rows) + "\n")
    return boxes


@contextlib.contextmanager
def instances(count: int, work: Path, redis_url: str, segmenter: str, checkpoint: Path, **extra: str):
    servers, urls = [], []
    try:
        for index in range(count):
            port = flow.free_port()
            env = clean_env(flow.server_env(port, work / f"temp{index}", checkpoint, SEGMENTER=segmenter,
                                            MAX_CONCURRENT_JOBS="1", **extra)) | {"STORE_URL": redis_url}
            server = flow.start_server(env, work / f"instance{index}.log")
            servers.append(server)
            urls.append(f"http://127.0.0.1:{port}")
        for url, server in zip(urls, servers):
            flow.wait_for_health(url, server)
        yield urls
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
            server.wait(60)


def run_batch(url: str, scenes: Path, boxes: Path, out: Path, jobs: int) -> tuple[float, str]:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, str(flow.REPO / "local_invoke.py"), "--url", url, "--password",
                                flow.PASSWORD, "batch", "--product", str(flow.sample()[1]), "--scenes", str(scenes),
                                "--boxes", str(boxes), "-o", str(out), "--jobs", str(jobs)],
                               capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - started
    summary = completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else completed.stderr[-500:]
    if completed.returncode != 0 or not summary.startswith("done"):
        raise RuntimeError(f"batch failed: {summary}")
    return seconds, summary


def warm(urls: list[str]) -> None:
    """One flow per instance, so that neither run pays the model's load."""
    scene_path, product_path, box = flow.sample()
    for url in urls:
        scene = flow.upload(url, scene_path, "scene").body["image_id"]
        answer = flow.process(url, {"image_id": scene, "box": box})
        if answer.status != 200:
            raise RuntimeError(f"warm-up: HTTP {answer.status} {answer.body}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--segmenter", action="append", choices=("mobilesam", "grabcut"))
    args = parser.parse_args()
    segmenters = args.segmenter or ["mobilesam", "grabcut"]
    work = Path(tempfile.mkdtemp(prefix="drishya-bench-batch-"))
    rows = []
    try:
        sys.path.insert(0, str(flow.REPO / "tests"))
        from support.checkpoints import write_random_checkpoint

        checkpoint = write_random_checkpoint(work / "mobile_sam.pt")
        boxes = make_scenes(work / "ads", args.scenes)
        with redis_server(work) as redis_url:
            for segmenter in segmenters:
                setups = [(1, {}, False), (2, {}, False)]
                if segmenter == "mobilesam":  # a precomputed embedding lands on the instance that got the upload
                    setups += [(2, {"PRECOMPUTE_EMBEDDING": "0"}, False), (2, {}, True)]
                for count, extra, sticky in setups:
                    with instances(count, work, redis_url, segmenter, checkpoint, **extra) as urls:
                        warm(urls)
                        with RoundRobin(urls, sticky=sticky) as proxy:
                            url = proxy.url if count > 1 else urls[0]
                            seconds, summary = run_batch(url, work / "ads", boxes, work / "out", args.jobs)
                            spread = "/".join(str(n) for n in proxy.counts) if count > 1 else "—"
                    done = int(re.match(r"done (\d+)", summary).group(1))
                    label = f"{count} instance{'s' if count > 1 else ''}" + (
                        ", PRECOMPUTE_EMBEDDING=0" if extra else "") + (", session affinity" if sticky else "")
                    rows.append((segmenter, label, f"{seconds:.1f} s", f"{done / seconds * 60:.1f}",
                                 f"{seconds / done:.2f} s", spread))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(machine_line() + "\n")
    print(f"`local_invoke.py --url … batch --jobs {args.jobs}`, {args.scenes} scenes 1280×960 (JPEG out at the "
          "photo's size), each instance the container server with MAX_CONCURRENT_JOBS=1, all sharing one Redis, "
          "behind a round-robin proxy (session affinity: by a cookie, as Cloud Run's); wall time includes the "
          "client's start, uploads and deletes:\n")
    print(table(("segmenter", "set-up", "wall time", "scenes/min", "per scene", "requests per instance"), rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
