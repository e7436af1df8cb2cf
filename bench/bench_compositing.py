"""Speed and memory of replace_product on a 1280x960 scene with a 1000 px product.

Run: python3 bench/bench_compositing.py   (prints a markdown table; paste into RESULTS.md)
"""
from __future__ import annotations

import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handler.compositing import CompositeSettings, replace_product  # noqa: E402
from handler.compositing.cutout import cut_out  # noqa: E402
from tests.scenes import jar_rgba, make_scene, opaque_product_on_plain  # noqa: E402

RUNS = 15


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


def main() -> None:
    cv2.setNumThreads(1)
    scene = make_scene(960, 1280, box=(400, 30, 900, 659))
    jar = jar_rgba(1000, 760, margin=60)
    opaque = opaque_product_on_plain(1000, 760)
    mask_share = scene.mask.mean()

    def run(product, **kw):
        return lambda: replace_product(scene.image, scene.mask, product, CompositeSettings(**kw))

    rows = [
        ("replace_product, alpha blend, RGBA product (inpainting incl.)", median_ms(run(jar)),
         peak_traced_mb(run(jar))),
        ("replace_product, seamless blend", median_ms(run(jar, blend_mode="seamless")),
         peak_traced_mb(run(jar, blend_mode="seamless"))),
        ("replace_product, alpha blend, shadow 0.6", median_ms(run(jar, shadow=0.6)),
         peak_traced_mb(run(jar, shadow=0.6))),
        ("replace_product, opaque product (auto cut-out)", median_ms(run(opaque)),
         peak_traced_mb(run(opaque))),
        ("cut-out alone, opaque 1000 px product (background model)",
         median_ms(lambda: cut_out(opaque, "auto")), peak_traced_mb(lambda: cut_out(opaque, "auto"))),
    ]
    print(f"Scene 1280x960, product {jar.shape[1]}x{jar.shape[0]} RGBA, mask {mask_share:.1%} of the frame, "
          f"cv2 threads {cv2.getNumThreads()}, median of {RUNS} runs")
    print(f"Machine: {cpu_model()}, nproc {len(os.sched_getaffinity(0))}, "
          f"Python {platform.python_version()}, OpenCV {cv2.__version__}, numpy {np.__version__}\n")
    print(f"Load average at start: {os.getloadavg()[0]:.2f}\n")
    print("| case | median wall ms | median CPU ms | peak traced MB |")
    print("|---|---:|---:|---:|")
    for name, (wall, cpu), mb in rows:
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {mb:.1f} |")
    print(f"\nPeak traced = largest numpy/Python allocation total during one call (tracemalloc; "
          f"OpenCV's internal temporaries are not included). One scene copy is "
          f"{scene.image.nbytes / 2 ** 20:.1f} MB.")


if __name__ == "__main__":
    main()
