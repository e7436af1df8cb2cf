"""Uploads and masks in the store, addressed by signed ids.

Scenes are kept raw (shape in the item's metadata): every process call reads its scene back,
so that costs a file read, not a decode. Products are read once per replace and are mostly
transparent, so a fast PNG makes them ~50x smaller in the store (which is RAM in /dev/shm).
Masks are bit-packed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from .errors import BadRequest, Expired, NotFound, WrongKind
from .ids import ObjectId, new_child_key, new_key
from .imaging import DecodedImage, decode_lossless, encode_lossless
from .runtime import Runtime


@dataclass(frozen=True)
class StoredImage:
    """pixels: (H, W, 3) RGB for a scene, (H, W, 4) RGBA for a product, uint8."""

    id: str
    key: str
    expires_at: int
    pixels: np.ndarray
    original_size: tuple[int, int]


def save_image(runtime: Runtime, kind: str, decoded: DecodedImage) -> StoredImage:
    key = new_key()
    expires_at = int(time.time()) + runtime.config.upload_ttl_s
    pixels = decoded.pixels
    encoding = "png" if kind == "product" else "raw"
    payload = encode_lossless(pixels) if encoding == "png" else pixels.tobytes()
    meta = {"shape": list(pixels.shape), "original_size": list(decoded.original_size), "encoding": encoding}
    runtime.store.put(key, kind, payload, meta, expires_at)
    token = runtime.signer.issue(ObjectId(kind=kind, key=key, expires_at=expires_at))
    return StoredImage(id=token, key=key, expires_at=expires_at, pixels=pixels,
                       original_size=decoded.original_size)


def load_image(runtime: Runtime, token: object, *, kind: str, field: str) -> StoredImage:
    object_id = runtime.signer.parse(token, kind=kind, field=field)
    item = _fetch(runtime, object_id, field)
    pixels = _unpack_pixels(item.payload, item.meta)
    if pixels is None:
        raise _gone(field)
    return StoredImage(id=token, key=object_id.key, expires_at=object_id.expires_at, pixels=pixels,
                       original_size=tuple(item.meta["original_size"]))


def save_mask(runtime: Runtime, scene: StoredImage, mask: np.ndarray, details: dict) -> str:
    """Store a (H, W) bool mask of `scene`; it expires with the scene."""
    key = new_child_key(scene.key)
    meta = {"shape": list(mask.shape), **details}
    runtime.store.put(key, "mask", np.packbits(mask).tobytes(), meta, scene.expires_at)
    return runtime.signer.issue(ObjectId(kind="mask", key=key, expires_at=scene.expires_at))


def load_mask(runtime: Runtime, token: object, scene: StoredImage) -> tuple[np.ndarray, dict]:
    """The (H, W) bool mask and its details; it must belong to `scene`."""
    object_id = runtime.signer.parse(token, kind="mask", field="mask_id")
    if not object_id.key.startswith(f"{scene.key}_"):
        raise BadRequest("mask_id belongs to another scene: cut out this scene first",
                         code="mask_scene_mismatch")
    item = _fetch(runtime, object_id, "mask_id")
    height, width = item.meta["shape"]
    mask = np.unpackbits(np.frombuffer(item.payload, dtype=np.uint8), count=height * width)
    return mask.reshape(height, width).astype(bool), item.meta


def delete_upload(runtime: Runtime, token: object) -> int:
    """Remove the scene or product `token` names with its masks; the number of files removed."""
    object_id = _parse_upload_id(runtime, token)
    runtime.segmentation.forget_image(object_id.key)
    return runtime.store.delete(object_id.key)


def _parse_upload_id(runtime: Runtime, token: object) -> ObjectId:
    try:
        return runtime.signer.parse(token, kind="scene", field="image_id")
    except WrongKind:
        try:
            return runtime.signer.parse(token, kind="product", field="image_id")
        except WrongKind:
            raise WrongKind("image_id names a mask: delete the scene it was cut from, which removes "
                            "its masks too") from None


def _unpack_pixels(payload: bytes, meta: dict) -> np.ndarray | None:
    shape = tuple(meta["shape"])
    if meta.get("encoding") == "png":
        pixels = decode_lossless(payload)
    elif len(payload) == int(np.prod(shape)):
        pixels = np.frombuffer(payload, dtype=np.uint8).reshape(shape)
    else:
        pixels = None
    return pixels if pixels is not None and pixels.shape == shape else None


def iso_utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat().replace("+00:00", "Z")


def _fetch(runtime: Runtime, object_id: ObjectId, field: str):
    if object_id.expires_at <= time.time():
        raise Expired(f"{field} has expired (uploads are kept for {runtime.config.upload_ttl_s} s): "
                      "upload the image again")
    item = runtime.store.get(object_id.key)
    if item is None or item.kind != object_id.kind:
        raise _gone(field)
    return item


def _gone(field: str) -> NotFound:
    return NotFound(f"{field} is no longer stored (deleted, or evicted to make room): upload the image again")
