"""The upload action: an image in, a signed id out."""
from __future__ import annotations

import time

from ..errors import Unprocessable
from ..imaging.decode import decode_upload
from ..platform.runtime import Runtime
from ..storage.records import iso_utc
from .requests import UploadRequest


def upload(runtime: Runtime, request: UploadRequest) -> dict:
    config = runtime.config
    started = time.perf_counter()
    scene = request.kind == "scene"
    decoded = decode_upload(request.data, kind=request.kind, max_pixels=config.max_pixels,
                            max_side=config.max_side if scene else config.max_product_side)
    if not scene:
        _refuse_invisible_product(decoded.pixels)
    decoded_ms = (time.perf_counter() - started) * 1000
    # A scene keeps its photo as uploaded, to render full-size results from; a product is kept
    # large enough (MAX_PRODUCT_SIDE) that no result ever needs more of it.
    stored = runtime.records.save_image(request.kind, decoded, original=request.data if scene else None)
    if scene:
        runtime.segmentation.warm_up(stored.pixels, stored.key, runtime.admission.job)
    height, width = stored.pixels.shape[:2]
    return {
        "image_id": stored.id,
        "kind": request.kind,
        "width": width,
        "height": height,
        "original_width": stored.original_size[0],
        "original_height": stored.original_size[1],
        "expires_at": iso_utc(stored.expires_at),
        "timings_ms": {"decode": round(decoded_ms, 1),
                       "total": round((time.perf_counter() - started) * 1000, 1)},
    }


def _refuse_invisible_product(rgba) -> None:
    """A product whose (H, W, 4) alpha is zero everywhere can never be placed: say so now."""
    if not rgba[..., 3].any():
        raise Unprocessable("the product image is fully transparent: export it with the product "
                            "visible (opaque) on a transparent or plain background", code="empty_product")
