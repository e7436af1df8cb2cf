"""Errors as values: a code a client can branch on, a message a person can act on, a status.

Every failure that reaches a user is a DrishyaError; handler/edge/function.py is the one
place that turns it into an HTTP response. Messages are plain words; figures and setting
names for engineers go in `details` (and the logs).
"""
from __future__ import annotations


class DrishyaError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}
        self.details = details or {}

    def to_json(self) -> dict:
        error = {"code": self.code, "message": self.message}
        return {"error": error | ({"details": self.details} if self.details else {})}


class BadRequest(DrishyaError):
    status, code = 400, "bad_request"


class InvalidField(DrishyaError):
    """A field of the request is missing, of the wrong type or out of range."""

    status, code = 400, "invalid_field"


class InvalidImage(DrishyaError):
    status, code = 400, "invalid_image"


class InvalidId(DrishyaError):
    status, code = 400, "invalid_id"


class WrongKind(DrishyaError):
    status, code = 400, "wrong_kind"


class Unauthorized(DrishyaError):
    status, code = 401, "unauthorized"


class NotFound(DrishyaError):
    status, code = 404, "not_found"


class MethodNotAllowed(DrishyaError):
    status, code = 405, "method_not_allowed"


class RequestTimeout(DrishyaError):
    status, code = 408, "request_timeout"


class Expired(DrishyaError):
    status, code = 410, "expired"


class PayloadTooLarge(DrishyaError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(DrishyaError):
    status, code = 415, "unsupported_media_type"


class Unprocessable(DrishyaError):
    """The request is well formed but its content cannot be worked with (an empty mask)."""

    status, code = 422, "unprocessable"


class TooManyAttempts(DrishyaError):
    status, code = 429, "too_many_attempts"


class ServiceUnavailable(DrishyaError):
    status, code = 503, "unavailable"


class InsufficientStorage(DrishyaError):
    status, code = 507, "insufficient_storage"
