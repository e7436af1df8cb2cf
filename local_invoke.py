#!/usr/bin/env python3
"""Drive the Drishya function from the command line.

In-process by default (imports main.handler and calls it through Flask test requests, no
server needed), or against a running or deployed function with --url.

    python local_invoke.py demo
    python local_invoke.py replace --scene ad.jpg --box 120,80,560,640 --product new.png -o out.png
    python local_invoke.py mask --scene ad.jpg --box 120,80,560,640 -o mask.png
    python local_invoke.py health --url https://drishya.example.app
    python local_invoke.py batch --product new.png --scenes ads/ --boxes boxes.csv -o out/ [--jobs 2]
    python local_invoke.py fetch-model [--only mobilesam|migan]

--box and --point are in the input file's pixels (after EXIF orientation); they are
converted to the stored image's pixels, which may be downscaled to MAX_SIDE.
"""
from __future__ import annotations

import argparse
import base64
import concurrent.futures
import csv
import http.cookiejar
import io
import json
import logging
import os
import secrets
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SAMPLES = ROOT / "samples"
MAX_RETRIES = 5
MODEL_WAITS = {"not_loaded", "downloading", "loading"}   # model states worth naming while a call runs


class InvokeError(Exception):
    """A failed call, with the function's own message."""


class InProcess:
    """Calls main.handler through functions-framework's Flask app, in this process."""

    def __init__(self):
        import functions_framework

        self._client = functions_framework.create_app("handler", str(ROOT / "main.py")).test_client()

    def call(self, method: str, path: str, *, headers: dict, body: bytes | None = None) -> tuple[int, dict, bytes]:
        response = self._client.open(path, method=method, headers=headers, data=body)
        return response.status_code, dict(response.headers), response.get_data()


class OverHttp:
    """Calls a function over HTTP, keeping the cookies it is given: a platform's session affinity
    (Cloud Run --session-affinity) then sends all of this client's calls to one instance, where
    the scene it uploaded already has its embedding."""

    def __init__(self, url: str):
        self._url = url.rstrip("/")
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def call(self, method: str, path: str, *, headers: dict, body: bytes | None = None) -> tuple[int, dict, bytes]:
        request = urllib.request.Request(self._url + path, data=body, method=method, headers=headers)
        try:
            with self._opener.open(request, timeout=300) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()
        except (urllib.error.URLError, OSError) as error:
            raise InvokeError(f"cannot reach {self._url}: {getattr(error, 'reason', error)}") from None


class Client:
    def __init__(self, transport, password: str | None):
        self._transport = transport
        self._password = password

    def health(self, *, authenticate: bool = False) -> dict:
        headers = {"X-App-Password": self._password} if authenticate and self._password else {}
        status, _, data = self._transport.call("GET", "/health", headers=headers)
        answer = _json(data)
        if status == 401:
            raise InvokeError(_message(answer, status))
        return answer

    def upload(self, path: Path, kind: str) -> dict:
        return _json(self._post("/upload", *_upload_body(path, kind))[1])

    def process(self, request: dict) -> dict:
        return _json(self._post("/process", json.dumps(request).encode(), "application/json")[1])

    def process_raw(self, request: dict) -> tuple[dict, bytes]:
        """(the answer's headers, the image bytes) of a process request with output.raw."""
        return self._post("/process", json.dumps(request).encode(), "application/json")

    def _post(self, path: str, body: bytes, content_type: str) -> tuple[dict, bytes]:
        headers = {"Content-Type": content_type, "X-App-Password": self._password or ""}
        for _ in range(MAX_RETRIES):
            status, response_headers, data = self._call_showing_cold_start(path, body, headers)
            if status == 503 and "Retry-After" in response_headers:
                wait = min(30, int(response_headers["Retry-After"]))
                print(f"  busy ({_message(_json(data), status)}); retrying in {wait} s", file=sys.stderr)
                time.sleep(wait)
                continue
            if status != 200:
                raise InvokeError(_message(_json(data), status))
            return response_headers, data
        raise InvokeError(f"still busy after {MAX_RETRIES} tries")

    def _call_showing_cold_start(self, path: str, body: bytes, headers: dict):
        result: list = []
        worker = threading.Thread(target=lambda: result.append(
            self._transport.call("POST", path, headers=headers, body=body)))
        started = time.monotonic()
        worker.start()
        worker.join(1.0)
        while worker.is_alive():
            state = self._model_state()
            doing = f"model {state}" if state in MODEL_WAITS else "working"
            print(f"  waiting: {time.monotonic() - started:.0f} s, {doing}", file=sys.stderr)
            worker.join(1.0)
        if not result:
            raise InvokeError("the call failed before it got an answer")
        return result[0]

    def _model_state(self) -> str:
        try:
            return self.health()["model"]["state"]
        except (InvokeError, KeyError, TypeError):
            return "unknown"


def _upload_body(path: Path, kind: str) -> tuple[bytes, str]:
    """A multipart upload of the file at `path`: (body, content type)."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\n{kind}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{path.name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() + \
        f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _json(data: bytes) -> dict:
    try:
        answer = json.loads(data)
    except ValueError:
        return {"error": {"code": "not_json", "message": data[:200].decode(errors="replace")}}
    return answer if isinstance(answer, dict) else {}


def _message(answer: dict, status: int) -> str:
    error = answer.get("error") or {}
    return f"HTTP {status} {error.get('code', '')}: {error.get('message', 'no message')}"


def _box(text: str) -> list[float]:
    values = [float(v) for v in text.split(",")]
    if len(values) != 4:
        raise argparse.ArgumentTypeError("a box is x0,y0,x1,y1")
    return values


def _point(text: str) -> tuple[float, float, int]:
    values = text.split(",")
    if len(values) not in (2, 3):
        raise argparse.ArgumentTypeError("a point is x,y or x,y,label (label 1 = product, 0 = not)")
    return float(values[0]), float(values[1]), int(values[2]) if len(values) == 3 else 1


def _to_stored_pixels(uploaded: dict, box: list[float] | None, points: list) -> dict:
    scale_x = uploaded["width"] / uploaded["original_width"]
    scale_y = uploaded["height"] / uploaded["original_height"]
    prompt: dict = {}
    if box:
        prompt["box"] = [box[0] * scale_x, box[1] * scale_y, box[2] * scale_x, box[3] * scale_y]
    if points:
        prompt["points"] = [[x * scale_x, y * scale_y] for x, y, _ in points]
        prompt["labels"] = [label for _, _, label in points]
    return prompt


def _settings(args, scene: dict) -> dict:
    """The settings given on the command line (the function's defaults for the rest); a
    placement box is converted from the scene file's pixels like --box."""
    settings = {entry["name"]: getattr(args, entry["name"]) for entry in _settings_schema()
                if getattr(args, entry["name"], None) is not None}
    if "placement" in settings:
        settings["placement"] = _to_stored_pixels(scene, settings["placement"], [])["box"]
    return settings


def run_health(client: Client, args) -> None:
    print(json.dumps(client.health(authenticate=bool(client._password)), indent=2))


def run_mask(client: Client, args) -> None:
    scene = client.upload(args.scene, "scene")
    answer = client.process({"image_id": scene["image_id"], **_to_stored_pixels(scene, args.box, args.point)})
    _write(args.output, base64.b64decode(answer["mask_png_base64"]))
    if args.preview:
        _write(args.preview, base64.b64decode(answer["preview_jpeg_base64"]))
    print(f"mask by {answer['segmenter']} (score {answer['score']}), bbox {answer['bbox']}, "
          f"{answer['area_fraction']:.1%} of the scene, {answer['timings_ms']['total']:.0f} ms -> {args.output}")


def run_replace(client: Client, args) -> None:
    scene = client.upload(args.scene, "scene")
    product = client.upload(args.product, "product")
    facts, image = client.process_raw({
        "image_id": scene["image_id"], "product_id": product["image_id"],
        **_to_stored_pixels(scene, args.box, args.point), "settings": _settings(args, scene),
        "output": {"format": _format_of(args.output), "size": args.size, "raw": True}})
    _write(args.output, image)
    width, height = _image_size(image)
    fill = facts.get("X-Drishya-Inpainter")
    warnings = json.loads(facts.get("X-Drishya-Warning-Messages") or "[]")
    print(f"replaced with {facts.get('X-Drishya-Segmenter')} mask, {facts.get('X-Drishya-Cutout')} cut-out, "
          f"{facts.get('X-Drishya-Blend-Mode')} blend" + (f", {fill} fill" if fill else "")
          + f": {width}x{height} -> {args.output}"
          + "".join(f"\n  check: {message}" for message in warnings)
          + (f"\n  note: {facts['X-Drishya-Fallback-Reason']}" if facts.get("X-Drishya-Fallback-Reason") else ""))


def run_demo(client: Client, args) -> None:
    sample = json.loads((SAMPLES / "samples.json").read_text())
    args.scene, args.product = SAMPLES / sample["scene"], SAMPLES / sample["product"]
    args.box, args.point = sample["box"], []
    run_replace(client, args)


# ---- batch: one product into a folder of ads ---------------------------------------------------

SCENE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".bmp")
KEEPS_FORMAT = (".jpg", ".jpeg", ".png", ".webp")  # what the function can write; others become .png
BUSY_PATIENCE_S = 600  # how long one call may keep waiting out 503s with Retry-After


@dataclass
class BatchItem:
    scene: Path
    output: Path
    box: list[float] | None
    status: str = "pending"  # done | failed | skipped
    reason: str = ""
    seconds: float | None = None


def read_boxes(path: Path) -> dict[str, list[float]]:
    """boxes.csv: `file name, x0, y0, x1, y1` per line, in the file's pixels; a header line,
    blank lines and lines starting with # are skipped."""
    boxes: dict[str, list[float]] = {}
    with open(path, newline="", encoding="utf-8-sig") as rows:
        for number, row in enumerate(csv.reader(rows), 1):
            cells = [cell.strip() for cell in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            try:
                values = [float(value) for value in cells[1:]] if len(cells) == 5 else None
            except ValueError:
                values = None
            if values is None:
                if number == 1:
                    continue  # a header
                raise InvokeError(f"{path}, line {number}: expected file name, x0, y0, x1, y1")
            boxes[cells[0]] = values
    return boxes


def plan_batch(scenes: Path, boxes: dict[str, list[float]], out: Path, force: bool) -> list[BatchItem]:
    """One item per image file in `scenes` (sorted by name); outputs keep the input's name.
    Existing outputs are skipped unless `force`; a scene without a box fails at once."""
    items: list[BatchItem] = []
    claimed: dict[Path, str] = {}
    for scene in sorted(p for p in scenes.iterdir() if p.is_file() and p.suffix.lower() in SCENE_SUFFIXES):
        output = out / (scene.name if scene.suffix.lower() in KEEPS_FORMAT else f"{scene.stem}.png")
        item = BatchItem(scene, output, boxes.get(scene.name))
        if output in claimed:
            item.status, item.reason = "failed", f"its output {output.name} is also {claimed[output]}'s: rename one"
        elif item.box is None:
            item.status, item.reason = "failed", "no box for it in the boxes file"
        elif output.exists() and not force:
            item.status, item.reason = "skipped", f"{output} exists (--force redoes it)"
        claimed.setdefault(output, scene.name)
        items.append(item)
    return items


class Progress:
    """A progress bar on stderr with rate and ETA (a line per scene when stderr is not a terminal)."""

    def __init__(self, items: list[BatchItem], stream=sys.stderr):
        self._items = items
        self._stream = stream
        self._tty = stream.isatty()
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True)

    def __enter__(self) -> "Progress":
        if self._tty:
            self._ticker.start()
        self.show()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.show()
        if self._tty:
            self._stream.write("\n")

    def finished(self, item: BatchItem) -> None:
        if not self._tty:
            detail = item.reason if item.status == "failed" else f"{item.seconds:.1f} s"
            self._stream.write(f"  {item.status} {item.scene.name} ({detail})\n")
        self.show()

    def line(self) -> str:
        total = len(self._items)
        counts = {status: sum(item.status == status for item in self._items)
                  for status in ("done", "failed", "skipped")}
        finished = sum(counts.values())
        worked = counts["done"] + sum(item.status == "failed" and item.seconds is not None for item in self._items)
        elapsed = time.monotonic() - self._started
        rate = worked / elapsed if worked and elapsed > 0 else 0.0
        eta = _clock((total - finished) / rate) if rate else "--:--"
        bar = "#" * round(30 * finished / total) if total else ""
        return (f"[{bar:<30}] {finished}/{total}  done {counts['done']}  failed {counts['failed']}  "
                f"skipped {counts['skipped']}  {_rate(rate)}  ETA {eta}  elapsed {_clock(elapsed)}")

    def show(self) -> None:
        with self._lock:
            if self._tty:
                self._stream.write("\r" + self.line())
            self._stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self.show()


class BatchRunner:
    """Puts one product into every scene of the plan, `jobs` at a time. The product is uploaded
    once (again if it expires or is evicted meanwhile); each scene is uploaded, replaced at the
    photo's own size, written, and deleted from the function's store."""

    def __init__(self, transport_factory, password: str | None, args):
        self._transport_factory = transport_factory
        self._local = threading.local()
        self._password = password or ""
        self._args = args
        self._product_lock = threading.Lock()
        self._product_id: str | None = None

    def run(self, items: list[BatchItem], jobs: int, progress: Progress) -> None:
        pending = [item for item in items if item.status == "pending"]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for future in concurrent.futures.as_completed([pool.submit(self._one, item) for item in pending]):
                progress.finished(future.result())
        if self._product_id is not None:
            self._forget(self._product_id)

    def _one(self, item: BatchItem) -> BatchItem:
        started = time.monotonic()
        try:
            scene = self._upload(item.scene, "scene")
            try:
                self._write(item.output, self._replace(item, scene))
            finally:
                self._forget(scene["image_id"])
            item.status = "done"
        except (InvokeError, OSError) as error:
            item.status, item.reason = "failed", str(error)
        item.seconds = time.monotonic() - started
        return item

    def _forget(self, image_id: str) -> None:
        """Delete an upload now rather than at its expiry (the store is shared, and RAM)."""
        try:
            self._call("POST", "/delete", json.dumps({"image_id": image_id}).encode(), "application/json")
        except InvokeError:
            pass  # it expires anyway

    def _replace(self, item: BatchItem, scene: dict) -> bytes:
        output_format = _format_of(item.output)
        for attempt in range(2):
            product_id = self._product(stale=None)
            request = {"image_id": scene["image_id"], "product_id": product_id,
                       **_to_stored_pixels(scene, item.box, []), "settings": _settings(self._args, scene),
                       "output": {"size": "original", "format": output_format, "raw": True}}
            status, data = self._call("POST", "/process", json.dumps(request).encode(), "application/json",
                                      accept=f"image/{output_format}")
            if status == 200:
                return data
            error = _json(data).get("error") or {}
            if attempt == 0 and status in (404, 410) and str(error.get("message", "")).startswith("product_id"):
                self._product(stale=product_id)  # expired or evicted meanwhile: upload it again
                continue
            raise InvokeError(_message(_json(data), status))
        raise InvokeError("the product could not be kept in the function's store")

    def _product(self, stale: str | None) -> str:
        with self._product_lock:
            if self._product_id is None or self._product_id == stale:
                self._product_id = self._upload(self._args.product, "product")["image_id"]
            return self._product_id

    def _upload(self, path: Path, kind: str) -> dict:
        status, data = self._call("POST", "/upload", *_upload_body(path, kind))
        if status != 200:
            raise InvokeError(_message(_json(data), status))
        return _json(data)

    def _call(self, method: str, path: str, body: bytes, content_type: str, accept: str | None = None):
        """(status, body) of a call, waiting out 503s that carry Retry-After (busy, or the store
        briefly unreachable) for up to BUSY_PATIENCE_S."""
        headers = {"Content-Type": content_type, "X-App-Password": self._password}
        if accept:
            headers["Accept"] = accept
        deadline = time.monotonic() + BUSY_PATIENCE_S
        while True:
            status, response_headers, data = self._transport().call(method, path, headers=headers, body=body)
            retry_after = {key.lower(): value for key, value in response_headers.items()}.get("retry-after")
            if status != 503 or retry_after is None or time.monotonic() > deadline:
                return status, data
            time.sleep(min(30.0, max(0.5, float(retry_after))))

    def _transport(self):
        if not hasattr(self._local, "transport"):
            self._local.transport = self._transport_factory()
        return self._local.transport

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        """Written aside and renamed, so that an interrupted run never leaves a half file that the
        next run would skip."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
        partial.write_bytes(data)
        os.replace(partial, path)


def run_batch(transport_factory, password: str | None, args) -> int:
    if not args.scenes.is_dir():
        raise InvokeError(f"{args.scenes} is not a folder")
    items = plan_batch(args.scenes, read_boxes(args.boxes), args.output, args.force)
    if not items:
        raise InvokeError(f"no images ({', '.join(SCENE_SUFFIXES)}) in {args.scenes}")
    started = time.monotonic()
    with Progress(items) as progress:
        BatchRunner(transport_factory, password, args).run(items, args.jobs, progress)
    print_summary(items, time.monotonic() - started)
    return 1 if any(item.status == "failed" for item in items) else 0


def print_summary(items: list[BatchItem], seconds: float) -> None:
    print("| scene | result | time | output, or why not |")
    print("|---|---|---|---|")
    for item in items:
        took = f"{item.seconds:.1f} s" if item.seconds is not None else "—"
        detail = str(item.output) if item.status == "done" else item.reason
        print(f"| {item.scene.name} | {item.status} | {took} | {detail} |")
    done = sum(item.status == "done" for item in items)
    failed = sum(item.status == "failed" for item in items)
    skipped = sum(item.status == "skipped" for item in items)
    rate = f", {_rate(done / seconds)}" if done and seconds > 0 else ""
    print(f"\ndone {done}, failed {failed}, skipped {skipped} of {len(items)} in {_clock(seconds)}{rate}")


def _quiet_in_process_logs() -> None:
    from handler.platform.logs import configure_logging

    configure_logging()
    logging.getLogger("handler").setLevel(logging.WARNING)


def _rate(per_second: float) -> str:
    return f"{per_second:.2f} scenes/s" if per_second >= 1 else f"{per_second * 60:.1f} scenes/min"


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


def run_fetch_model(args) -> None:
    sys.path.insert(0, str(ROOT))
    from handler.platform.config import Config

    config = Config.from_env()
    if args.only in (None, "mobilesam"):
        _fetch_segmenter(args, config.checkpoint_path)
    if args.only in (None, "migan"):
        _fetch_inpainter(args, config.inpaint_checkpoint_path)


def _fetch_segmenter(args, destination: Path) -> None:
    from handler.models.weights import PUBLISHED_CHECKPOINT, fetch_checkpoint, verify_checkpoint

    url = args.model_url or PUBLISHED_CHECKPOINT.url
    sha256 = args.sha256 or PUBLISHED_CHECKPOINT.sha256
    size = None if args.model_url else PUBLISHED_CHECKPOINT.size
    if destination.is_file():
        verify_checkpoint(destination, sha256, size)
        print(f"{destination} is present and verified")
        return
    print(f"downloading {url}", file=sys.stderr)
    fetch_checkpoint(url, destination, sha256=sha256, size=size, on_progress=_show_progress)
    print(f"verified and saved {destination}")


def _fetch_inpainter(args, destination: Path) -> None:
    """The MI-GAN trace, verified by MD5 (or --inpaint-sha256), converted to a plain state dict."""
    from handler.inpainting.fetch import fetch_converted
    from handler.inpainting.migan import CheckpointError, load_migan
    from handler.models.weights import PUBLISHED_INPAINT_TRACE, DownloadError, sha256_of

    if destination.is_file():
        try:
            load_migan(destination)   # checks every key and shape
        except CheckpointError as error:
            raise DownloadError(f"{destination} is not a usable MI-GAN checkpoint ({error}); remove it "
                                "to fetch it again") from None
        print(f"{destination} is present (SHA-256 {sha256_of(destination)})")
        return
    url = args.inpaint_url or PUBLISHED_INPAINT_TRACE.url
    md5 = args.inpaint_md5 or (None if args.inpaint_url else PUBLISHED_INPAINT_TRACE.md5)
    sha256 = args.inpaint_sha256
    if not (md5 or sha256):
        raise DownloadError("--inpaint-url needs --inpaint-md5 or --inpaint-sha256")
    print(f"downloading {url}", file=sys.stderr)
    traced_sha256 = fetch_converted(url, destination, md5=md5, sha256=sha256, on_progress=_show_progress)
    print(f"verified ({'MD5 ' + md5 if md5 else 'SHA-256'}; SHA-256 of the download {traced_sha256}), "
          f"converted to a plain state dict and saved {destination} (SHA-256 {sha256_of(destination)})")


def _show_progress(done: int, total: int | None) -> None:
    print(f"  {done / 1e6:.1f} / {(total or 0) / 1e6:.1f} MB", file=sys.stderr)


def _settings_schema() -> list[dict]:
    """The function's settings, as it publishes them (GET /settings-schema)."""
    sys.path.insert(0, str(ROOT))
    from handler.compositing import settings_schema

    return settings_schema()


def _add_setting_flags(group) -> None:
    """One flag per setting of the schema: --scale 1.2, --flip/--no-flip, --offset 10,-5, ..."""
    for entry in _settings_schema():
        flag = "--" + entry["name"].replace("_", "-")
        described = f"{entry['label']}: {entry['help']}"
        if entry["type"] == "boolean":
            group.add_argument(flag, dest=entry["name"], action=argparse.BooleanOptionalAction, help=described)
        elif entry["type"] == "choice":
            group.add_argument(flag, dest=entry["name"], choices=[c["value"] for c in entry["choices"]],
                               help=described)
        else:
            group.add_argument(flag, dest=entry["name"], type=_parser_for(entry), metavar=_metavar(entry),
                               help=described)


def _parser_for(entry: dict):
    def parse(text: str):
        if entry.get("nullable") and text == "auto":
            return None
        if entry["type"] in ("integer_pair", "box"):
            values = [float(v) for v in text.split(",")]
            if len(values) != len(entry["parts"]):
                raise argparse.ArgumentTypeError(f"{entry['name']} is {','.join(entry['parts'])}")
            return [int(v) for v in values] if entry["type"] == "integer_pair" else values
        return int(text) if entry["type"] == "integer" else float(text)
    return parse


def _metavar(entry: dict) -> str:
    if entry["type"] in ("integer_pair", "box"):
        return ",".join(part.upper() for part in entry["parts"])
    low_high = f"{entry.get('min', '')}..{entry.get('max', '')}"
    return f"{low_high}|auto" if entry.get("nullable") else low_high


def _image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.size


def _format_of(path: Path) -> str:
    return {".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}.get(path.suffix.lower(), "png")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running function's base URL (default: call it in-process)")
    parser.add_argument("--password", default=os.environ.get("APP_PASSWORD"),
                        help="the shared secret (default: $APP_PASSWORD)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("health", help="print the function's health report")
    mask = commands.add_parser("mask", help="cut out the product and write its mask")
    replace = commands.add_parser("replace", help="replace the product in the scene")
    demo = commands.add_parser("demo", help="replace the product in the bundled sample scene")
    fetch = commands.add_parser("fetch-model", help="download and verify the MobileSAM and MI-GAN checkpoints")
    fetch.add_argument("--only", choices=("mobilesam", "migan"), help="fetch only this one")
    fetch.add_argument("--model-url", help="download MobileSAM from here instead of the published address")
    fetch.add_argument("--sha256", help="expected SHA-256 of --model-url")
    fetch.add_argument("--inpaint-url", help="download the MI-GAN TorchScript trace from here instead of "
                                             "IOPaint's published one")
    fetch.add_argument("--inpaint-md5", help="expected MD5 of --inpaint-url")
    fetch.add_argument("--inpaint-sha256", help="expected SHA-256 of --inpaint-url")
    for command in (mask, replace):
        command.add_argument("--scene", type=Path, required=True)
        command.add_argument("--box", type=_box, help="x0,y0,x1,y1 in the scene file's pixels")
        command.add_argument("--point", type=_point, action="append", default=[],
                             help="x,y[,label]: 1 (default) on the product, 0 off it; repeatable")
    mask.add_argument("-o", "--output", type=Path, required=True, help="the mask PNG to write")
    mask.add_argument("--preview", type=Path, help="also write the mask overlay as JPEG")
    replace.add_argument("--product", type=Path, required=True)
    batch = commands.add_parser("batch", help="put one product into every ad of a folder (resumable)")
    batch.add_argument("--product", type=Path, required=True, help="the new product's image")
    batch.add_argument("--scenes", type=Path, required=True, help="the folder of ads")
    batch.add_argument("--boxes", type=Path, required=True,
                       help="CSV: file name, x0, y0, x1, y1 (the old product's box in that file's pixels)")
    batch.add_argument("-o", "--output", type=Path, required=True,
                       help="the folder to write results to (same names, the photo's own size)")
    batch.add_argument("--jobs", type=int, default=1, help="requests at once (default 1)")
    batch.add_argument("--force", action="store_true", help="redo scenes whose output exists")
    for command in (replace, demo):
        command.add_argument("-o", "--output", type=Path, default=ROOT / "out" / "demo_result.png")
        command.add_argument("--size", choices=["original", "working"], default="original",
                             help="the result at the photo's own resolution (default), or the 1280 px working "
                                  "copy's for a quick look")
    for command in (replace, demo, batch):
        _add_setting_flags(command.add_argument_group("settings (the function's own defaults when not given)"))
    # The sample's own settings, unless given on the command line.
    demo.set_defaults(**json.loads((SAMPLES / "samples.json").read_text()).get("settings", {}))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "fetch-model":
            run_fetch_model(args)
            return 0
        if args.url:
            transport_factory = lambda: OverHttp(args.url)
        else:
            if not args.password and not os.environ.get("APP_PASSWORD"):
                # In-process the function is ours: give it a one-off password.
                args.password = os.environ["APP_PASSWORD"] = secrets.token_urlsafe(12)
            in_process = InProcess()  # one function in this process, whatever the number of jobs
            transport_factory = lambda: in_process
        if args.command == "batch":
            if not args.url:  # the function's request lines would bury the progress bar
                _quiet_in_process_logs()
            return run_batch(transport_factory, args.password, args)
        client = Client(transport_factory(), args.password)
        {"health": run_health, "mask": run_mask, "replace": run_replace, "demo": run_demo}[args.command](client, args)
    except InvokeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (OSError, RuntimeError) as error:  # a file or download problem (DownloadError): no traceback
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
