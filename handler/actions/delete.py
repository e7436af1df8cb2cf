"""The delete action: forget an upload now instead of when its TTL runs out."""
from __future__ import annotations

from ..platform.runtime import Runtime
from .requests import DeleteRequest


def delete(runtime: Runtime, request: DeleteRequest) -> dict:
    """Remove a scene or product upload, every mask cut from it and its cached embedding.

    Answers {"deleted": N}, N being the number of stored items removed; deleting again
    answers 0, so that a retried delete is harmless. An expired id may still be deleted.
    """
    object_id = runtime.records.parse_upload_id(request.image_id)
    runtime.segmentation.forget_image(object_id.key)
    return {"deleted": runtime.records.delete(object_id)}
