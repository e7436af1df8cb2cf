"""The upload action: an image in, a signed id out."""
from __future__ import annotations

import time

from .errors import InvalidField, Unprocessable
from .imaging import decode_upload
from .parsing import Payload, decode_base64_field, parse_kind, too_large
from .runtime import Runtime
from .uploads import iso_utc, save_image


def upload(runtime: Runtime, payload: Payload, request) -> dict:
    config = runtime.config
    started = time.perf_counter()
    kind = parse_kind(payload.field("kind"))
    decoded = decode_upload(_image_bytes(payload, config.max_upload_bytes), kind=kind,
                            max_side=config.max_side, max_pixels=config.max_pixels)
    if kind == "product":
        _refuse_invisible_product(decoded.pixels)
    decoded_ms = (time.perf_counter() - started) * 1000
    stored = save_image(runtime, kind, decoded)
    if kind == "scene":
        runtime.segmentation.warm_up()
    height, width = stored.pixels.shape[:2]
    return {
        "image_id": stored.id,
        "kind": kind,
        "width": width,
        "height": height,
        "original_width": stored.original_size[0],
        "original_height": stored.original_size[1],
        "expires_at": iso_utc(stored.expires_at),
        "timings_ms": {"decode": round(decoded_ms, 1),
                       "total": round((time.perf_counter() - started) * 1000, 1)},
    }


def _image_bytes(payload: Payload, max_bytes: int) -> bytes:
    if payload.image_file is not None:
        if len(payload.image_file) > max_bytes:
            raise too_large(max_bytes)
        return payload.image_file
    if payload.json is not None and "image_base64" in payload.json:
        return decode_base64_field(payload.json, "image_base64", max_bytes)
    raise InvalidField("send the image as the multipart file field 'image', or as JSON image_base64")


def _refuse_invisible_product(rgba) -> None:
    """A product whose (H, W, 4) alpha is zero everywhere can never be placed: say so now."""
    if not rgba[..., 3].any():
        raise Unprocessable("the product image is fully transparent: export it with the product "
                            "visible (opaque) on a transparent or plain background", code="empty_product")
