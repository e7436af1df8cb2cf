"""Reading request bodies, bounded in size, time and shape: JSON or multipart.

A body over the size limit is refused as soon as it gets there; a body that arrives too
slowly (no byte for IDLE_TIMEOUT_S, or slower overall than MIN_BYTES_PER_S after a grace
period) is refused with 408; a JSON body with more objects and arrays than any request of
ours needs is refused before parsing, since parsing builds a Python object per bracket.
"""
from __future__ import annotations

import io
import json
import time

from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from ..actions.requests import Payload, too_large
from ..errors import BadRequest, PayloadTooLarge, RequestTimeout, UnsupportedMediaType

_MAX_FORM_PARTS = 16
# Bounds the non-file fields (and the decoder's look-ahead buffer, which reads 64 KiB at a time).
_MAX_FORM_FIELD_BYTES = 1024 * 1024
_READ_CHUNK_BYTES = 64 * 1024
# Our requests hold a few objects and lists (a prompt, settings); base64 holds none.
MAX_JSON_CONTAINERS = 10_000
IDLE_TIMEOUT_S = 20.0
GRACE_S = 20.0
MIN_BYTES_PER_S = 64 * 1024
SEND_BYTES_PER_S = 256 * 1024


def read_payload(request, max_bytes: int) -> Payload:
    """Parse a JSON or multipart body, refusing more than max_bytes without reading past it."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large(max_bytes)
    stream = _BoundedStream(request.stream, _deadline(request.content_length or max_bytes))
    try:
        if request.mimetype == "multipart/form-data":
            return _read_multipart(request, stream, max_bytes)
        if request.is_json:
            return Payload(json=_read_json(stream, max_bytes))
    except (TimeoutError, ClientDisconnected, ConnectionError):
        raise RequestTimeout("the upload stopped or was too slow: check the connection and send it again") from None
    if not _has_body(request):
        return Payload(json={})
    raise UnsupportedMediaType("send JSON ('Content-Type: application/json'), or multipart/form-data "
                               "with the image in the field 'image'")


def read_small_body(request, length: int) -> bytes:
    """A short body of known length, read within GRACE_S (RequestTimeout otherwise)."""
    stream = _BoundedStream(request.stream, time.monotonic() + GRACE_S)
    try:
        return _read_body(stream, length)
    except (TimeoutError, ClientDisconnected, ConnectionError):
        raise RequestTimeout("the request stopped or was too slow") from None


def bound_receiving(request) -> None:
    """From now on, a read that waits IDLE_TIMEOUT_S for a byte fails (under gunicorn)."""
    sock = request.environ.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(IDLE_TIMEOUT_S)


def bound_sending(request, length: int | None) -> None:
    """Sending the response may take as long as a client reading SEND_BYTES_PER_S needs."""
    sock = request.environ.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(GRACE_S + (length or 0) / SEND_BYTES_PER_S)


def _deadline(expected_bytes: int) -> float:
    return time.monotonic() + GRACE_S + expected_bytes / MIN_BYTES_PER_S


def _read_json(stream: "_BoundedStream", max_bytes: int) -> dict:
    data = _read_body(stream, max_bytes)
    if data.count(b"{") + data.count(b"[") > MAX_JSON_CONTAINERS:
        raise BadRequest("the request body holds far more objects and lists than any request needs",
                         code="json_too_complex")
    try:
        body = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("the request body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object", code="invalid_json")
    return body


def _read_body(stream: "_BoundedStream", max_bytes: int) -> bytearray:
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


def _read_multipart(request, stream: "_BoundedStream", max_bytes: int) -> Payload:
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


class _BoundedStream:
    """A read-only stream that counts the bytes read through it and fails past its deadline."""

    def __init__(self, stream, deadline: float):
        self._stream = stream
        self._deadline = deadline
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        if time.monotonic() > self._deadline:
            raise TimeoutError("the body is arriving too slowly")
        data = self._stream.read(size)
        self.bytes_read += len(data)
        return data


def _in_memory(total_content_length, content_type, filename, content_length=None):
    return io.BytesIO()


def _has_body(request) -> bool:
    return bool(request.content_length) or request.headers.get("Transfer-Encoding", "").lower() == "chunked"


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")
