"""Speed and memory of replace_product on a 1280x960 scene with a 1000 px product.

Run: python3 bench/bench_compositing.py   (prints a markdown table; paste into RESULTS.md)
Peak RSS growth is measured for each case in a fresh process (`--rss CASE`, run by the
script itself): the peak resident size (VmHWM, reset after the inputs are built) during
one call minus the resident size before it.
"""
from __future__ import annotations

import gc
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import psutil
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handler.compositing import CompositeSettings, replace_product  # noqa: E402
from handler.compositing.cutout import cut_out  # noqa: E402
from handler.platform.allocator import release_freed_memory  # noqa: E402
from tests.support.paths import SAMPLES  # noqa: E402
from tests.support.scenes import jar_rgba, make_scene, opaque_product_on_plain  # noqa: E402

RUNS = 15
SAMPLE_BOTTLE = (540, 250, 740, 712)   # XYXY of the bottle in samples/scene.jpg (samples/README.md)
RAGGED_SHARE = 0.69                    # a noisy mask over most of the frame, as from an untrained model


def median_ms(call, runs: int = RUNS) -> tuple[float, float]:
    """(median wall ms, median CPU ms) of `call`. On a shared, busy machine the CPU time of
    this single-threaded process is the steadier of the two."""
    call()  # warm-up: first-call allocations and OpenCV initialisation
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def peak_traced_mb(call) -> float:
    """Peak of numpy/Python allocations during one call (OpenCV's own buffers are not traced)."""
    tracemalloc.start()
    call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2 ** 20


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def synthetic_inputs():
    scene = make_scene(960, 1280, box=(400, 30, 900, 659))
    return scene.image, scene.mask, jar_rgba(1000, 760, margin=60), opaque_product_on_plain(1000, 760)


def sample_inputs():
    """samples/scene.jpg and the 1000x1000 RGBA samples/product.png, with the bottle's box
    as a clean mask and a ragged mask over RAGGED_SHARE of the frame."""
    scene = np.asarray(Image.open(SAMPLES / "scene.jpg").convert("RGB"))
    product = np.asarray(Image.open(SAMPLES / "product.png").convert("RGBA"))
    clean = np.zeros(scene.shape[:2], bool)
    x1, y1, x2, y2 = SAMPLE_BOTTLE
    clean[y1:y2, x1:x2] = True
    ragged = np.random.default_rng(0).random(scene.shape[:2]) < RAGGED_SHARE
    return scene, product, clean, ragged


def cases() -> dict:
    """name -> zero-argument call. Inputs are built before, so calls measure only the work."""
    image, mask, jar, opaque = synthetic_inputs()
    scene, product, clean, ragged = sample_inputs()

    def run(image, mask, product, **kw):
        settings = CompositeSettings(**kw)
        return lambda: replace_product(image, mask, product, settings)

    return {
        "replace_product, alpha blend, RGBA product (removal/fill included)": run(image, mask, jar),
        "replace_product, seamless blend": run(image, mask, jar, blend_mode="seamless"),
        "replace_product, alpha blend, shadow 0.6": run(image, mask, jar, shadow=0.6),
        "replace_product, opaque product (auto cut-out)": run(image, mask, opaque),
        "cut-out alone, opaque 1000 px product (background model)": lambda: cut_out(opaque, "auto"),
        "samples: clean bottle mask, alpha blend": run(scene, clean, product, blend_mode="alpha"),
        "samples: ragged 69 % mask, alpha blend": run(scene, ragged, product, blend_mode="alpha"),
        "samples: ragged 69 % mask, seamless blend": run(scene, ragged, product, blend_mode="seamless"),
    }


def rss_growth_mb(name: str) -> float:
    """Peak RSS growth of one call of case `name`, measured in a fresh process."""
    done = subprocess.run([sys.executable, __file__, "--rss", name], check=True,
                          capture_output=True, text=True)
    return float(done.stdout.strip())


def print_rss_growth(name: str) -> None:
    cv2.setNumThreads(1)
    call = cases()[name]
    # as the server does after each heavy job: memory the input building freed goes back to
    # the OS (else the call reuses it unseen), and the peak (VmHWM) restarts here
    gc.collect()
    release_freed_memory()
    Path("/proc/self/clear_refs").write_text("5")
    before = psutil.Process().memory_info().rss
    call()
    print(f"{max(0, peak_rss_bytes() - before) / 2 ** 20:.1f}")


def peak_rss_bytes() -> int:
    """VmHWM of this process (Linux): unlike ru_maxrss it can be reset via clear_refs."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    cv2.setNumThreads(1)
    rows = [(name, median_ms(call), peak_traced_mb(call), rss_growth_mb(name))
            for name, call in cases().items()]
    print(f"Scenes 1280x960; synthetic: product 760x1000 RGBA, mask "
          f"{make_scene(960, 1280, box=(400, 30, 900, 659)).mask.mean():.1%} of the frame; samples: "
          f"product 1000x1000 RGBA. cv2 threads {cv2.getNumThreads()}, median of {RUNS} runs")
    print(f"Machine: {cpu_model()}, nproc {len(os.sched_getaffinity(0))}, "
          f"Python {platform.python_version()}, OpenCV {cv2.__version__}, numpy {np.__version__}\n")
    print(f"Load average at start: {os.getloadavg()[0]:.2f}\n")
    print("| case | median wall ms | median CPU ms | peak traced MB | peak RSS growth MB |")
    print("|---|---:|---:|---:|---:|")
    for name, (wall, cpu), traced, rss in rows:
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {traced:.1f} | {rss:.1f} |")
    print("\nPeak traced = largest numpy/Python allocation total during one call (tracemalloc; "
          "OpenCV's internal temporaries are not included). Peak RSS growth = VmHWM after "
          "one call in a fresh process minus RSS before it (includes OpenCV's buffers and the "
          "first touch of library code).")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rss"]:
        print_rss_growth(sys.argv[2])
    else:
        main()
