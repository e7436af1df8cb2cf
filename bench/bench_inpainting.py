"""MI-GAN inpainting generator: literal vs lean execution, speed and memory; and the whole
function with the learned fill in a real 512 MB cgroup.

    python bench/bench_inpainting.py [--checkpoint PATH] [--repeats N]
    python bench/bench_inpainting.py --service [--replaces N]     # root, cgroup v1

--service: the container's server (python -m handler.platform.server) in a 512 MB memory
cgroup, MobileSAM and MI-GAN both with random weights of the published layout
(tests/support), run twice over the same flow: INPAINTER=classic (today's fill) and
INPAINTER=auto with the MI-GAN checkpoint. See service_main for the flow and the measures.

Without --checkpoint, seeded random weights are written as an fp32 checkpoint to a temporary
file. The input is samples/scene.jpg cropped to a square, resized to 512 x 512, with an
elliptic hole (pixels.to_model_input). Torch runs at 1 thread, as in the service.
  speed    one process loads both executions, runs each once to warm up, then alternates
           them --repeats times (alternating, so that the noise of a shared machine hits
           both alike); medians and their ratio.
  memory   a fresh process per execution: RSS after `import torch` and making the input
           (idle), after loading the model, and the peak during the first forward (VmHWM, reset after loading via
           /proc/self/clear_refs), then the increase over idle = weights + forward, of which
           "code" is file-backed (RssFile: library code paged in on first use). "later" is
           the peak increase over the loaded RSS during a second forward after malloc_trim(0).
Prints machine notes and a markdown table.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from bench.memcg import reset_peak_rss, status_mb  # noqa: E402

EXECUTIONS = ("literal", "lean")
SEED = 0


def memory_worker(args: argparse.Namespace) -> None:
    import torch

    from support.migan import photo_with_hole

    torch.set_num_threads(1)
    # The input (and the image libraries it needs) exists before "idle", as in the service.
    x = photo_with_hole()
    idle, idle_file = status_mb("VmRSS"), status_mb("RssFile")
    from handler.inpainting.migan import load_migan

    model = load_migan(Path(args.checkpoint), lean=args.execution == "lean")
    loaded, loaded_file = status_mb("VmRSS"), status_mb("RssFile")
    reset_peak_rss()
    with torch.inference_mode():
        model(x)
    peak, peak_file = status_mb("VmHWM"), status_mb("RssFile")
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    before_later = status_mb("VmRSS")
    reset_peak_rss()
    with torch.inference_mode():
        model(x)
    later = status_mb("VmHWM") - before_later
    print(json.dumps({
        "idle_mb": idle, "loaded_mb": loaded, "peak_mb": peak,
        "load_file_mb": loaded_file - idle_file, "forward_file_mb": peak_file - loaded_file,
        "later_mb": later,
    }))


def speed_worker(args: argparse.Namespace) -> None:
    import torch

    from support.migan import photo_with_hole

    torch.set_num_threads(1)
    from handler.inpainting.migan import load_migan

    x = photo_with_hole()
    models = {e: load_migan(Path(args.checkpoint), lean=e == "lean") for e in EXECUTIONS}
    # the rows a fill of the input's hole reads (its rows at 512 and the bicubic reach)
    hole_rows = (x[0, 0] < 0).any(dim=1).nonzero()
    rows = (max(int(hole_rows[0]) - 2, 0), min(int(hole_rows[-1]) + 4, 512))
    runs = {**{e: (lambda e=e: models[e](x)) for e in EXECUTIONS},
            "lean, hole rows": lambda: models["lean"](x, rows=rows)}
    times: dict[str, list[float]] = {e: [] for e in runs}
    with torch.inference_mode():
        outputs = {e: run() for e, run in runs.items()}
        for _ in range(args.repeats):
            for e, run in runs.items():
                start = time.perf_counter()
                run()
                times[e].append(time.perf_counter() - start)
    print(json.dumps({
        "median_s": {e: statistics.median(t) for e, t in times.items()},
        "range_s": {e: [min(t), max(t)] for e, t in times.items()},
        "max_abs_diff": (outputs["lean"] - outputs["literal"]).abs().max().item(),
        "rows": rows,
    }))


def _run(*extra: str) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), *extra]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _machine_notes(load_before: tuple[float, ...], load_after: tuple[float, ...]) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import torch
    return (f"Machine: nproc={os.cpu_count()}, CPU: {cpu}, Python {platform.python_version()}, "
            f"torch {torch.__version__}, torch threads 1; load average (1/5/15 min) "
            f"{'/'.join(f'{v:.2f}' for v in load_before)} before, "
            f"{'/'.join(f'{v:.2f}' for v in load_after)} after; one bench run, shared noisy machine.")


def main(args: argparse.Namespace) -> None:
    from support.migan import write_random_migan_checkpoint

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = (Path(args.checkpoint) if args.checkpoint
                      else write_random_migan_checkpoint(Path(tmp) / "migan_random_fp32.pt", SEED))
        memory = {e: _run("--memory-worker", "--checkpoint", str(checkpoint), "--execution", e) for e in EXECUTIONS}
        speed = _run("--speed-worker", "--checkpoint", str(checkpoint), "--repeats", str(args.repeats))
    print(_machine_notes(load_before, os.getloadavg()))
    print(f"Weights: {'--checkpoint' if args.checkpoint else f'random (seed {SEED})'}; "
          f"lean vs literal output max |diff| {speed['max_abs_diff']:.1e}.")
    print()
    print(f"| execution | forward median s ({args.repeats} runs; min-max) | speed-up | RSS idle MB | "
          "RSS loaded MB | peak RSS first forward MB | increase over idle MB (weights + forward) | "
          "of which code paged in MB (load + forward) | later forward peak over loaded MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    base = speed["median_s"]["literal"]
    for e in EXECUTIONS:
        m, median = memory[e], speed["median_s"][e]
        low, high = speed["range_s"][e]
        code = f"{m['load_file_mb'] + m['forward_file_mb']:.0f} ({m['load_file_mb']:.0f} + {m['forward_file_mb']:.0f})"
        print(f"| {e} | {median:.2f} ({low:.2f}-{high:.2f}) | {base / median:.2f}x | {m['idle_mb']:.0f} | "
              f"{m['loaded_mb']:.0f} | {m['peak_mb']:.0f} | {m['peak_mb'] - m['idle_mb']:.0f} | {code} | "
              f"{m['later_mb']:.0f} |")
    median = speed["median_s"]["lean, hole rows"]
    low, high = speed["range_s"]["lean, hole rows"]
    print(f"| lean, output rows {speed['rows'][0]}-{speed['rows'][1]} only (what a fill of this hole reads) | "
          f"{median:.2f} ({low:.2f}-{high:.2f}) | {base / median:.2f}x | | | | | | |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="MI-GAN 512 state dict (default: seeded random weights)")
    parser.add_argument("--repeats", type=int, default=7, help="timed forwards per execution (>= 5)")
    parser.add_argument("--service", action="store_true", help="the whole function in a 512 MB cgroup")
    parser.add_argument("--replaces", type=int, default=7, help="--service: timed replaces of each kind")
    parser.add_argument("--rounds", type=int, default=2, help="--service: runs of each configuration, alternated")
    parser.add_argument("--memory-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--speed-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--execution", choices=EXECUTIONS, default="lean", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.repeats < 5:
        parser.error("--repeats must be at least 5")
    if parsed.service:
        from bench.bench_inpainting_service import service_main

        sys.exit(service_main(parsed))
    if parsed.memory_worker:
        memory_worker(parsed)
    elif parsed.speed_worker:
        speed_worker(parsed)
    else:
        main(parsed)
