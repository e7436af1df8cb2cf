"""Errors raised by compositing; the lead maps them onto handler/errors.py.

SettingsError  -> HTTP 400 (a settings field is of the wrong type or out of range)
CompositingError -> HTTP 422 (the inputs are well formed but cannot be composited)
Both carry `code` (snake_case) and a user-actionable `message`.
"""
from __future__ import annotations


class SettingsError(ValueError):
    """A compositing setting is unknown, of the wrong type or out of range.

    `field` is the setting's name (e.g. "scale"); `message` names the allowed range or choices.
    """

    code = "invalid_field"

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


class CompositingError(ValueError):
    """The scene, mask or product cannot be composited; `message` says what the user can do."""

    def __init__(self, message: str, *, code: str = "unprocessable"):
        super().__init__(message)
        self.code = code
        self.message = message
