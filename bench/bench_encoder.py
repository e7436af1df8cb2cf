"""MobileSAM encoder/decoder speed and memory, optimised vs literal baseline.

    python bench/bench_encoder.py [--checkpoint PATH] [--repeats N]

Without --checkpoint, the golden random weights (shared/mobilesam/golden_vit_t.pt beside the
repo) are written as an fp32 checkpoint to a temporary file. Every (threads, mode) pair runs
in a fresh subprocess on a synthetic 1280x960 RGB image and reports:
  cold start   process spawn -> first mask (import torch, load, encode, predict)
  load         load_mobile_sam wall time
  encode       first encode, then the median of --repeats further encodes
  predict      median of predict() with a box on the cached embedding (decoder + post-processing)
  RSS          resident set after loading, peak during the first encode (VmHWM, reset after
               loading via /proc/self/clear_refs) and its growth above the post-load RSS, of
               which "code" is file-backed (RssFile: library code paged in on first use);
               "later" is the largest growth during the later encodes, each after
               malloc_trim(0) (the app trims after every job).
  page cache   the checkpoint file's pages resident in the page cache after loading (mincore);
               in a container they are charged to the process's memory cgroup.
Prints machine notes and a markdown table.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import mmap
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.memcg import reset_peak_rss, status_mb  # noqa: E402

GOLDEN = REPO.parent / "shared" / "mobilesam" / "golden_vit_t.pt"
IMAGE_SHAPE = (960, 1280, 3)
THREADS = (1, 2)
MODES = ("optimised", "baseline")


def _cached_mb(path: Path) -> float:
    """MB of `path` resident in the page cache (mincore over a fresh read-only mapping)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long)
    size = path.stat().st_size
    pages = -(-size // mmap.PAGESIZE)
    with path.open("rb") as f:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, f.fileno(), 0)
        vec = (ctypes.c_ubyte * pages)()
        libc.mincore(ctypes.c_void_p(addr), ctypes.c_size_t(size), vec)
        libc.munmap(ctypes.c_void_p(addr), ctypes.c_size_t(size))
    return sum(b & 1 for b in vec) * mmap.PAGESIZE / 2 ** 20


def _synthetic_image(np):
    """Smooth colour gradients with a bright rectangle and mild noise, (960, 1280, 3) uint8."""
    h, w, _ = IMAGE_SHAPE
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.stack([xs / w * 255, ys / h * 255, (xs + ys) / (w + h) * 255], axis=-1)
    image[300:700, 400:900] = (230, 60, 40)
    image += np.random.default_rng(0).normal(0, 8, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def worker(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from handler.sam.checkpoint import load_mobile_sam
    from handler.sam.predictor import SamPredictor

    image = _synthetic_image(np)
    box = np.array([380.0, 280.0, 920.0, 720.0])
    start = time.perf_counter()
    model = load_mobile_sam(Path(args.checkpoint), optimise=args.mode == "optimised")
    load_s = time.perf_counter() - start
    predictor = SamPredictor(model)
    rss_loaded, file_loaded = status_mb("VmRSS"), status_mb("RssFile")

    reset_peak_rss()
    start = time.perf_counter()
    embedding = predictor.encode(image)
    first_encode_s = time.perf_counter() - start
    peak = status_mb("VmHWM")
    code_growth = status_mb("RssFile") - file_loaded
    predictor.predict(embedding, box=box)
    cold_start_s = time.time() - args.spawned_at

    page_cache_mb = _cached_mb(Path(args.checkpoint))
    malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
    encode_s, later_growth = [], []
    for _ in range(args.repeats):
        malloc_trim(0)
        rss_before = status_mb("VmRSS")
        reset_peak_rss()
        start = time.perf_counter()
        embedding = predictor.encode(image)
        encode_s.append(time.perf_counter() - start)
        later_growth.append(status_mb("VmHWM") - rss_before)
    predict_s = []
    for _ in range(max(args.repeats, 10)):
        start = time.perf_counter()
        predictor.predict(embedding, box=box)
        predict_s.append(time.perf_counter() - start)
    print(json.dumps({
        "cold_start_s": cold_start_s, "load_s": load_s, "first_encode_s": first_encode_s,
        "encode_ms": 1000 * statistics.median(encode_s), "predict_ms": 1000 * statistics.median(predict_s),
        "rss_loaded_mb": rss_loaded, "peak_mb": peak, "growth_mb": peak - rss_loaded, "code_growth_mb": code_growth,
        "later_growth_mb": max(later_growth), "page_cache_mb": page_cache_mb,
    }))


def _run_worker(checkpoint: Path, threads: int, mode: str, repeats: int) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--checkpoint", str(checkpoint),
               "--threads", str(threads), "--mode", mode, "--repeats", str(repeats),
               "--spawned-at", repr(time.time())]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _machine_notes() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import torch
    return (f"Machine: nproc={os.cpu_count()}, CPU: {cpu}, Python {platform.python_version()}, "
            f"torch {torch.__version__}; image 1280x960; torch.set_num_threads per row; "
            f"medians of repeated runs, one bench run, shared noisy machine.")


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(args.checkpoint) if args.checkpoint else _write_golden_checkpoint(Path(tmp))
        results = {(t, m): _run_worker(checkpoint, t, m, args.repeats) for t in THREADS for m in MODES}
    print(_machine_notes())
    print()
    print("| threads | mode | cold start s | load ms | first encode ms | encode median ms | speed-up | "
          "predict median ms | RSS after load MB | checkpoint in page cache MB | peak RSS MB | "
          "growth first encode MB (code) | growth later encodes MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for t in THREADS:
        base = results[(t, "baseline")]["encode_ms"]
        for m in MODES:
            r = results[(t, m)]
            print(f"| {t} | {m} | {r['cold_start_s']:.2f} | {1000 * r['load_s']:.0f} | "
                  f"{1000 * r['first_encode_s']:.0f} | {r['encode_ms']:.0f} | {base / r['encode_ms']:.2f}x | "
                  f"{r['predict_ms']:.1f} | {r['rss_loaded_mb']:.0f} | {r['page_cache_mb']:.0f} | {r['peak_mb']:.0f} | "
                  f"{r['growth_mb']:.0f} ({r['code_growth_mb']:.0f}) | {r['later_growth_mb']:.0f} |")


def _write_golden_checkpoint(directory: Path) -> Path:
    import torch

    if not GOLDEN.is_file():
        sys.exit(f"no --checkpoint given and golden weights not found at {GOLDEN}")
    weights = torch.load(GOLDEN, weights_only=True)["weights_fp16"]
    path = directory / "vit_t_golden_fp32.pt"
    torch.save({k: v.float() for k, v in weights.items()}, path)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="MobileSAM vit_t state dict (default: golden random weights)")
    parser.add_argument("--repeats", type=int, default=5, help="timed encodes per configuration")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, default="optimised", help=argparse.SUPPRESS)
    parser.add_argument("--spawned-at", type=float, default=0.0, help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    worker(parsed) if parsed.worker else main(parsed)
