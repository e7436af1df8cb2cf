"""The function with the learned fill, in a real 512 MB memory cgroup (`python3 bench/bench_inpainting.py --service`).

The container's server (python -m handler.platform.server: functions-framework's app under
gunicorn) runs in a 512 MB cgroup (v1), with MobileSAM and MI-GAN checkpoints of random
weights in the published layouts (tests/support/checkpoints.py, tests/support/migan.py),
twice over the same flow: INPAINTER=classic (today's fill) and INPAINTER=auto with the
MI-GAN checkpoint present. The flow, driven over HTTP like any client:
  upload the sample scene (1280x960) and product (1000x1000 RGBA); a mask with the sample's
  box (cold start: MobileSAM loads); the first replace (MI-GAN loads, when wanted); then
  --replaces replaces, each on a newly uploaded scene with the box (the encoder runs), and
  --replaces more, each on a newly uploaded scene with an edited mask: the sample bottle's
  silhouette (GrabCut in this process), sent as mask_png_base64 (no segmentation).
  All replaces use scale 0.7, so a band of the old product's place must be filled.
  PRECOMPUTE_EMBEDDING=0, so that a replace's encode runs inside it and shows in its split
  (otherwise the upload starts it in the background and the replace waits for its job slot).
  --rounds runs alternate the two configurations (classic, MI-GAN, classic, ...), so that a
  shared machine's load hits both alike; times are medians over all rounds, memory the
  largest of the rounds.
MobileSAM with random weights masks (almost) the whole frame: the box replaces are the
largest hole there is (the fill maps the network's output over the whole frame), the
edited-mask replaces the realistic one. Memory: the cgroup's peak usage
(max_usage_in_bytes, page cache included) and the peak of its unreclaimable part
(anonymous + shm, sampled every 10 ms), whole flow and replaces alone. The page cache is
warmed first by another process (libraries read, both models run once), so the figures are
the server's own memory. Times: client-side medians, and the medians of the answers'
timings_ms (the split).
"""
from __future__ import annotations

import base64
import io
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import flow
from bench.memcg import MIB, MemoryCgroup, PeakSampler, unavailable_reason

LIMIT = 512 * MIB
SCALE = 0.7
TARGETS = {"extra_unreclaimable_mb": 80, "peak_mb": 400, "extra_replace_s": 1.5}
SPLIT = ("decode", "encode", "segment", "composite", "fill", "encode_output")


@dataclass
class Run:
    name: str
    startup_mb: float = 0.0
    first_replace_s: float = 0.0
    first_replace: dict = field(default_factory=dict)
    box: list[dict] = field(default_factory=list)        # answers (with "client_s")
    edited: list[dict] = field(default_factory=list)
    peak_mb: float = 0.0               # max_usage_in_bytes, whole flow
    unreclaimable_mb: float = 0.0      # sampled, whole flow
    replaces_unreclaimable_mb: float = 0.0   # sampled, the warm replaces alone
    oom_kills: int = 0
    failcnt: int = 0
    health: dict = field(default_factory=dict)


def service_main(args) -> int:
    reason = unavailable_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    sys.path.insert(0, str(flow.REPO))
    from tests.support.checkpoints import write_random_checkpoint
    from tests.support.migan import write_random_migan_checkpoint

    work = Path(tempfile.mkdtemp(prefix="drishya-inpaint-bench-"))
    shm = Path(tempfile.mkdtemp(prefix="drishya-inpaint-bench-", dir="/dev/shm"))
    load_before = os.getloadavg()
    try:
        mobilesam = write_random_checkpoint(work / "mobile_sam.pt")
        migan = write_random_migan_checkpoint(work / "migan_512_places2.pt")
        bottle = _bottle_mask_png()
        _warm_page_cache(mobilesam, migan)
        rounds = [[_run(name, mobilesam, migan, bottle, work, shm, args.replaces) for name in ("classic", "migan")]
                  for _ in range(args.rounds)]
        runs = [_merged([r[i] for r in rounds]) for i in range(2)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)
    _print(runs, load_before, os.getloadavg(), args.replaces, args.rounds)
    return 0


def _merged(runs: list[Run]) -> Run:
    """One Run from several of the same configuration: answers pooled, memory the largest."""
    out = Run(runs[0].name, health=runs[-1].health)
    for run in runs:
        out.box += run.box
        out.edited += run.edited
    for name in ("startup_mb", "peak_mb", "unreclaimable_mb", "replaces_unreclaimable_mb", "oom_kills", "failcnt"):
        setattr(out, name, max(getattr(run, name) for run in runs))
    out.first_replace_s = _median([run.first_replace_s for run in runs])
    return out


def _bottle_mask_png() -> str:
    """The sample bottle's silhouette, cut by GrabCut from the sample's box: base64 PNG."""
    import numpy as np
    from PIL import Image

    from handler.segmentation.base import Prompt
    from handler.segmentation.grabcut import GrabCutSegmenter

    scene, _, box = flow.sample()
    image = np.asarray(Image.open(scene).convert("RGB"))
    mask = GrabCutSegmenter().segment(image, Prompt(box=tuple(float(v) for v in box))).mask
    buffer = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _warm_page_cache(mobilesam: Path, migan: Path) -> None:
    """Read the libraries and run both models once in another process, as on a host that
    ran the function before: the cgroup is then charged only for the server's own memory."""
    code = f"""
import numpy as np, torch, cv2, PIL.Image, flask, functions_framework, gunicorn, handler.platform.server
from handler.sam.checkpoint import load_mobile_sam
from handler.sam.predictor import SamPredictor
from handler.inpainting.migan import load_migan
torch.set_num_threads(1)
predictor = SamPredictor(load_mobile_sam({str(mobilesam)!r}))
image = np.asarray(PIL.Image.open({str(flow.sample()[0])!r}).convert("RGB"))
predictor.predict(predictor.encode(image), box=np.array({flow.sample()[2]!r}, dtype=np.float32))
load_migan({str(migan)!r})(torch.zeros(1, 4, 512, 512))
"""
    subprocess.run([sys.executable, "-c", code], cwd=flow.REPO, check=True)


def _run(name: str, mobilesam: Path, migan: Path, bottle: str, work: Path, shm: Path, replaces: int) -> Run:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = flow.server_env(port, shm / name, mobilesam, MAX_CONCURRENT_JOBS="1", MAX_STORE_MB="64",
                          PRECOMPUTE_EMBEDDING="0",
                          INPAINTER="classic" if name == "classic" else "auto",
                          INPAINT_MODEL_PATH=str(migan), MODEL_CACHE_DIR=str(work))
    env = {k: v for k, v in env.items() if k not in ("INPAINT_MODEL_URL", "INPAINT_MODEL_SHA256")}
    scene_path, product_path, box = flow.sample()
    settings = {"scale": SCALE}
    run = Run(name)
    with MemoryCgroup(LIMIT, "drishya-inpaint-bench") as group, PeakSampler(group) as sampler:
        server = flow.start_server(env, work / f"server-{name}.log", preexec_fn=group.join)
        try:
            flow.wait_for_health(url, server)
            run.startup_mb = group.stats().usage_bytes / MIB
            product = _ok(flow.upload(url, product_path, "product"))["image_id"]
            scene = _ok(flow.upload(url, scene_path, "scene"))["image_id"]
            mask = _ok(flow.process(url, {"image_id": scene, "box": box}))
            started = time.perf_counter()
            run.first_replace = _ok(flow.process(url, {"image_id": scene, "mask_id": mask["mask_id"],
                                                       "product_id": product, "settings": settings}))
            run.first_replace_s = time.perf_counter() - started
            before = sampler.peak
            sampler.reset()
            for _ in range(replaces):
                fresh = _ok(flow.upload(url, scene_path, "scene"))["image_id"]
                run.box.append(_timed(url, {"image_id": fresh, "box": box, "product_id": product,
                                            "settings": settings, "output": {"format": "jpeg"}}))
            for _ in range(replaces):
                fresh = _ok(flow.upload(url, scene_path, "scene"))["image_id"]
                run.edited.append(_timed(url, {"image_id": fresh, "mask_png_base64": bottle, "product_id": product,
                                               "settings": settings, "output": {"format": "jpeg"}}))
            stats = group.stats()
            run.peak_mb = stats.max_usage_bytes / MIB
            run.replaces_unreclaimable_mb = sampler.peak / MIB
            run.unreclaimable_mb = max(before, sampler.peak) / MIB
            run.oom_kills, run.failcnt = stats.oom_kills, stats.failcnt
            run.health = flow.call(url, "/health").body
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
    return run


def _timed(url: str, request: dict) -> dict:
    answer = flow.process(url, request)
    body = _ok(answer)
    return {**body, "client_s": answer.seconds}


def _ok(answer) -> dict:
    body = answer.body if hasattr(answer, "body") else answer
    if getattr(answer, "status", 200) != 200:
        raise RuntimeError(f"HTTP {answer.status}: {json.dumps(body)[:500]}")
    return body


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _total(answers: list[dict]) -> str:
    return f"{_median([a['timings_ms']['total'] for a in answers]) / 1000:.2f} s"


def _split(answers: list[dict]) -> str:
    parts = []
    for key in SPLIT:
        values = [a["timings_ms"].get(key, 0.0) for a in answers]
        if any(values):
            parts.append(f"{key} {_median(values):.0f}")
    return " / ".join(parts)


def _print(runs: list[Run], load_before, load_after, replaces: int, rounds: int) -> None:
    classic, migan = runs
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import torch

    print(f"Machine: {platform.machine()}, nproc {os.cpu_count()} ({cpu}), Python {platform.python_version()}, "
          f"torch {torch.__version__}, TORCH_THREADS=1; load average (1 min) {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after; server: python -m handler.platform.server in a {LIMIT // MIB} MB memory "
          f"cgroup (v1), MAX_CONCURRENT_JOBS=1; page cache warm (libraries read and both models run by another "
          f"process first); random weights (MobileSAM, MI-GAN); scale {SCALE}; PRECOMPUTE_EMBEDDING=0; "
          f"{rounds} round(s) of {replaces} replaces of each kind per configuration.\n")
    for run in runs:
        assert all(a["inpainter"] == ("classic" if run.name == "classic" else "migan") for a in run.box + run.edited), \
            f"{run.name}: unexpected inpainter {[a['inpainter'] for a in run.box + run.edited]}"
    n = len(classic.box)
    box_extra = _median([a["client_s"] for a in migan.box]) - _median([a["client_s"] for a in classic.box])
    edited_extra = _median([a["client_s"] for a in migan.edited]) - _median([a["client_s"] for a in classic.edited])
    extra_unreclaimable = migan.unreclaimable_mb - classic.unreclaimable_mb
    rows = [
        ("server cgroup usage at start-up", f"{classic.startup_mb:.0f} MB", f"{migan.startup_mb:.0f} MB",
         f"{migan.startup_mb - classic.startup_mb:+.0f} MB", "", None),
        ("unreclaimable peak (anonymous + shm, sampled), whole flow", f"{classic.unreclaimable_mb:.0f} MB",
         f"{migan.unreclaimable_mb:.0f} MB", f"{extra_unreclaimable:+.0f} MB",
         f"≤ +{TARGETS['extra_unreclaimable_mb']} MB", extra_unreclaimable <= TARGETS["extra_unreclaimable_mb"]),
        ("  of which during the warm replaces", f"{classic.replaces_unreclaimable_mb:.0f} MB",
         f"{migan.replaces_unreclaimable_mb:.0f} MB",
         f"{migan.replaces_unreclaimable_mb - classic.replaces_unreclaimable_mb:+.0f} MB", "", None),
        ("cgroup peak usage (max_usage_in_bytes, page cache included), whole flow", f"{classic.peak_mb:.0f} MB",
         f"{migan.peak_mb:.0f} MB", f"{migan.peak_mb - classic.peak_mb:+.0f} MB", f"≤ {TARGETS['peak_mb']} MB",
         migan.peak_mb <= TARGETS["peak_mb"]),
        ("OOM kills / failcnt", f"{classic.oom_kills} / {classic.failcnt}", f"{migan.oom_kills} / {migan.failcnt}",
         "", "0 kills", migan.oom_kills == 0 and classic.oom_kills == 0),
        ("first replace (MI-GAN loads in it)", f"{classic.first_replace_s:.2f} s", f"{migan.first_replace_s:.2f} s",
         f"{migan.first_replace_s - classic.first_replace_s:+.2f} s", "", None),
        (f"replace, new scene + box (encoder runs; hole ≈ whole frame), client, median of {n}",
         f"{_median([a['client_s'] for a in classic.box]):.2f} s",
         f"{_median([a['client_s'] for a in migan.box]):.2f} s",
         f"{box_extra:+.2f} s", f"≤ +{TARGETS['extra_replace_s']} s", box_extra <= TARGETS["extra_replace_s"]),
        ("  server total, median", _total(classic.box), _total(migan.box), "", "", None),
        ("  split, median ms", _split(classic.box), _split(migan.box), "", "", None),
        (f"replace, new scene + edited mask (the bottle: a realistic hole), client, median of {n}",
         f"{_median([a['client_s'] for a in classic.edited]):.2f} s",
         f"{_median([a['client_s'] for a in migan.edited]):.2f} s", f"{edited_extra:+.2f} s",
         f"≤ +{TARGETS['extra_replace_s']} s", edited_extra <= TARGETS["extra_replace_s"]),
        ("  server total, median", _total(classic.edited), _total(migan.edited), "", "", None),
        ("  split, median ms", _split(classic.edited), _split(migan.edited), "", "", None),
    ]
    print("| measure | INPAINTER=classic (today) | INPAINTER=auto, MI-GAN | difference | target | met |")
    print("|---|---|---|---|---|---|")
    for label, a, b, diff, target, met in rows:
        mark = "" if met is None else ("yes" if met else "**no**")
        print(f"| {label} | {a} | {b} | {diff} | {target} | {mark} |")
    inpainter = migan.health.get("models", {}).get("inpainter", {})
    print(f"\nHealth after the MI-GAN run: models.inpainter = {json.dumps(inpainter)}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
