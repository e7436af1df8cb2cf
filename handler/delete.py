"""The delete action: forget an upload now instead of when its TTL runs out."""
from __future__ import annotations

from .parsing import Payload, require_json
from .runtime import Runtime
from .uploads import delete_upload


def delete(runtime: Runtime, payload: Payload, request) -> dict:
    """Remove a scene or product upload, every mask cut from it and its cached embedding.

    Answers {"deleted": N}, N being the number of stored files removed; deleting again
    answers 0, so that a retried delete is harmless. An expired id may still be deleted.
    """
    body = require_json(payload)
    return {"deleted": delete_upload(runtime, body.get("image_id"))}
