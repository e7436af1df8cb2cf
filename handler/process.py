"""The process action: find the product's mask, and with a new product, replace it."""
from __future__ import annotations

import base64
import contextlib
import time
from dataclasses import dataclass

import numpy as np

from . import compositing
from .errors import InvalidField, Unprocessable
from .imaging import decode_upload, encode_image, encode_mask_png
from .parsing import (OutputOptions, Payload, decode_base64_field, parse_output, parse_prompt, require_json,
                      wants_raw_image)
from .runtime import Runtime
from .uploads import StoredImage, load_image, load_mask, save_image, save_mask

_FIELDS = {"action", "image_id", "image_base64", "box", "points", "labels", "mask_id", "product_id",
           "product_base64", "settings", "output"}
_PROMPT_FIELDS = ("box", "points", "labels")


@dataclass(frozen=True)
class RawImage:
    data: bytes
    content_type: str
    headers: dict


@dataclass(frozen=True)
class CutOut:
    """The product's mask in the scene and where it came from.

    mask: (H, W) bool in the stored scene's pixels. score and segmenter are those of the
    segmentation that made it (None for masks stored before they were recorded).
    """

    mask: np.ndarray
    mask_id: str
    score: float | None
    segmenter: str | None
    cache_hit: bool
    fallback_reason: str | None = None

    def facts(self) -> dict:
        facts = {"mask_id": self.mask_id, "segmenter": self.segmenter, "score": self.score,
                 "cache_hit": self.cache_hit}
        return facts | ({"fallback_reason": self.fallback_reason} if self.fallback_reason else {})


class Stopwatch:
    """Milliseconds per named stage of a request; a stage entered twice adds up."""

    def __init__(self):
        self._started = time.perf_counter()
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.record(name, (time.perf_counter() - started) * 1000)

    def record(self, name: str, ms: float) -> None:
        self.timings[name] = round(self.timings.get(name, 0.0) + ms, 1)

    def total(self) -> dict[str, float]:
        return {**self.timings, "total": round((time.perf_counter() - self._started) * 1000, 1)}


def process(runtime: Runtime, payload: Payload, request) -> dict | RawImage:
    body = require_json(payload)
    _refuse_unknown_fields(body)
    settings = _parse_settings(body.get("settings"))
    output = parse_output(body.get("output"))
    clock = Stopwatch()
    with clock.stage("decode"):
        scene = _scene(runtime, body)
    cut = _cut_out(runtime, body, scene, clock)
    if "product_id" not in body and "product_base64" not in body:
        return _mask_answer(scene, cut, clock)
    with clock.stage("decode"):
        product = _product(runtime, body)
    with clock.stage("composite"):
        result = _composite(scene.pixels, cut.mask, product, settings)
    with clock.stage("encode_output"):
        encoded = encode_image(result.image, output.format, output.quality)
    return _replace_answer(request, scene, cut, result, encoded, output, clock)


def _composite(scene: np.ndarray, mask: np.ndarray, product: np.ndarray,
               settings: "compositing.CompositeSettings") -> "compositing.CompositeResult":
    try:
        return compositing.replace_product(scene, mask, product, settings)
    except compositing.CompositingError as error:
        status = 400 if error.code in ("invalid_image", "invalid_mask") else 422
        raise Unprocessable(error.message, code=error.code, status=status) from None


def _refuse_unknown_fields(body: dict) -> None:
    unknown = set(body) - _FIELDS
    if unknown:
        raise InvalidField(f"unknown fields: {', '.join(sorted(unknown)[:5])}; "
                           f"process takes {', '.join(sorted(_FIELDS - {'action'}))}")


def _parse_settings(value: object) -> "compositing.CompositeSettings":
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InvalidField("settings must be an object, like {\"scale\": 1.0}")
    try:
        return compositing.CompositeSettings.from_mapping(value)
    except compositing.SettingsError as error:
        raise InvalidField(str(error)) from None
    except OverflowError:  # a JSON integer too large for a float
        raise InvalidField("settings holds a number far out of range") from None


def _scene(runtime: Runtime, body: dict) -> StoredImage:
    config = runtime.config
    if "image_id" in body:
        if "image_base64" in body:
            raise InvalidField("send the scene as image_id or image_base64, not both")
        return load_image(runtime, body["image_id"], kind="scene", field="image_id")
    if "image_base64" not in body:
        raise InvalidField("send the scene: image_id from an upload, or image_base64")
    data = decode_base64_field(body, "image_base64", config.max_upload_bytes)
    decoded = decode_upload(data, kind="scene", max_side=config.max_side, max_pixels=config.max_pixels)
    return save_image(runtime, "scene", decoded)


def _product(runtime: Runtime, body: dict) -> np.ndarray:
    config = runtime.config
    if "product_id" in body:
        if "product_base64" in body:
            raise InvalidField("send the product as product_id or product_base64, not both")
        return load_image(runtime, body["product_id"], kind="product", field="product_id").pixels
    data = decode_base64_field(body, "product_base64", config.max_upload_bytes)
    return decode_upload(data, kind="product", max_side=config.max_side, max_pixels=config.max_pixels).pixels


def _cut_out(runtime: Runtime, body: dict, scene: StoredImage, clock: Stopwatch) -> CutOut:
    if body.get("mask_id") is not None:
        if any(body.get(field) is not None for field in _PROMPT_FIELDS):
            raise InvalidField("send either mask_id or a box/points, not both: a mask_id reuses an "
                               "earlier cut-out as it is")
        with clock.stage("decode"):
            mask, meta = load_mask(runtime, body["mask_id"], scene)
        return CutOut(mask, body["mask_id"], meta.get("score"), meta.get("segmenter"), cache_hit=True,
                      fallback_reason=meta.get("fallback_reason"))
    height, width = scene.pixels.shape[:2]
    prompt = parse_prompt(body, (width, height), runtime.config.max_points)
    choice = runtime.segmentation.choose()
    segmentation = choice.segmenter.segment(scene.pixels, prompt, image_key=scene.key)
    for stage, ms in segmentation.timings_ms.items():
        clock.record(stage, ms)
    if not segmentation.mask.any():
        raise Unprocessable("no product was found in the box: draw the box tighter around the product "
                            "or add a point on it", code="empty_mask")
    recorded = {"score": round(segmentation.score, 4), "segmenter": segmentation.segmenter,
                "fallback_reason": choice.fallback_reason}
    mask_id = save_mask(runtime, scene, segmentation.mask, recorded)
    return CutOut(segmentation.mask, mask_id, cache_hit=segmentation.cache_hit, **recorded)


def _mask_answer(scene: StoredImage, cut: CutOut, clock: Stopwatch) -> dict:
    with clock.stage("encode_output"):
        preview = compositing.mask_preview(scene.pixels, cut.mask)
        answer = {
            "image_id": scene.id,
            **cut.facts(),
            "bbox": mask_bbox(cut.mask),
            "area_fraction": round(float(cut.mask.mean()), 5),
            "mask_png_base64": _b64(encode_mask_png(cut.mask)),
            "preview_jpeg_base64": _b64(encode_image(preview, "jpeg", 85)),
        }
    return answer | {"timings_ms": clock.total()}


def _replace_answer(request, scene: StoredImage, cut: CutOut, result: "compositing.CompositeResult",
                    encoded: bytes, output: OutputOptions, clock: Stopwatch) -> dict | RawImage:
    facts = {**cut.facts(), "cutout": result.cutout, "blend_mode": result.blend_mode}
    if output.raw or wants_raw_image(request.headers.get("Accept")):
        headers = {f"X-Drishya-{key.replace('_', '-').title()}": str(facts[key])
                   for key in ("segmenter", "cutout", "blend_mode", "mask_id")}
        return RawImage(encoded, output.content_type, headers)
    height, width = result.image.shape[:2]
    return {
        "image_id": scene.id,
        **facts,
        "format": output.format,
        "width": width,
        "height": height,
        "image_base64": _b64(encoded),
        "timings_ms": clock.total(),
    }


def mask_bbox(mask: np.ndarray) -> list[int]:
    """[x0, y0, x1, y1] of the mask's True pixels, x1 and y1 exclusive."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
