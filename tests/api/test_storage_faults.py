"""The store under faults: crashes mid-write, cleanup racing requests, a full disk."""
from __future__ import annotations

import errno
import io
import os
import time

import pytest

from handler.storage.file_store import FileStore
from handler.storage.ids import new_child_key, new_key

from support.function import AUTH
from support.images import PRODUCT_BOX, png_bytes


def store_files(tmp_path) -> list:
    folder = tmp_path / "store" / "store"
    return sorted(folder.iterdir()) if folder.exists() else []


class _Crash(BaseException):
    """The process dies here: nothing after this point runs, no cleanup either."""


def test_a_crash_mid_write_leaves_no_item_under_a_valid_name(tmp_path, monkeypatch):
    store = FileStore(tmp_path, max_bytes=100_000)
    key = new_key()

    def crash(*args, **kwargs):
        raise _Crash

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(_Crash):
        store.put(key, "scene", b"x" * 5000, {}, expires_at=time.time() + 60)
    monkeypatch.undo()
    assert store.get(key) is None
    assert list(tmp_path.glob("*.item")) == []
    assert store.purge_expired(now=time.time() + 3600) == 1, "the crash's leftover is swept later"


def test_cleanup_spares_a_file_still_being_written(tmp_path):
    store = FileStore(tmp_path, max_bytes=100_000)
    being_written = tmp_path / f".{new_key()}.item.0000.partial"
    being_written.write_bytes(b"half")
    assert store.purge_expired() == 0
    assert being_written.exists()


def test_cleanup_during_a_request_does_not_break_it(client, function, upload, scene_pixels, product_pixels,
                                                   monkeypatch):
    from handler import compositing

    scene, product = upload(scene_pixels), upload(product_pixels, "product")
    runtime = function.runtime
    replace_product = compositing.replace_product

    def replace_while_everything_expires(*args, **kwargs):
        # the scene, its photo as uploaded, the product
        assert runtime.records.store.purge_expired(now=time.time() + 10 * runtime.config.upload_ttl_s) == 3 + 1
        return replace_product(*args, **kwargs)

    monkeypatch.setattr(compositing, "replace_product", replace_while_everything_expires)
    response = client.post("/process", headers=AUTH, json={
        "image_id": scene["image_id"], "box": PRODUCT_BOX, "product_id": product["image_id"]})
    assert response.status_code == 200, response.get_json()


def test_disk_full_is_507_and_leaves_no_partial_file(client, scene_pixels, tmp_path, monkeypatch):
    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    response = client.post("/upload", headers=AUTH, data={"image": (io.BytesIO(png_bytes(scene_pixels)), "s.png")})
    assert response.status_code == 507
    assert response.get_json()["error"]["code"] == "insufficient_storage"
    assert store_files(tmp_path) == []


def test_a_child_key_is_deleted_with_its_parent_only(tmp_path):
    store = FileStore(tmp_path, max_bytes=100_000)
    parent, lookalike = new_key(), new_key()
    store.put(parent, "scene", b"s", {}, expires_at=time.time() + 60)
    store.put(new_child_key(parent), "mask", b"m", {}, expires_at=time.time() + 60)
    store.put(lookalike, "scene", b"o", {}, expires_at=time.time() + 60)
    assert store.delete(parent) == 2
    assert store.get(lookalike) is not None
