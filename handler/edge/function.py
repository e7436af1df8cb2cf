"""The HTTP function: routing, the password, admission, and the one place errors become responses.

A request is answered in this order, so that nothing costly happens before the password
passed: route by path (and, for `POST /`, by the X-Drishya-Action header or ?action=) →
the password, from headers alone → the body, bounded → the typed request → the action,
holding a job slot.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Callable

from flask import Response
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..actions import requests as typed
from ..actions.answers import RawImage
from ..actions.delete import delete
from ..actions.health import health_report
from ..actions.process import process
from ..actions.upload import upload
from ..compositing import settings_schema
from ..errors import DrishyaError, PayloadTooLarge
from ..platform.config import Config, ConfigError
from ..platform.logs import configure_logging, request_id_var
from ..platform.runtime import Runtime
from . import auth, page, responses, routing
from .auth import AuthGate
from .body import bound_receiving, bound_sending, read_payload

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Services:
    runtime: Runtime
    auth: AuthGate


class Function:
    """Serves one request at a time per thread; never raises.

    config: the Config, or a callable giving it (read on the first request, so that a
    misconfiguration is reported to callers and importing main.py reads nothing).
    """

    def __init__(self, config: Config | Callable[[], Config]):
        self._config_source = config if callable(config) else (lambda: config)
        self._services: _Services | None = None
        self._lock = threading.Lock()

    @property
    def runtime(self) -> Runtime:
        """The function's services (built now if no request has come yet)."""
        return self._start().runtime

    def __call__(self, request) -> Response:
        configure_logging()
        request_id = secrets.token_hex(8)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        bound_receiving(request)
        response = self._respond(request)
        bound_sending(request, response.content_length)
        response.headers["X-Request-Id"] = request_id
        log.info("request", extra={"fields": {"method": request.method, "path": request.path,
                                              "status": response.status_code,
                                              "ms": round((time.perf_counter() - started) * 1000, 1)}})
        request_id_var.reset(token)
        return response

    def _start(self) -> _Services:
        if self._services is None:
            with self._lock:
                if self._services is None:
                    config = self._config_source()
                    runtime = Runtime.from_config(config)
                    self._services = _Services(
                        runtime=runtime,
                        auth=AuthGate(config.app_password, runtime.failures, max_failures=config.auth_max_failures,
                                      window_s=config.auth_window_s))
        return self._services

    def _respond(self, request) -> Response:
        try:
            services = self._start()
        except ConfigError as error:
            log.error("configuration error", extra={"fields": {"error": str(error)}})
            return responses.error(DrishyaError("the function is misconfigured: its operator must fix its "
                                                "settings", code="misconfigured", status=500,
                                                details={"reason": str(error)}))
        services.runtime.count_invocation()
        request.max_content_length = services.runtime.config.max_upload_bytes
        try:
            response = self._route(services, request)
        except Exception as error:
            response = responses.error(_as_drishya_error(error))
        responses.add_cors(response, request.headers.get("Origin"), services.runtime.config.cors_origins)
        return response

    def _route(self, services: _Services, request) -> Response:
        auth.refuse_secret_in_query(request.args)
        route = routing.resolve(request.method, request.path)
        if route.page is not None:
            return page.serve(route.page, request)
        if route.preflight:
            return responses.empty(204)
        action = route.action or routing.action_outside_body(request.headers, request.args)
        if action is None and auth.presented_secret(request.headers) is None:
            action = routing.peek_body_action(request)
        if action == "health":
            return self._health(services, request)
        config = services.runtime.config
        if action == "settings-schema":
            return responses.json({"settings": settings_schema(), "limits": _upload_limits(config)}, 200)
        services.auth.require(auth.presented_secret(request.headers), _client(config, request))
        payload = read_payload(request, config.max_upload_bytes)
        action = routing.known_action(action or payload.field("action"))
        if action == "health":
            return self._health(services, request)
        with services.runtime.admission.job():
            answer = _run(services.runtime, action, payload, request)
        if isinstance(answer, RawImage):
            return responses.raw(answer)
        return responses.json(answer, 200)

    def _health(self, services: _Services, request) -> Response:
        presented = auth.presented_secret(request.headers)
        report, status = health_report(services.runtime)
        if presented is not None and services.auth.configured:
            services.auth.require(presented, _client(services.runtime.config, request))
            report["authenticated"] = True
        return responses.json(report, status)


def create_handler(config: Config | None = None) -> Function:
    """The HTTP function for functions-framework: `handler = create_handler()` in main.py.

    config: None reads the environment (Config.from_env) once, at the first request.
    """
    return Function(config if config is not None else Config.from_env)


def _run(runtime: Runtime, action: str, payload: typed.Payload, request):
    config = runtime.config
    if action == "upload":
        return upload(runtime, typed.parse_upload(payload, config.max_upload_bytes))
    if action == "process":
        return process(runtime, typed.parse_process(payload, max_bytes=config.max_upload_bytes,
                                                    max_points=config.max_points,
                                                    accept=request.headers.get("Accept")))
    return delete(runtime, typed.parse_delete(payload))


def _upload_limits(config: Config) -> dict:
    """What a page can check before uploading (the same limits refuse it after)."""
    return {"max_upload_mb": config.max_upload_mb, "max_pixels": config.max_pixels,
            "upload_ttl_s": config.upload_ttl_s}


def _client(config: Config, request) -> str:
    return auth.client_address(request.remote_addr, request.headers.get("X-Forwarded-For"),
                               trusted_hops=config.client_hops)


def _as_drishya_error(error: Exception) -> DrishyaError:
    if isinstance(error, DrishyaError):
        return error
    if isinstance(error, RequestEntityTooLarge):
        return PayloadTooLarge("the request is too large: send a smaller image")
    if isinstance(error, HTTPException):
        return DrishyaError(error.description or error.name, code="bad_request", status=error.code or 400)
    log.exception("unexpected error")
    return DrishyaError("something went wrong on our side; the request id identifies it in the logs",
                        code="internal_error", status=500)
