"""The process action: find the product's mask, and with a new product, replace it.

One pass: load the scene → cut out (segment, or reuse a stored mask) → answer the mask, or
load the product → composite → encode.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .. import compositing
from ..errors import Unprocessable
from ..imaging.decode import decode_upload
from ..imaging.encode import decode_mask_png, encode_image, encode_mask_png, encode_photo
from ..imaging.original import decode_original
from ..inpainting.service import Inpainting
from ..platform.runtime import Runtime
from ..segmentation.base import MaskLogits
from ..segmentation.fullres import mask_region
from ..segmentation.quality import mask_warnings
from ..storage.records import StoredImage
from .answers import Base64, RawImage, Stopwatch
from .render import Rendered, render
from .requests import ImageSource, OutputOptions, ProcessRequest


@dataclass(frozen=True)
class CutOut:
    """The product's mask in the scene and where it came from.

    mask: (H, W) bool in the stored scene's pixels. score and segmenter are those of the
    segmentation that made it ("edited" for a mask the user sent; None where unknown); box
    the box it was cut from (None for points alone, or an edited mask).
    """

    mask: np.ndarray
    mask_id: str
    score: float | None
    segmenter: str | None
    cache_hit: bool
    box: tuple[float, float, float, float] | None = None
    fallback_reason: str | None = None
    logits: MaskLogits | None = None

    def facts(self) -> dict:
        facts = {"mask_id": self.mask_id, "segmenter": self.segmenter, "score": self.score,
                 "cache_hit": self.cache_hit}
        return facts | ({"fallback_reason": self.fallback_reason} if self.fallback_reason else {})

    def warnings(self) -> list[dict]:
        """What the user should check about the mask (low score, odd fit in its box)."""
        return [warning.as_dict() for warning in mask_warnings(self.mask, self.box, self.score)]


def process(runtime: Runtime, request: ProcessRequest) -> dict | RawImage:
    clock = Stopwatch()
    with clock.stage("decode"):
        scene = _scene(runtime, request.scene)
    cut = _cut_out(runtime, request, scene, clock)
    if request.product is None:
        return _mask_answer(runtime, scene, cut, request.output.size == "original", clock)
    with clock.stage("decode"):
        product = _product(runtime, request.product)
    inpainting = runtime.inpainting.fill_for(needed=request.settings.remove_old)  # loads the model on first use
    rendered = render(runtime, scene, cut.mask, cut.logits, product, request.settings,
                      request.output.size or "original", inpainting, clock)
    del product
    with clock.stage("encode_output"):
        original = rendered.original
        encoded = encode_photo(rendered.pixels, request.output.format, request.output.quality,
                               icc_profile=original.icc_profile if original else None,
                               exif=original.exif if original else None)
    return _replace_answer(scene, cut, rendered, encoded, request.output, clock, inpainting)


def _scene(runtime: Runtime, source: ImageSource) -> StoredImage:
    if source.data is None:
        return runtime.records.load_image(source.id, kind="scene", field="image_id")
    config = runtime.config
    decoded = decode_upload(source.data, kind="scene", max_side=config.max_side, max_pixels=config.max_pixels)
    return runtime.records.save_image("scene", decoded, original=source.data)


def _product(runtime: Runtime, source: ImageSource) -> np.ndarray:
    if source.data is None:
        return runtime.records.load_image(source.id, kind="product", field="product_id").pixels
    config = runtime.config
    return decode_upload(source.data, kind="product", max_side=config.max_product_side,
                         max_pixels=config.max_pixels).pixels


def _cut_out(runtime: Runtime, request: ProcessRequest, scene: StoredImage, clock: Stopwatch) -> CutOut:
    if request.mask_png is not None:
        with clock.stage("decode"):
            mask = decode_mask_png(request.mask_png, scene.pixels.shape[:2])
        recorded = {"score": None, "segmenter": "edited", "box": None}
        return CutOut(mask, runtime.records.save_mask(scene, mask, recorded), cache_hit=False, **recorded)
    if request.prompt is None:
        with clock.stage("decode"):
            stored = runtime.records.load_mask(request.mask_id, scene)
        details = stored.details
        box = details.get("box")
        return CutOut(stored.mask, stored.id, details.get("score"), details.get("segmenter"), cache_hit=True,
                      box=tuple(box) if box else None, fallback_reason=details.get("fallback_reason"),
                      logits=stored.logits)
    height, width = scene.pixels.shape[:2]
    prompt = request.prompt.within(width, height)
    choice = runtime.segmentation.choose()
    segmentation = choice.segmenter.segment(scene.pixels, prompt, image_key=scene.key)
    for stage, ms in segmentation.timings_ms.items():
        clock.record(stage, ms)
    if not segmentation.mask.any():
        raise Unprocessable("no product was found in the box: draw the box tighter around the product "
                            "or add a point on it", code="empty_mask")
    recorded = {"score": round(segmentation.score, 4), "segmenter": segmentation.segmenter,
                "box": prompt.box, "fallback_reason": choice.fallback_reason}
    mask_id = runtime.records.save_mask(scene, segmentation.mask, recorded, segmentation.logits)
    return CutOut(segmentation.mask, mask_id, cache_hit=segmentation.cache_hit, logits=segmentation.logits,
                  **recorded)


def _mask_answer(runtime: Runtime, scene: StoredImage, cut: CutOut, full_size: bool, clock: Stopwatch) -> dict:
    """The cut-out: the mask as a PNG (the working copy's size, or with full_size the photo's),
    a preview of it over the scene, where it is and what to check."""
    mask_png = _full_size_mask_png(runtime, scene, cut, clock) if full_size else encode_mask_png(cut.mask)
    with clock.stage("encode_output"):
        preview = compositing.mask_preview(scene.pixels, cut.mask)
        answer = {
            "image_id": scene.id,
            **cut.facts(),
            "bbox": mask_bbox(cut.mask),
            "area_fraction": round(float(cut.mask.mean()), 5),
            "warnings": cut.warnings(),
            "mask_png_base64": Base64(mask_png),
            "preview_jpeg_base64": Base64(encode_image(preview, "jpeg", 85)),
        }
    return answer | {"timings_ms": clock.total()}


def _full_size_mask_png(runtime: Runtime, scene: StoredImage, cut: CutOut, clock: Stopwatch) -> bytes:
    width, height = scene.original_size
    photo = None
    if cut.logits is None:  # the mask follows the photo's own edges
        with clock.stage("decode_original"):
            photo = decode_original(runtime.records.load_original(scene)).pixels
    with clock.stage("segment_full_size"):
        mask = mask_region(cut.mask, cut.logits, (height, width), (0, 0, width, height), photo)
    del photo
    with clock.stage("encode_output"):
        return encode_mask_png(mask)


def _replace_answer(scene: StoredImage, cut: CutOut, rendered: Rendered, encoded: bytes, output: OutputOptions,
                    clock: Stopwatch, inpainting: Inpainting) -> dict | RawImage:
    result = rendered.result
    facts = {**cut.facts(), "cutout": result.cutout, "blend_mode": result.blend_mode, "feather": result.feather,
             "inpainter": inpainting.inpainter}
    reasons = [reason for reason in (facts.get("fallback_reason"), inpainting.fallback_reason) if reason]
    facts.update({"fallback_reason": "; ".join(reasons)} if reasons else {})
    warnings = cut.warnings() + [warning.as_dict() for warning in result.warnings]
    if output.raw:
        headers = {f"X-Drishya-{key.replace('_', '-').title()}": str(facts[key])
                   for key in ("segmenter", "cutout", "blend_mode", "mask_id", "inpainter") if facts[key] is not None}
        if "fallback_reason" in facts:  # headers are Latin-1: anything else becomes "?"
            headers["X-Drishya-Fallback-Reason"] = facts["fallback_reason"].encode("ascii", "replace").decode()
        headers["X-Drishya-Placement"] = json.dumps(result.placement.as_dict())
        headers["X-Drishya-Warnings"] = ",".join(warning["code"] for warning in warnings)
        # JSON escapes anything outside ASCII, which headers cannot carry
        headers["X-Drishya-Warning-Messages"] = json.dumps([warning["message"] for warning in warnings])
        headers["X-Drishya-Scale"] = f"{rendered.scale:.6g}"
        headers["X-Drishya-Timings"] = json.dumps(clock.total())
        return RawImage(encoded, output.content_type, headers)
    height, width = rendered.pixels.shape[:2]
    working_height, working_width = scene.pixels.shape[:2]
    return {
        "image_id": scene.id,
        **facts,
        "placement": result.placement.as_dict(),
        "region": list(result.region),
        "warnings": warnings,
        "format": output.format,
        "width": width,
        "height": height,
        "scale": round(rendered.scale, 6),
        "working_width": working_width,
        "working_height": working_height,
        "image_base64": Base64(encoded),
        "timings_ms": clock.total(),
    }


def mask_bbox(mask: np.ndarray) -> list[int]:
    """[x0, y0, x1, y1] of the mask's True pixels, x1 and y1 exclusive."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]
