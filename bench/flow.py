"""The user's flow against a running function, timed from the client's side.

Shared by bench/bench_memory.py (the full flow in a 512 MB cgroup) and the cgroup test (a
short version). Only the standard library: it talks HTTP like any client.
"""
from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
SHARED_GOLDEN = REPO.parent / "shared" / "mobilesam" / "golden_vit_t.pt"
PASSWORD = "bench-password"


@dataclass
class Answer:
    status: int
    headers: dict
    body: dict
    seconds: float


@dataclass
class FlowResult:
    first_mask_s: float = 0.0             # process start -> first mask answer
    startup_usage_bytes: int | None = None
    replace_s: list[float] = field(default_factory=list)       # new scene, box prompt: encoder runs
    resegment_s: list[float] = field(default_factory=list)     # same scene, new box: cached embedding
    statuses: list[int] = field(default_factory=list)
    segmenters: set[str] = field(default_factory=set)


def write_checkpoint(destination: Path) -> Path:
    """The golden random weights as a published-format (fp32 state dict) checkpoint."""
    import torch

    golden = torch.load(SHARED_GOLDEN, weights_only=True)
    torch.save({key: value.float() for key, value in golden["weights_fp16"].items()}, destination)
    return destination


def server_env(port: int, temp_dir: Path, checkpoint: Path, **extra: str) -> dict:
    """The container's environment (Dockerfile defaults) for a local run."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("APP_", "MODEL_"))}
    env.update({"HOST": "127.0.0.1", "PORT": str(port), "APP_PASSWORD": PASSWORD, "TEMP_DIR": str(temp_dir),
                "MODEL_PATH": str(checkpoint), "SEGMENTER": "mobilesam", "TORCH_THREADS": "1",
                "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1",
                "MALLOC_ARENA_MAX": "2", "WEB_CONCURRENCY": "1", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


SERVERS = ("container", "functions-framework")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(env: dict, log_path: Path, preexec_fn=None, server: str = "container") -> subprocess.Popen:
    """The function on env's HOST:PORT: the container's gunicorn (python -m
    handler.platform.server), or plain `functions-framework --target handler` (the README's way
    without a container: no allocator variables, whatever env says)."""
    log = open(log_path, "wb")
    if server == "container":
        command = [sys.executable, "-m", "handler.platform.server"]
    else:
        env = {key: value for key, value in env.items() if not key.startswith("MALLOC_")}
        command = [sys.executable, "-m", "functions_framework", "--target", "handler", "--source",
                   str(REPO / "main.py"), "--host", env["HOST"], "--port", env["PORT"]]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log, preexec_fn=preexec_fn)


def wait_for_health(url: str, process: subprocess.Popen, attempts: int = 600) -> None:
    for _ in range(attempts):
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=0.5):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            try:
                process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
    raise RuntimeError("the server did not start")


def call(url: str, path: str, body: bytes | None = None, content_type: str = "application/json") -> Answer:
    headers = {"X-App-Password": PASSWORD, "Content-Type": content_type}
    request = urllib.request.Request(url + path, data=body, headers=headers, method="POST" if body else "GET")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            status, response_headers, data = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, response_headers, data = error.code, dict(error.headers), error.read()
    seconds = time.perf_counter() - started
    try:
        body_json = json.loads(data)
    except ValueError:
        body_json = {}
    return Answer(status, response_headers, body_json, seconds)


def upload(url: str, path: Path, kind: str) -> Answer:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\n{kind}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{path.name}\"\r\n\r\n"
            ).encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return call(url, "/upload", body, f"multipart/form-data; boundary={boundary}")


def process(url: str, request: dict) -> Answer:
    return call(url, "/process", json.dumps(request).encode())


def sample() -> tuple[Path, Path, list[int]]:
    description = json.loads((SAMPLES / "samples.json").read_text())
    return SAMPLES / description["scene"], SAMPLES / description["product"], description["box"]


def run_flow(url: str, started_at: float, replaces: int, resegments: int,
             usage_before_model=None) -> FlowResult:
    """Upload scene and product, mask, replace, then `replaces` more replaces on newly uploaded
    scenes (the encoder runs each time) and `resegments` re-segments of a cached scene.

    started_at: time.perf_counter() when the server process was started.
    usage_before_model: called once before the first request that needs the model.
    """
    scene_path, product_path, box = sample()
    result = FlowResult()
    if usage_before_model is not None:
        result.startup_usage_bytes = usage_before_model()
    scene = _ok(upload(url, scene_path, "scene"), result)
    product = _ok(upload(url, product_path, "product"), result)
    mask = _ok(process(url, {"image_id": scene["image_id"], "box": box}), result)
    result.first_mask_s = time.perf_counter() - started_at
    _ok(process(url, {"image_id": scene["image_id"], "mask_id": mask["mask_id"],
                      "product_id": product["image_id"]}), result)
    for _ in range(replaces):
        fresh = _ok(upload(url, scene_path, "scene"), result)
        answer = process(url, {"image_id": fresh["image_id"], "box": box, "product_id": product["image_id"],
                               "output": {"format": "jpeg"}})
        _ok(answer, result)
        result.replace_s.append(answer.seconds)
    for index in range(resegments):
        shifted = [box[0] - index, box[1], box[2] + index, box[3]]
        answer = process(url, {"image_id": scene["image_id"], "box": shifted})
        _ok(answer, result)
        result.resegment_s.append(answer.seconds)
    return result


def median_ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 1) if seconds else float("nan")


def _ok(answer: Answer, result: FlowResult) -> dict:
    result.statuses.append(answer.status)
    if answer.status != 200:
        raise RuntimeError(f"HTTP {answer.status}: {answer.body}")
    if "segmenter" in answer.body:
        result.segmenters.add(answer.body["segmenter"])
    return answer.body
