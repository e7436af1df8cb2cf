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

from ..errors import BadRequest, Expired, NotFound, WrongKind
from ..imaging.decode import DecodedImage
from ..imaging.encode import decode_lossless, encode_lossless
from ..segmentation.base import MaskLogits
from .ids import IdSigner, ObjectId, new_child_key, new_key
from .store import StoredItem, UploadStore

# A child key no mask gets: masks' are random.
ORIGINAL_SUFFIX = "0" * 16
LOGITS_SHAPE = (256, 256)


@dataclass(frozen=True)
class StoredImage:
    """pixels: (H, W, 3) RGB for a scene, (H, W, 4) RGBA for a product, uint8."""

    id: str
    key: str
    expires_at: int
    pixels: np.ndarray
    original_size: tuple[int, int]


@dataclass(frozen=True)
class StoredMask:
    """mask: (H, W) bool in the stored scene's pixels; details: what made it (score, segmenter,
    box); logits: the model's answer, to render the mask at the photo's own size (or None)."""

    id: str
    mask: np.ndarray
    details: dict
    logits: MaskLogits | None = None


class Records:
    """Saves and loads images and masks under signed ids that expire after ttl_s seconds."""

    def __init__(self, store: UploadStore, signer: IdSigner, ttl_s: int):
        self.store = store
        self.signer = signer
        self._ttl_s = ttl_s

    def save_image(self, kind: str, decoded: DecodedImage, original: bytes | None = None) -> StoredImage:
        """Store an upload's working copy, and for a scene the photo's own bytes as uploaded
        (`original`), which full-size results are rendered from."""
        key = new_key()
        expires_at = int(time.time()) + self._ttl_s
        pixels = decoded.pixels
        encoding = "png" if kind == "product" else "raw"
        payload = encode_lossless(pixels) if encoding == "png" else pixels.tobytes()
        meta = {"shape": list(pixels.shape), "original_size": list(decoded.original_size), "encoding": encoding}
        if original is not None:
            self.store.put(_original_key(key), "original", original, {}, expires_at)
        self.store.put(key, kind, payload, meta, expires_at)
        token = self.signer.issue(ObjectId(kind=kind, key=key, expires_at=expires_at))
        return StoredImage(id=token, key=key, expires_at=expires_at, pixels=pixels,
                           original_size=decoded.original_size)

    def load_image(self, token: object, *, kind: str, field: str) -> StoredImage:
        object_id = self.signer.parse(token, kind=kind, field=field)
        item = self._fetch(object_id, field)
        pixels = _unpack_pixels(item.payload, item.meta)
        if pixels is None:
            raise _gone(field)
        return StoredImage(id=token, key=object_id.key, expires_at=object_id.expires_at, pixels=pixels,
                           original_size=tuple(item.meta["original_size"]))

    def load_original(self, scene: StoredImage) -> bytes:
        """The scene's photo as uploaded (NotFound once evicted)."""
        item = self.store.get(_original_key(scene.key))
        if item is None or item.kind != "original":
            raise NotFound("the photo's full-size original is no longer stored (evicted to make room): upload "
                           "it again, or ask for output.size \"working\"")
        return item.payload

    def save_mask(self, scene: StoredImage, mask: np.ndarray, details: dict, logits: MaskLogits | None = None) -> str:
        """Store a (H, W) bool mask of `scene` (with the model's logits, when it gave them);
        it expires with the scene."""
        key = new_child_key(scene.key)
        meta = {"shape": list(mask.shape), **details}
        payload = np.packbits(mask).tobytes()
        if logits is not None:
            meta["logits"] = {"offset": len(payload), "input_size": list(logits.input_size)}
            payload += logits.low_res.astype(np.float16).tobytes()
        self.store.put(key, "mask", payload, meta, scene.expires_at)
        if not self.store.contains(scene.key):
            # The scene was deleted (or evicted) while this mask was being made: a delete that
            # came first must leave nothing behind.
            self.store.delete(key)
            raise _gone("image_id")
        return self.signer.issue(ObjectId(kind="mask", key=key, expires_at=scene.expires_at))

    def load_mask(self, token: object, scene: StoredImage) -> StoredMask:
        """The mask `token` names; it must belong to `scene`."""
        object_id = self.signer.parse(token, kind="mask", field="mask_id")
        if not object_id.key.startswith(f"{scene.key}_"):
            raise BadRequest("mask_id belongs to another scene: cut out this scene first",
                             code="mask_scene_mismatch")
        item = self._fetch(object_id, "mask_id")
        height, width = item.meta["shape"]
        logits_meta = item.meta.get("logits")
        bits_end = logits_meta["offset"] if logits_meta else len(item.payload)
        mask = np.unpackbits(np.frombuffer(item.payload[:bits_end], dtype=np.uint8), count=height * width)
        logits = None
        if logits_meta:
            low_res = np.frombuffer(item.payload[bits_end:], np.float16).astype(np.float32).reshape(LOGITS_SHAPE)
            logits = MaskLogits(low_res, tuple(logits_meta["input_size"]))
        return StoredMask(id=token, mask=mask.reshape(height, width).astype(bool), details=item.meta, logits=logits)

    def parse_upload_id(self, token: object) -> ObjectId:
        """The scene or product a delete names (an expired id still names it)."""
        try:
            return self.signer.parse(token, kind="scene", field="image_id")
        except WrongKind:
            try:
                return self.signer.parse(token, kind="product", field="image_id")
            except WrongKind:
                raise WrongKind("image_id names a mask: delete the scene it was cut from, which removes "
                                "its masks too") from None

    def delete(self, object_id: ObjectId) -> int:
        """Remove an upload and its masks; the number of items removed."""
        return self.store.delete(object_id.key)

    def _fetch(self, object_id: ObjectId, field: str) -> StoredItem:
        if object_id.expires_at <= time.time():
            raise Expired(f"{field} has expired (uploads are kept for {self._ttl_s} s): upload the image again")
        item = self.store.get(object_id.key)
        if item is None or item.kind != object_id.kind:
            raise _gone(field)
        return item


def _original_key(key: str) -> str:
    """The store key of an upload's original: a child of the upload, so it goes with it."""
    return f"{key}_{ORIGINAL_SUFFIX}"


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


def _gone(field: str) -> NotFound:
    return NotFound(f"{field} is no longer stored (deleted, or evicted to make room): upload the image again")
