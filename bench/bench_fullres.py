"""Full-resolution results in 512 MB: replaces on 1280 px, 12 MP and 24 MP photos through the
container's server (MobileSAM loaded) in a real 512 MB memory cgroup, timed from the client,
with the server's own split of each replace.

The photos: scikit-image's coffee photo with a bottle pasted in (tests/support/real_scenes.py),
enlarged to 4000x3000 and 6000x4000 with photographic grain added, saved as JPEG quality 95.
Each flow runs on a fresh server (its own 512 MB cgroup and store): a product upload, then
replaces each on a newly uploaded photo (the upload makes the server encode it, as for a first
mask), each answering a full-size JPEG, raw. The bottle's own mask is sent as an edited mask
(mask_png_base64): the only weights here are random, whose masks are nonsense, and a
realistic product size is what the memory and time of a full-size replace depend on. Then 4
clients at once, each uploading a 12 MP photo and replacing; then a 24 MP replace once the
store (MAX_STORE_MB of /dev/shm) and the embedding cache are full.

With --migan the server also has an MI-GAN checkpoint (random weights, the published
layout: tests/support/migan.py) and every replace asks for scale 0.7, so a band of the old
bottle's place shows and the learned fill runs (once per replace: the full-size composite
reuses the working render's network output). With --uncover (and no --migan) the replaces
ask for scale 0.7 too and the classical fill repaints that band.

    python3 bench/bench_fullres.py [--migan | --uncover]   # needs root and a writable cgroup-v1 memory controller
"""
from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from bench import flow  # noqa: E402
from bench.memcg import MIB, MemoryCgroup, PeakSampler, unavailable_reason  # noqa: E402

from support import real_scenes  # noqa: E402
from support.checkpoints import write_random_checkpoint  # noqa: E402

SIZES = {"1280 px": (1280, 960), "12 MP": (4000, 3000), "24 MP": (6000, 4000)}
REPLACES = 3
CLIENTS = 4
STORE_FILLING_UPLOADS = 6
SETTINGS: dict = {}                       # what every replace sends (--migan, --uncover: scale 0.7)
SERVER_ENV = {"INPAINTER": "classic"}     # --migan: the checkpoint, INPAINTER auto
STAGES = ("decode", "composite", "fill", "decode_original", "composite_full_size", "encode_output")


def photo_jpeg(size: tuple[int, int]) -> tuple[bytes, str]:
    """(the ad at `size` as JPEG q95, the bottle's mask at its working copy's size as base64 PNG)."""
    scene = real_scenes.pasted_scene("coffee")
    working = (1280, round(1280 * size[1] / size[0]))
    mask = cv2.resize(scene.mask.astype(np.uint8) * 255, working, interpolation=cv2.INTER_NEAREST)
    mask_png = base64.b64encode(cv2.imencode(".png", mask)[1].tobytes()).decode()
    enlarged = cv2.resize(scene.image, size, interpolation=cv2.INTER_LANCZOS4).astype(np.int16)
    grain = np.random.default_rng(1).normal(0, 3.0, enlarged.shape[:2])[..., None]
    enlarged = np.clip(enlarged + grain, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(enlarged).save(buffer, "JPEG", quality=95)
    return buffer.getvalue(), mask_png


def upload(url: str, data: bytes, kind: str) -> dict:
    body, content_type = _multipart(data, kind)
    request = urllib.request.Request(url + "/upload", data=body, method="POST", headers={
        "X-App-Password": flow.PASSWORD, "Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def _multipart(data: bytes, kind: str) -> tuple[bytes, str]:
    boundary = "drishyabench"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\n{kind}\r\n--{boundary}\r\n"
            f"Content-Disposition: form-data; name=\"image\"; filename=\"x\"\r\n\r\n").encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def replace(url: str, scene_id: str, product_id: str, mask_png: str) -> tuple[float, dict, tuple[int, int]]:
    """(seconds, the server's timings, the result's size) of a full-size JPEG replace, raw."""
    request = urllib.request.Request(url + "/process", method="POST", data=json.dumps({
        "image_id": scene_id, "product_id": product_id, "mask_png_base64": mask_png, "settings": SETTINGS,
        "output": {"format": "jpeg", "raw": True}}).encode(), headers={
        "X-App-Password": flow.PASSWORD, "Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        data = response.read()
        timings = json.loads(response.headers.get("X-Drishya-Timings", "{}"))
    seconds = time.perf_counter() - started
    result = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    return seconds, timings, (result.shape[1] * 8, result.shape[0] * 8)


def main() -> int:
    reason = unavailable_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="drishya-fullres-"))
    checkpoint = (flow.write_checkpoint(work / "mobile_sam.pt") if flow.SHARED_GOLDEN.is_file()
                  else write_random_checkpoint(work / "mobile_sam.pt"))
    if "--migan" in sys.argv[1:]:
        from support.migan import write_random_migan_checkpoint

        SERVER_ENV.update(INPAINTER="auto", INPAINT_MODEL_PATH=str(write_random_migan_checkpoint(work / "migan.pt")))
    if {"--migan", "--uncover"} & set(sys.argv[1:]):
        SETTINGS["scale"] = 0.7
    photos = {name: photo_jpeg(size) for name, size in SIZES.items()}
    product = (REPO / "samples" / "product.png").read_bytes()
    rows = []
    try:
        for name, photo in photos.items():
            with _server(checkpoint, work) as (url, group, sampler):
                product_id = upload(url, product, "product")["image_id"]
                runs = [replace(url, upload(url, photo[0], "scene")["image_id"], product_id, photo[1])
                        for _ in range(REPLACES)]
                rows.append(_row(name, photo[0], runs, sampler.peak, group.stats()))
        with _server(checkpoint, work) as (url, group, sampler):
            product_id = upload(url, product, "product")["image_id"]
            statuses = _concurrent(url, photos["12 MP"], product_id)
            rows.append((f"{CLIENTS} clients at once, 12 MP each (upload + replace)",
                         f"{len(photos['12 MP'][0]) / MIB:.1f} MB",
                         ", ".join(f"{statuses.count(code)}×{code}" for code in sorted(set(statuses))),
                         "", "", f"{sampler.peak / MIB:.0f} MB / {group.stats().oom_kills} killed"))
        with _server(checkpoint, work) as (url, group, sampler):
            data, mask_png = photos["24 MP"]
            for _ in range(STORE_FILLING_UPLOADS):  # the store full, the embedding cache too
                scene = upload(url, data, "scene")["image_id"]
            product_id = upload(url, product, "product")["image_id"]
            group.reset_peak()
            sampler.reset()
            run = replace(url, scene, product_id, mask_png)
            rows.append((f"replace, 24 MP, after {STORE_FILLING_UPLOADS} more 24 MP uploads (store and caches full)",
                         f"{len(data) / MIB:.1f} MB", f"{run[0]:.2f} s", "", "",
                         f"{sampler.peak / MIB:.0f} MB / {group.stats().oom_kills} killed"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _print(rows)
    return 0


@contextlib.contextmanager
def _server(checkpoint: Path, work: Path):
    """A fresh container server in a fresh 512 MB cgroup, with its own store: (url, group, sampler)."""
    shm = Path(tempfile.mkdtemp(prefix="drishya-fullres-", dir="/dev/shm"))
    port = flow.free_port()
    url = f"http://127.0.0.1:{port}"
    env = flow.server_env(port, shm, checkpoint, MAX_CONCURRENT_JOBS="1", QUEUE_TIMEOUT_S="60", **SERVER_ENV)
    try:
        with MemoryCgroup(512 * MIB, "drishya-fullres") as group, PeakSampler(group) as sampler:
            server = flow.start_server(env, work / "server.log", preexec_fn=group.join)
            try:
                flow.wait_for_health(url, server)
                yield url, group, sampler
            except Exception:
                print((work / "server.log").read_text()[-3000:], file=sys.stderr)
                print(f"cgroup: {group.stats()}", file=sys.stderr)
                raise
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(60)
    finally:
        shutil.rmtree(shm, ignore_errors=True)


def _row(name: str, data: bytes, runs: list, peak: int, stats) -> tuple:
    seconds = statistics.median(run[0] for run in runs)
    split = {stage: statistics.median(run[1].get(stage, 0.0) for run in runs) for stage in STAGES}
    size = runs[0][2]
    return (f"replace, {name} photo → {size[0]}×{size[1]} JPEG, median of {len(runs)}",
            f"{len(data) / MIB:.1f} MB", f"{seconds:.2f} s",
            " / ".join(f"{split[stage]:.0f}" for stage in STAGES), "",
            f"{peak / MIB:.0f} MB / {stats.oom_kills} killed")


def _concurrent(url: str, photo: tuple[bytes, str], product_id: str) -> list[int]:
    data, mask_png = photo
    statuses: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        try:
            scene = upload(url, data, "scene")
            replace(url, scene["image_id"], product_id, mask_png)
            status = 200
        except urllib.error.HTTPError as error:
            status = error.code if error.code != 503 or error.headers.get("Retry-After") else 599
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(900)
    return statuses


def _print(rows: list[tuple]) -> None:
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, torch threads 1, "
          f"load average {os.getloadavg()[0]:.2f}; python -m handler.platform.server in a 512 MB memory cgroup (v1); "
          f"INPAINTER={SERVER_ENV['INPAINTER']}, settings {SETTINGS or 'defaults'}\n")
    print(f"| flow | upload | time | server split, ms: {' / '.join(STAGES)} | | unreclaimable peak / OOM kills |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    times = {row[0].split(",")[1].split("photo")[0].strip(): float(row[2][:-2])
             for row in rows if " photo → " in row[0]}
    if "1280 px" in times:
        for name in ("12 MP", "24 MP"):
            if name in times:
                print(f"\n{name} replace / 1280 px replace: {times[name] / times['1280 px']:.2f}×")


if __name__ == "__main__":
    sys.exit(main())
