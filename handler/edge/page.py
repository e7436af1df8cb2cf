"""The web page's files: index.html and the ES modules, styles and icons under /app/.

They may be cached, but are revalidated (ETag) so a new deployment shows at the next load.
"""
from __future__ import annotations

import re
from pathlib import Path

from flask import Response

from ..errors import NotFound

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml",
          ".ico": "image/x-icon", ".json": "application/json"}
_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")


def serve(name: str, request) -> Response:
    path = STATIC_DIR / name
    if not _NAME.match(name) or path.suffix not in _TYPES or not path.is_file():
        raise NotFound("no such file in the web app")
    response = Response(path.read_bytes(), content_type=_TYPES[path.suffix])
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.add_etag()
    return response.make_conditional(request)
