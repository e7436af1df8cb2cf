"""HTTP responses: JSON answers, raw images, errors, and the headers every response carries."""
from __future__ import annotations

import json as json_module

from flask import Response

from ..actions.answers import RawImage
from ..errors import DrishyaError
from ..platform.logs import request_id_var

_API_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def json(body: dict, status: int) -> Response:
    body = {**body, "request_id": request_id_var.get()}
    return _api(Response(json_module.dumps(body), status=status, content_type="application/json"))


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


def _api(response: Response) -> Response:
    response.headers.update(_API_HEADERS)
    return response
