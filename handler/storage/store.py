"""Where uploads and masks live between requests: the interface every backend implements.

`UploadStore` is the small interface the records use; `file_store.FileStore` keeps each item
as one file under TEMP_DIR. A shared backend (Redis) implements the same methods so that many
instances of the function serve one user.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class StoredItem:
    key: str
    kind: str
    meta: dict
    payload: bytes


class UploadStore(Protocol):
    def put(self, key: str, kind: str, payload: bytes, meta: dict, expires_at: float) -> None:
        """Store an item; the least recently used items go first when the store would exceed its cap."""

    def get(self, key: str) -> StoredItem | None:
        """The item, or None when it is not (or no longer) stored."""

    def contains(self, key: str) -> bool:
        """Whether the item is stored, without reading it."""

    def delete(self, key: str) -> int:
        """Remove the item and every item derived from it; returns how many were removed."""

    def purge_expired(self, now: float | None = None) -> int:
        """Remove items past their expiry; returns how many were removed."""

    def used_bytes(self) -> int:
        """Bytes the store holds."""

    def is_writable(self) -> bool:
        """Whether items can be stored now (health reports it)."""
