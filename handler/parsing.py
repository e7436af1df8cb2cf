"""Request payloads to typed values: every check on what a client sends lives here."""
from __future__ import annotations

import base64
import binascii
import io
import json
import math
from dataclasses import dataclass

import numpy as np
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from .errors import BadRequest, InvalidField, PayloadTooLarge, UnsupportedMediaType
from .imaging import OUTPUT_FORMATS
from .segmentation.base import Prompt

KINDS = ("scene", "product")
_MAX_FORM_PARTS = 16
# Bounds the non-file fields (and the decoder's look-ahead buffer, which reads 64 KiB at a time).
_MAX_FORM_FIELD_BYTES = 1024 * 1024
_READ_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class OutputOptions:
    format: str = "png"
    quality: int = 90
    raw: bool = False

    @property
    def content_type(self) -> str:
        return OUTPUT_FORMATS[self.format]


@dataclass(frozen=True)
class Payload:
    """A request body: a JSON object, or multipart form fields with an optional 'image' file."""

    json: dict | None = None
    form: dict[str, str] | None = None
    image_file: bytes | None = None

    def field(self, name: str) -> object:
        source = self.json if self.json is not None else self.form or {}
        return source.get(name)


def read_payload(request, max_bytes: int) -> Payload:
    """Parse a JSON or multipart body, refusing more than max_bytes without reading past it."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large(max_bytes)
    if request.mimetype == "multipart/form-data":
        return _read_multipart(request, max_bytes)
    if request.is_json:
        return Payload(json=_read_json(request, max_bytes))
    if not _has_body(request):
        return Payload(json={})
    raise UnsupportedMediaType("send JSON ('Content-Type: application/json'), or multipart/form-data "
                               "with the image in the field 'image'")


def require_json(payload: Payload) -> dict:
    if payload.json is None:
        raise UnsupportedMediaType("send this request's body as JSON with 'Content-Type: application/json'")
    return payload.json


def _read_json(request, max_bytes: int) -> dict:
    data = _read_body(request.stream, max_bytes)
    try:
        body = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("the request body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object", code="invalid_json")
    return body


def _read_body(stream, max_bytes: int) -> bytearray:
    """The whole body, read in pieces: a stream may return less than asked (chunked bodies,
    pipes), and one over max_bytes is refused as soon as it gets there."""
    body = bytearray()
    try:
        while chunk := stream.read(_READ_CHUNK_BYTES):
            if len(body) + len(chunk) > max_bytes:
                raise too_large(max_bytes)
            body += chunk
    except RequestEntityTooLarge:  # the server-side limit on a body without Content-Length
        raise too_large(max_bytes) from None
    return body


def _read_multipart(request, max_bytes: int) -> Payload:
    stream = _CountingStream(request.stream)
    try:
        # Parts stay in memory rather than being spooled to /tmp: both are RAM in a container,
        # and a spooled file could outlive a crashed request.
        parser = FormDataParser(stream_factory=_in_memory, max_content_length=max_bytes,
                                max_form_memory_size=_MAX_FORM_FIELD_BYTES, max_form_parts=_MAX_FORM_PARTS, silent=False)
        _, form, files = parser.parse(stream, request.mimetype, request.content_length,
                                      request.mimetype_params)
    except RequestEntityTooLarge:
        if stream.bytes_read >= max_bytes:
            raise too_large(max_bytes) from None
        # Within the size limit, so werkzeug refused the form's shape instead.
        raise PayloadTooLarge(f"the form has more than {_MAX_FORM_PARTS} fields or a text field over "
                              f"{_MAX_FORM_FIELD_BYTES // 1048576} MB: send the image in the field 'image' "
                              "and only the few short fields the action takes", code="form_too_large") from None
    except ValueError:
        raise BadRequest("the multipart body is malformed", code="invalid_multipart") from None
    image = files.get("image")
    data = image.stream.read() if image is not None else None
    return Payload(form={key: form.get(key) for key in form.keys()}, image_file=data)


class _CountingStream:
    """A read-only stream that counts the bytes read through it."""

    def __init__(self, stream):
        self._stream = stream
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.bytes_read += len(data)
        return data


def _in_memory(total_content_length, content_type, filename, content_length=None):
    return io.BytesIO()


def _has_body(request) -> bool:
    return bool(request.content_length) or request.headers.get("Transfer-Encoding", "").lower() == "chunked"


def too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request is larger than {max_bytes / 1048576:g} MB (MAX_UPLOAD_MB): "
                           "send a smaller image")


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


def parse_kind(value: object) -> str:
    kind = "scene" if value in (None, "") else value
    if kind not in KINDS:
        raise InvalidField("kind must be 'scene' or 'product'")
    return kind


def parse_prompt(body: dict, image_size: tuple[int, int], max_points: int) -> Prompt:
    """The box and/or points of a process request, in the stored scene's pixels.

    image_size: (width, height). A box overlapping the image is clipped to it.
    """
    width, height = image_size
    box = _parse_box(body["box"], width, height) if body.get("box") is not None else None
    points, labels = _parse_points(body, width, height, max_points)
    if box is None and points is None:
        raise InvalidField("say where the product is: send a box [x0, y0, x1, y1] and/or points "
                           "with labels, or a mask_id from an earlier cut-out")
    if box is None and not (labels == 1).any():
        raise InvalidField("points labelled 0 only say where the product is not: add a point labelled 1 "
                           "on the product, or a box")
    return Prompt(box=box, points=points, labels=labels)


def parse_output(value: object) -> OutputOptions:
    if value is None:
        return OutputOptions()
    if not isinstance(value, dict):
        raise InvalidField("output must be an object like {\"format\": \"png\"}")
    unknown = set(value) - {"format", "quality", "raw"}
    if unknown:
        raise InvalidField(f"output has unknown fields: {', '.join(sorted(unknown))}")
    fmt = value.get("format", "png")
    if not isinstance(fmt, str) or fmt not in OUTPUT_FORMATS:
        raise InvalidField(f"output.format must be one of {', '.join(OUTPUT_FORMATS)}")
    quality = value.get("quality", 90)
    if not _is_number(quality) or quality != int(quality) or not 1 <= quality <= 100:
        raise InvalidField("output.quality must be a whole number from 1 to 100")
    raw = value.get("raw", False)
    if not isinstance(raw, bool):
        raise InvalidField("output.raw must be true or false")
    return OutputOptions(format=fmt, quality=int(quality), raw=raw)


def wants_raw_image(accept_header: str | None) -> bool:
    """Whether the Accept header lists an image type before any JSON type."""
    for part in (accept_header or "").split(","):
        media_type = part.split(";")[0].strip().lower()
        if media_type.startswith("image/"):
            return True
        if media_type in ("application/json", "application/*", "*/*") or media_type.endswith("+json"):
            return False
    return False


def _parse_box(value: object, width: int, height: int) -> tuple[float, float, float, float]:
    if not isinstance(value, list) or len(value) != 4 or not all(_is_number(v) for v in value):
        raise InvalidField("box must be four numbers [x0, y0, x1, y1] in the scene's pixels")
    x0, y0, x1, y1 = (float(v) for v in value)
    if x0 >= x1 or y0 >= y1:
        raise InvalidField("box must have x0 < x1 and y0 < y1 (a box with an area)")
    clipped = (max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height)))
    if clipped[0] >= clipped[2] or clipped[1] >= clipped[3]:
        raise InvalidField(f"box lies outside the {width}x{height} scene", code="box_outside_image")
    return clipped


def _parse_points(body: dict, width: int, height: int, max_points: int):
    points, labels = body.get("points"), body.get("labels")
    if points is None and labels is None:
        return None, None
    if not isinstance(points, list) or not isinstance(labels, list) or len(points) != len(labels):
        raise InvalidField("points and labels must be lists of the same length")
    if not points:
        return None, None
    if len(points) > max_points:
        raise InvalidField(f"at most {max_points} points are allowed (MAX_POINTS)", code="too_many_points")
    for point in points:
        if not isinstance(point, list) or len(point) != 2 or not all(_is_number(v) for v in point):
            raise InvalidField("each point must be two numbers [x, y] in the scene's pixels")
        if not (0 <= point[0] < width and 0 <= point[1] < height):
            raise InvalidField(f"point {point} lies outside the {width}x{height} scene")
    if any(label not in (0, 1) or isinstance(label, bool) for label in labels):
        raise InvalidField("labels must be 1 (product) or 0 (not product)")
    return np.asarray(points, dtype=np.float32), np.asarray(labels, dtype=np.int32)


def _is_number(value: object) -> bool:
    """A finite JSON number that fits a float (JSON integers may have hundreds of digits)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")
