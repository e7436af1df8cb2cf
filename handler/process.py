"""The process action: find the product's mask, and with a new product, replace it."""
from __future__ import annotations

import base64
import time
from dataclasses import dataclass

import numpy as np

from . import compositing
from .errors import InvalidField, Unprocessable
from .imaging import decode_upload, encode_image, encode_mask_png
from .parsing import (OutputOptions, Payload, decode_base64_field, parse_output, parse_prompt, require_json,
                      wants_raw_image)
from .runtime import Runtime
from .segmentation.base import Segmentation
from .uploads import StoredImage, load_image, load_mask, save_image, save_mask

_FIELDS = {"action", "image_id", "image_base64", "box", "points", "labels", "mask_id", "product_id",
           "product_base64", "settings", "output"}
_PROMPT_FIELDS = ("box", "points", "labels")


@dataclass(frozen=True)
class RawImage:
    data: bytes
    content_type: str
    headers: dict


class _Stopwatch:
    def __init__(self):
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}

    def lap(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[name] = round(self.timings.get(name, 0) + (now - since) * 1000, 1)
        return now

    def total(self) -> dict[str, float]:
        return {**self.timings, "total": round((time.perf_counter() - self.started) * 1000, 1)}


def process(runtime: Runtime, payload: Payload, request) -> dict | RawImage:
    body = require_json(payload)
    _refuse_unknown_fields(body)
    wants_replace = "product_id" in body or "product_base64" in body
    settings = _parse_settings(body.get("settings"))
    output = parse_output(body.get("output"))
    clock = _Stopwatch()
    step = time.perf_counter()
    scene = _scene(runtime, body)
    step = clock.lap("decode", step)
    mask, details = _mask(runtime, body, scene, clock)
    step = time.perf_counter()
    if not wants_replace:
        return _mask_answer(scene, mask, details, clock)
    product = _product(runtime, body)
    step = clock.lap("decode", step)
    try:
        result = compositing.replace_product(scene.pixels, mask, product, settings)
    except compositing.CompositingError as error:
        status = 400 if error.code in ("invalid_image", "invalid_mask") else 422
        raise Unprocessable(error.message, code=error.code, status=status) from None
    step = clock.lap("composite", step)
    encoded = encode_image(result.image, output.format, output.quality)
    clock.lap("encode_output", step)
    return _replace_answer(request, scene, details, result, encoded, output, clock)


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


def _mask(runtime: Runtime, body: dict, scene: StoredImage, clock: _Stopwatch) -> tuple[np.ndarray, dict]:
    if body.get("mask_id") is not None:
        if any(body.get(field) is not None for field in _PROMPT_FIELDS):
            raise InvalidField("send either mask_id or a box/points, not both: a mask_id reuses an "
                               "earlier cut-out as it is")
        step = time.perf_counter()
        mask, meta = load_mask(runtime, body["mask_id"], scene)
        clock.lap("decode", step)
        details = {key: meta[key] for key in ("score", "segmenter", "fallback_reason") if key in meta}
        return mask, {**details, "mask_id": body["mask_id"], "cache_hit": True}
    height, width = scene.pixels.shape[:2]
    prompt = parse_prompt(body, (width, height), runtime.config.max_points)
    choice = runtime.segmentation.choose()
    segmentation: Segmentation = choice.segmenter.segment(scene.pixels, prompt, image_key=scene.key)
    for stage, ms in segmentation.timings_ms.items():
        clock.timings[stage] = round(ms, 1)
    if not segmentation.mask.any():
        raise Unprocessable("no product was found in the box: draw the box tighter around the product "
                            "or add a point on it", code="empty_mask")
    details = {"score": round(segmentation.score, 4), "segmenter": segmentation.segmenter}
    if choice.fallback_reason:
        details["fallback_reason"] = choice.fallback_reason
    details["mask_id"] = save_mask(runtime, scene, segmentation.mask, details)
    details["cache_hit"] = segmentation.cache_hit
    return segmentation.mask, details


def _mask_answer(scene: StoredImage, mask: np.ndarray, details: dict, clock: _Stopwatch) -> dict:
    step = time.perf_counter()
    preview = compositing.mask_preview(scene.pixels, mask)
    answer = {
        "image_id": scene.id,
        **details,
        "bbox": mask_bbox(mask),
        "area_fraction": round(float(mask.mean()), 5),
        "mask_png_base64": _b64(encode_mask_png(mask)),
        "preview_jpeg_base64": _b64(encode_image(preview, "jpeg", 85)),
    }
    clock.lap("encode_output", step)
    answer["timings_ms"] = clock.total()
    return answer


def _replace_answer(request, scene, details, result, encoded: bytes, output: OutputOptions,
                    clock: _Stopwatch) -> dict | RawImage:
    height, width = result.image.shape[:2]
    facts = {"segmenter": details.get("segmenter"), "cutout": result.cutout, "blend_mode": result.blend_mode,
             "mask_id": details["mask_id"]}
    if output.raw or wants_raw_image(request.headers.get("Accept")):
        headers = {f"X-Drishya-{key.replace('_', '-').title()}": str(value) for key, value in facts.items()}
        return RawImage(encoded, output.content_type, headers)
    return {
        "image_id": scene.id,
        **facts,
        "score": details.get("score"),
        "cache_hit": details.get("cache_hit"),
        **({"fallback_reason": details["fallback_reason"]} if "fallback_reason" in details else {}),
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
