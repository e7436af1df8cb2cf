"""Peak memory of decoding an upload of each mode at MAX_PIXELS, above the idle process.

Each case is decoded in a fresh subprocess (so allocations do not mix): the process imports
the function's decoder, reads its resident set (VmRSS), resets the kernel's high-water mark
(clear_refs 5), decodes the file for its kind (scene or product, at the working size), and
reads VmHWM. Prints a markdown table.

    python3 bench/bench_decode.py [--pixels 24000000]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from bench.decode_cases import CASES, make_case  # noqa: E402

_CHILD = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
try:
    from handler.imaging.decode import decode_upload
except ImportError:  # the layout before the reshaping (--repo of an older checkout)
    from handler.imaging import decode_upload

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
data = Path(sys.argv[2]).read_bytes()
idle = status("VmRSS")
Path("/proc/self/clear_refs").write_text("5")
started = time.perf_counter()
try:
    decoded = decode_upload(data, kind=sys.argv[3], max_side=1280, max_pixels=int(sys.argv[4]))
    outcome = "x".join(map(str, decoded.pixels.shape))
except Exception as error:
    outcome = f"{type(error).__name__}: {getattr(error, 'code', '')}"
print(json.dumps({"idle": idle, "peak": status("VmHWM"), "ms": (time.perf_counter() - started) * 1000,
                  "outcome": outcome}))
"""


def measure(repo: Path, path: Path, kind: str, max_pixels: int) -> dict:
    completed = subprocess.run([sys.executable, "-c", _CHILD, str(repo), str(path), kind, str(max_pixels)],
                               capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if completed.returncode != 0:
        return {"idle": 0, "peak": 0, "ms": 0, "outcome": f"crashed: {completed.stderr.strip()[-120:]}"}
    return json.loads(completed.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pixels", type=int, default=24_000_000, help="MAX_PIXELS, and about the size of each case")
    parser.add_argument("--repo", type=Path, default=REPO, help="measure the decoder of this checkout")
    args = parser.parse_args()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}; MAX_PIXELS {args.pixels:,}\n")
    print("| image | file | decoded to | peak above idle | time |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for case in CASES:
            path = Path(folder) / "case"
            path.write_bytes(make_case(case, args.pixels - 1))
            result = measure(args.repo, path, case.kind, args.pixels)
            above = (result["peak"] - result["idle"]) / 2**20
            print(f"| {case.name} | {path.stat().st_size / 2**20:.1f} MB | {result['outcome']} | "
                  f"{above:.0f} MB | {result['ms']:.0f} ms |", flush=True)


if __name__ == "__main__":
    main()
