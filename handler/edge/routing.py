"""Which action or page a request names, decided from the request line and headers.

`POST /` may name its action in the X-Drishya-Action header or the `action` query parameter
(so the password is checked before any body is read), or in the body's `action` field: that
is read only after the password passed, except a small body sent without a password, which
may ask for health.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import DrishyaError, MethodNotAllowed, NotFound
from .body import read_small_body

ACTION_METHODS = {"upload": ("POST",), "process": ("POST",), "delete": ("POST",), "health": ("GET", "POST"),
                  "settings-schema": ("GET",)}
ACTION_HEADER = "X-Drishya-Action"
# A body this small may be read without a password, to find `{"action": "health"}` in it.
PEEK_LIMIT_BYTES = 4096


@dataclass(frozen=True)
class Route:
    """What a request line names: a page file, a CORS preflight, an action, or `POST /`
    (action None: named by header, query or body)."""

    page: str | None = None
    preflight: bool = False
    action: str | None = None


def resolve(method: str, path: str) -> Route:
    path = path.strip("/")
    if path == "" and method in ("GET", "HEAD"):
        return Route(page="index.html")
    if path.startswith("app/") and method in ("GET", "HEAD"):
        return Route(page=path[len("app/"):])
    if method == "OPTIONS":
        return Route(preflight=True)
    if path == "":
        if method != "POST":
            raise MethodNotAllowed("use POST / with an action, or the action's own path")
        return Route()
    if path not in ACTION_METHODS:
        raise NotFound(f"no such path: the actions are {', '.join('/' + a for a in ACTION_METHODS)}")
    if method not in ACTION_METHODS[path]:
        raise MethodNotAllowed(f"/{path} takes {' or '.join(ACTION_METHODS[path])}",
                               headers={"Allow": ", ".join(ACTION_METHODS[path])})
    return Route(action=path)


def action_outside_body(headers, query_args) -> str | None:
    """The action `POST /` names in its header or query string, checked; None if neither does."""
    named = headers.get(ACTION_HEADER) or query_args.get("action")
    return None if named is None else known_action(named)


def peek_body_action(request) -> str | None:
    """The `action` of a small JSON body (at most PEEK_LIMIT_BYTES), else None; reads nothing
    from a larger body or one of unknown length."""
    length = request.content_length
    if not request.is_json or length is None or length > PEEK_LIMIT_BYTES:
        return None
    try:
        body = json.loads(read_small_body(request, length))
    except (ValueError, UnicodeDecodeError, RecursionError, DrishyaError):
        return None
    action = body.get("action") if isinstance(body, dict) else None
    return action if isinstance(action, str) else None


def known_action(value: object) -> str:
    if not isinstance(value, str) or value not in ACTION_METHODS:
        shown = value[:40] if isinstance(value, str) else type(value).__name__
        raise NotFound(f"unknown action {shown!r}: use upload, process, delete or health", code="unknown_action")
    return value
