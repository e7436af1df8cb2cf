"""HTTP responses: JSON answers, raw images, errors, and the headers every response carries."""
from __future__ import annotations

import base64
import json as json_module

from flask import Response

from ..actions.answers import Base64, RawImage
from ..errors import DrishyaError
from ..platform.logs import request_id_var

_API_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
_BASE64_CHUNK = 3 * 256 * 1024   # a multiple of 3: the chunks' base64 joins into one string


def json(body: dict, status: int) -> Response:
    """A JSON answer; Base64 values are encoded while the answer is sent (with its length known)."""
    body = {**body, "request_id": request_id_var.get()}
    blobs = {f"\x00blob{index}\x00": value.data for index, value in enumerate(body.values()) if isinstance(value, Base64)}
    markers = iter(blobs)
    text = json_module.dumps({key: next(markers) if isinstance(value, Base64) else value for key, value in body.items()})
    if not blobs:
        return _api(Response(text, status=status, content_type="application/json"))
    pieces = _split_at(text, blobs)
    length = sum(len(piece) if isinstance(piece, bytes) else 4 * -(-len(piece.data) // 3) for piece in pieces)
    response = Response(_streamed(pieces), status=status, content_type="application/json")
    response.headers["Content-Length"] = str(length)
    return _api(response)


def raw(image: RawImage) -> Response:
    return _api(Response(image.data, status=200, content_type=image.content_type, headers=image.headers))


def empty(status: int) -> Response:
    return _api(Response(status=status))


def error(failure: DrishyaError) -> Response:
    body = {**failure.to_json(), "request_id": request_id_var.get()}
    # Streamed, and the connection closed: the framework then does not read an unread (perhaps
    # huge) request body into memory after the response.
    response = Response(iter([json_module.dumps(body).encode()]), status=failure.status,
                        content_type="application/json", headers=failure.headers)
    response.headers["Connection"] = "close"
    return _api(response)


def add_cors(response: Response, origin: str | None, allowed: tuple[str, ...]) -> None:
    if origin and origin in allowed:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Headers"] = "Authorization, X-App-Password, X-Drishya-Action, Content-Type"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Expose-Headers"] = "X-Request-Id, Retry-After"
        response.headers["Vary"] = "Origin"


def _split_at(text: str, blobs: dict[str, bytes]) -> list:
    """The JSON text cut at each blob's marker (JSON escapes it as \\u0000blobN\\u0000):
    bytes pieces of text, Base64 pieces in between."""
    pieces: list = []
    for marker, data in blobs.items():
        escaped = json_module.dumps(marker)[1:-1]
        before, text = text.split(escaped, 1)
        pieces += [before.encode(), Base64(data)]
    return pieces + [text.encode()]


def _streamed(pieces: list):
    for piece in pieces:
        if isinstance(piece, bytes):
            yield piece
            continue
        data = memoryview(piece.data)
        for start in range(0, len(data), _BASE64_CHUNK):
            yield base64.b64encode(data[start:start + _BASE64_CHUNK])


def _api(response: Response) -> Response:
    response.headers.update(_API_HEADERS)
    return response
