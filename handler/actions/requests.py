"""Request bodies to typed requests: every check on what a client sends lives here.

The edge reads a body (JSON, or multipart fields with an image file) into a Payload; each
action's parse function turns it, in one pass, into a frozen request the action then runs.
Checks that need the stored scene (a box inside the image) are made by PromptInput.within.
"""
from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass

import numpy as np

from ..compositing import CompositeSettings, SettingsError
from ..errors import InvalidField, PayloadTooLarge, UnsupportedMediaType
from ..imaging.encode import OUTPUT_FORMATS
from ..segmentation.base import Prompt

KINDS = ("scene", "product")
PROCESS_FIELDS = frozenset({"action", "image_id", "image_base64", "box", "points", "labels", "mask_id",
                            "mask_png_base64", "product_id", "product_base64", "settings", "output"})
_PROMPT_FIELDS = ("box", "points", "labels")


@dataclass(frozen=True)
class Payload:
    """A request body: a JSON object, or multipart form fields with an optional 'image' file."""

    json: dict | None = None
    form: dict[str, str] | None = None
    image_file: bytes | None = None

    def field(self, name: str) -> object:
        source = self.json if self.json is not None else self.form or {}
        return source.get(name)


@dataclass(frozen=True)
class ImageSource:
    """An image a request names: a stored upload's id, or the encoded bytes sent inline."""

    id: object = None
    data: bytes | None = None


OUTPUT_SIZES = ("original", "working")


@dataclass(frozen=True)
class OutputOptions:
    """format: png | jpeg | webp; quality 1-100 (jpeg, webp); raw: the image bytes themselves
    instead of JSON; size: "original" (the uploaded photo's resolution) or "working" (the
    working copy's, for previews), None when not asked: a replace is rendered at the
    original's size, a mask answered at the working copy's."""

    format: str = "png"
    quality: int = 92
    raw: bool = False
    size: str | None = None

    @property
    def content_type(self) -> str:
        return OUTPUT_FORMATS[self.format]


@dataclass(frozen=True)
class PromptInput:
    """Where the product is, as sent: a box (x0, y0, x1, y1) and/or points (N, 2) float64 with
    labels (N,), in the stored scene's pixels; checked against the scene's size by within()."""

    box: tuple[float, float, float, float] | None
    points: np.ndarray | None
    labels: np.ndarray | None

    def within(self, width: int, height: int) -> Prompt:
        """The prompt for a width x height scene: the box clipped to it, points inside it."""
        box = _clipped_box(self.box, width, height) if self.box is not None else None
        points = None
        if self.points is not None:
            for x, y in self.points:
                if not (0 <= x < width and 0 <= y < height):
                    raise InvalidField(f"point [{x:g}, {y:g}] lies outside the {width}x{height} scene")
            points = self.points.astype(np.float32)
        return Prompt(box=box, points=points, labels=self.labels)


@dataclass(frozen=True)
class UploadRequest:
    kind: str
    data: bytes


@dataclass(frozen=True)
class ProcessRequest:
    """A mask request (product is None) or a replace request, fully checked but for the scene's size.

    The product's place is exactly one of: prompt (box and/or points), mask_id (an earlier
    cut-out), mask_png (a mask the user edited: PNG bytes).
    """

    scene: ImageSource
    prompt: PromptInput | None
    mask_id: object
    product: ImageSource | None
    settings: CompositeSettings
    output: OutputOptions
    mask_png: bytes | None = None


@dataclass(frozen=True)
class DeleteRequest:
    image_id: object


def parse_upload(payload: Payload, max_bytes: int) -> UploadRequest:
    kind = payload.field("kind")
    kind = "scene" if kind in (None, "") else kind
    if kind not in KINDS:
        raise InvalidField("kind must be 'scene' or 'product'")
    if payload.image_file is not None:
        if len(payload.image_file) > max_bytes:
            raise too_large(max_bytes)
        return UploadRequest(kind, payload.image_file)
    if payload.json is not None and "image_base64" in payload.json:
        return UploadRequest(kind, decode_base64_field(payload.json, "image_base64", max_bytes))
    raise InvalidField("send the image as the multipart file field 'image', or as JSON image_base64")


def parse_process(payload: Payload, *, max_bytes: int, max_points: int, accept: str | None) -> ProcessRequest:
    body = require_json(payload)
    unknown = set(body) - PROCESS_FIELDS
    if unknown:
        raise InvalidField(f"unknown fields: {', '.join(sorted(unknown)[:5])}; "
                           f"process takes {', '.join(sorted(PROCESS_FIELDS - {'action'}))}")
    settings = _settings(body.get("settings"))
    output = _output(body.get("output"), wants_raw_image(accept))
    scene = _image_source(body, "image_id", "image_base64", max_bytes, required=True)
    product = _image_source(body, "product_id", "product_base64", max_bytes, required=False)
    places = [name for name in ("mask_id", "mask_png_base64") if body.get(name) is not None]
    if any(body.get(field) is not None for field in _PROMPT_FIELDS):
        places.append("box/points")
    if len(places) > 1:
        raise InvalidField(f"send one of {' or '.join(places)}, not several: each says on its own where the "
                           "product is")
    if body.get("mask_png_base64") is not None:
        mask_png = decode_base64_field(body, "mask_png_base64", max_bytes)
        return ProcessRequest(scene, None, None, product, settings, output, mask_png=mask_png)
    if body.get("mask_id") is not None:
        return ProcessRequest(scene, None, body["mask_id"], product, settings, output)
    return ProcessRequest(scene, _prompt(body, max_points), None, product, settings, output)


def parse_delete(payload: Payload) -> DeleteRequest:
    return DeleteRequest(require_json(payload).get("image_id"))


def require_json(payload: Payload) -> dict:
    if payload.json is None:
        raise UnsupportedMediaType("send this request's body as JSON with 'Content-Type: application/json'")
    return payload.json


def too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request is larger than {max_bytes / 1048576:g} MB: send a smaller image",
                           details={"max_upload_mb": round(max_bytes / 1048576, 2)})


def decode_base64_field(body: dict, field: str, max_bytes: int) -> bytes:
    value = body.get(field)
    if not isinstance(value, str):
        raise InvalidField(f"{field} must be a base64 string")
    if "," in value[:100] and value.startswith("data:"):
        value = value.split(",", 1)[1]
    if len(value) > max_bytes * 4 // 3 + 4:
        raise too_large(max_bytes)
    # MIME-style base64 is wrapped at 76 characters; the line breaks carry nothing.
    value = "".join(value.split())
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidField(f"{field} is not valid base64") from None


def wants_raw_image(accept_header: str | None) -> bool:
    """Whether the Accept header lists an image type before any JSON type."""
    for part in (accept_header or "").split(","):
        media_type = part.split(";")[0].strip().lower()
        if media_type.startswith("image/"):
            return True
        if media_type in ("application/json", "application/*", "*/*") or media_type.endswith("+json"):
            return False
    return False


def _image_source(body: dict, id_field: str, inline_field: str, max_bytes: int, *, required: bool
                  ) -> ImageSource | None:
    if id_field in body:
        if inline_field in body:
            raise InvalidField(f"send the {_role(id_field)} as {id_field} or {inline_field}, not both")
        return ImageSource(id=body[id_field])
    if inline_field in body:
        return ImageSource(data=decode_base64_field(body, inline_field, max_bytes))
    if required:
        raise InvalidField(f"send the {_role(id_field)}: {id_field} from an upload, or {inline_field}")
    return None


def _role(id_field: str) -> str:
    return "product" if id_field.startswith("product") else "scene"


def _settings(value: object) -> CompositeSettings:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InvalidField("settings must be an object, like {\"scale\": 1.0}")
    try:
        return CompositeSettings.from_mapping(value)
    except SettingsError as error:
        raise InvalidField(str(error)) from None
    except OverflowError:  # a JSON integer too large for a float
        raise InvalidField("settings holds a number far out of range") from None


def _output(value: object, raw_by_accept: bool) -> OutputOptions:
    if value is None:
        return OutputOptions(raw=raw_by_accept)
    if not isinstance(value, dict):
        raise InvalidField("output must be an object like {\"format\": \"png\"}")
    unknown = set(value) - {"format", "quality", "raw", "size"}
    if unknown:
        raise InvalidField(f"output has unknown fields: {', '.join(sorted(unknown))}")
    size = value.get("size")
    if size is not None and size not in OUTPUT_SIZES:
        raise InvalidField("output.size must be \"original\" (the photo's own size) or \"working\" (a quick preview)")
    fmt = value.get("format", "png")
    if not isinstance(fmt, str) or fmt not in OUTPUT_FORMATS:
        raise InvalidField(f"output.format must be one of {', '.join(OUTPUT_FORMATS)}")
    quality = value.get("quality", 92)
    if not _is_number(quality) or quality != int(quality) or not 1 <= quality <= 100:
        raise InvalidField("output.quality must be a whole number from 1 to 100")
    raw = value.get("raw", False)
    if not isinstance(raw, bool):
        raise InvalidField("output.raw must be true or false")
    return OutputOptions(format=fmt, quality=int(quality), raw=raw or raw_by_accept, size=size)


def _prompt(body: dict, max_points: int) -> PromptInput:
    box = _box(body["box"]) if body.get("box") is not None else None
    points, labels = _points(body, max_points)
    if box is None and points is None:
        raise InvalidField("say where the product is: send a box [x0, y0, x1, y1] and/or points "
                           "with labels, or a mask_id from an earlier cut-out")
    if box is None and not (labels == 1).any():
        raise InvalidField("points labelled 0 only say where the product is not: add a point labelled 1 "
                           "on the product, or a box")
    return PromptInput(box, points, labels)


def _box(value: object) -> tuple[float, float, float, float]:
    if not isinstance(value, list) or len(value) != 4 or not all(_is_number(v) for v in value):
        raise InvalidField("box must be four numbers [x0, y0, x1, y1] in the scene's pixels")
    x0, y0, x1, y1 = (float(v) for v in value)
    if x0 >= x1 or y0 >= y1:
        raise InvalidField("box must have x0 < x1 and y0 < y1 (a box with an area)")
    return x0, y0, x1, y1


def _clipped_box(box: tuple[float, float, float, float], width: int, height: int
                 ) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    clipped = (max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height)))
    if clipped[0] >= clipped[2] or clipped[1] >= clipped[3]:
        raise InvalidField(f"box lies outside the {width}x{height} scene", code="box_outside_image")
    return clipped


def _points(body: dict, max_points: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    points, labels = body.get("points"), body.get("labels")
    if points is None and labels is None:
        return None, None
    if not isinstance(points, list) or not isinstance(labels, list) or len(points) != len(labels):
        raise InvalidField("points and labels must be lists of the same length")
    if not points:
        return None, None
    if len(points) > max_points:
        raise InvalidField(f"at most {max_points} points are allowed", code="too_many_points")
    for point in points:
        if not isinstance(point, list) or len(point) != 2 or not all(_is_number(v) for v in point):
            raise InvalidField("each point must be two numbers [x, y] in the scene's pixels")
    if any(label not in (0, 1) or isinstance(label, bool) for label in labels):
        raise InvalidField("labels must be 1 (product) or 0 (not product)")
    return np.asarray(points, dtype=np.float64), np.asarray(labels, dtype=np.int32)


def _is_number(value: object) -> bool:
    """A finite JSON number that fits a float (JSON integers may have hundreds of digits)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False
