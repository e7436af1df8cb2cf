"""Routing and the request/response edge: the one place errors become HTTP responses."""
from __future__ import annotations

import json
import logging
import re
import secrets
import time
from pathlib import Path

from flask import Response
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from . import auth
from .config import ConfigError
from .delete import delete
from .errors import DrishyaError, MethodNotAllowed, NotFound, PayloadTooLarge
from .health import health_report
from .logs import configure_logging, request_id_var
from .parsing import Payload, read_payload
from .process import RawImage, process
from .runtime import Runtime, get_runtime
from .upload import upload

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
_ACTIONS = {"upload": upload, "process": process, "delete": delete}
_ACTION_METHODS = {"upload": ("POST",), "process": ("POST",), "delete": ("POST",), "health": ("GET", "POST")}
_STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml",
                 ".ico": "image/x-icon", ".json": "application/json"}
_STATIC_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
_INDEX = {"service": "drishya", "actions": {
    "POST /upload": "multipart field 'image' (or JSON image_base64), optional kind=scene|product",
    "POST /process": "JSON: image_id with box/points (mask), plus product_id (replace)",
    "POST /delete": "JSON: image_id of a scene or product; removes it and its masks now",
    "GET /health": "status of the function; no password needed"}}


def handle(request) -> Response:
    """Serve one request; never raises."""
    configure_logging()
    request_id = secrets.token_hex(8)
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    response = _respond(request)
    response.headers["X-Request-Id"] = request_id
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    log.info("request", extra={"fields": {"method": request.method, "path": request.path,
                                          "status": response.status_code,
                                          "ms": round((time.perf_counter() - started) * 1000, 1)}})
    request_id_var.reset(token)
    return response


def _respond(request) -> Response:
    try:
        runtime = get_runtime()
    except ConfigError as error:
        log.error("configuration error", extra={"fields": {"error": str(error)}})
        return _error_response(DrishyaError(f"the function is misconfigured: {error}",
                                            code="misconfigured", status=500))
    runtime.count_invocation()
    request.max_content_length = runtime.config.max_upload_bytes
    try:
        response = _route(runtime, request)
    except Exception as error:
        response = _error_response(_as_drishya_error(error))
    _add_cors(runtime, request, response)
    return response


def _as_drishya_error(error: Exception) -> DrishyaError:
    if isinstance(error, DrishyaError):
        return error
    if isinstance(error, RequestEntityTooLarge):
        return PayloadTooLarge("the request is too large (MAX_UPLOAD_MB): send a smaller image")
    if isinstance(error, HTTPException):
        return DrishyaError(error.description or error.name, code="bad_request", status=error.code or 400)
    log.exception("unexpected error")
    return DrishyaError("something went wrong on our side; the request id identifies it in the logs",
                        code="internal_error", status=500)


def _route(runtime: Runtime, request) -> Response:
    auth.refuse_secret_in_query(request.args)
    path = request.path.strip("/")
    if path == "" and request.method in ("GET", "HEAD"):
        return _index()
    if path.startswith("app/") and request.method in ("GET", "HEAD"):
        return _static_file(path[len("app/"):])
    if request.method == "OPTIONS":
        return Response(status=204)
    if path == "":
        if request.method != "POST":
            raise MethodNotAllowed("use POST / with an 'action' field, or the action's own path")
        payload = read_payload(request, runtime.config.max_upload_bytes)
        return _run_action(runtime, request, str(payload.field("action") or ""), payload)
    if path not in _ACTION_METHODS:
        raise NotFound(f"no such path: the actions are {', '.join('/' + a for a in _ACTION_METHODS)}")
    if request.method not in _ACTION_METHODS[path]:
        raise MethodNotAllowed(f"/{path} takes {' or '.join(_ACTION_METHODS[path])}",
                               headers={"Allow": ", ".join(_ACTION_METHODS[path])})
    return _run_action(runtime, request, path, None)


def _run_action(runtime: Runtime, request, action: str, payload: Payload | None) -> Response:
    if action == "health":
        return _health(runtime, request)
    if action not in _ACTIONS:
        raise NotFound(f"unknown action {action[:40]!r}: use upload, process, delete or health", code="unknown_action")
    runtime.auth.require(auth.presented_secret(request.headers), _client(runtime, request))
    if payload is None:
        payload = read_payload(request, runtime.config.max_upload_bytes)
    with runtime.admission.job():
        result = _ACTIONS[action](runtime, payload, request)
    if isinstance(result, RawImage):
        return Response(result.data, status=200, content_type=result.content_type, headers=result.headers)
    return _json_response(result, 200)


def _health(runtime: Runtime, request) -> Response:
    presented = auth.presented_secret(request.headers)
    report, status = health_report(runtime)
    if presented is not None and runtime.auth.configured:
        runtime.auth.require(presented, _client(runtime, request))
        report["authenticated"] = True
    return _json_response(report, status)


def _client(runtime: Runtime, request) -> str:
    return auth.client_address(request.remote_addr, request.headers.get("X-Forwarded-For"),
                               trust_proxy=runtime.config.trust_proxy)


def _index() -> Response:
    page = STATIC_DIR / "index.html"
    if page.is_file():
        return Response(page.read_bytes(), content_type=_STATIC_TYPES[".html"])
    return _json_response(_INDEX, 200)


def _static_file(name: str) -> Response:
    path = STATIC_DIR / name
    if not _STATIC_NAME.match(name) or path.suffix not in _STATIC_TYPES or not path.is_file():
        raise NotFound("no such file in the web app")
    return Response(path.read_bytes(), content_type=_STATIC_TYPES[path.suffix])


def _add_cors(runtime: Runtime, request, response: Response) -> None:
    origin = request.headers.get("Origin")
    if origin and origin in runtime.config.cors_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Headers"] = "Authorization, X-App-Password, Content-Type"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Expose-Headers"] = "X-Request-Id, Retry-After"
        response.headers["Vary"] = "Origin"


def _json_response(body: dict, status: int) -> Response:
    body = {**body, "request_id": request_id_var.get()}
    return Response(json.dumps(body), status=status, content_type="application/json")


def _error_response(error: DrishyaError) -> Response:
    body = {**error.to_json(), "request_id": request_id_var.get()}
    # Streamed, and the connection closed: the framework then does not read an unread (perhaps
    # huge) request body into memory after the response.
    response = Response(iter([json.dumps(body).encode()]), status=error.status,
                        content_type="application/json", headers=error.headers)
    response.headers["Connection"] = "close"
    return response
