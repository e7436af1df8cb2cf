"""Signed ids and the upload store: forgery, expiry, eviction, deletion, atomic writes."""
import os
import time
from dataclasses import replace

import pytest

from handler.edge import create_handler
from handler.errors import InvalidId, WrongKind
from handler.storage.file_store import FileStore
from handler.storage.ids import IdSigner, ObjectId, new_child_key, new_key, signing_key

from support.function import AUTH, client_for, upload_image
from support.images import PRODUCT_BOX


def _signer() -> IdSigner:
    return IdSigner(b"k" * 32)


def test_an_issued_id_parses_back():
    object_id = ObjectId(kind="scene", key=new_key(), expires_at=2_000_000_000)
    assert _signer().parse(_signer().issue(object_id), kind="scene", field="image_id") == object_id


@pytest.mark.parametrize("mutate", [
    lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),           # signature changed
    lambda token: token.replace(token.split(".")[2], "zzzzzz"),              # expiry extended
    lambda token: token.replace(token.split(".")[1], new_key()),             # another key
    lambda token: "../../etc/passwd",
    lambda token: "",
    lambda token: token + "." + token,
])
def test_tampered_or_malformed_ids_are_invalid(mutate):
    token = _signer().issue(ObjectId(kind="scene", key=new_key(), expires_at=2_000_000_000))
    with pytest.raises(InvalidId):
        _signer().parse(mutate(token), kind="scene", field="image_id")


def test_id_signed_with_another_key_is_invalid():
    token = IdSigner(b"x" * 32).issue(ObjectId(kind="scene", key=new_key(), expires_at=2_000_000_000))
    with pytest.raises(InvalidId):
        _signer().parse(token, kind="scene", field="image_id")


def test_id_of_another_kind_is_wrong_kind():
    token = _signer().issue(ObjectId(kind="product", key=new_key(), expires_at=2_000_000_000))
    with pytest.raises(WrongKind):
        _signer().parse(token, kind="scene", field="image_id")


def test_generated_signing_key_is_private_and_stable(tmp_path):
    first = signing_key(None, tmp_path)
    assert signing_key(None, tmp_path) == first
    assert (tmp_path / ".signing_key").stat().st_mode & 0o777 == 0o600


def test_secret_key_derives_the_signing_key(tmp_path):
    assert signing_key("s3cret", tmp_path) == signing_key("s3cret", tmp_path / "elsewhere")
    assert not (tmp_path / ".signing_key").exists()


def test_an_id_with_a_trailing_newline_is_invalid():
    token = _signer().issue(ObjectId(kind="scene", key=new_key(), expires_at=2_000_000_000))
    with pytest.raises(InvalidId):
        _signer().parse(token + "\n", kind="scene", field="image_id")


def test_tampered_id_over_http_is_400_invalid_id(client, upload, scene_pixels):
    token = upload(scene_pixels)["image_id"]
    response = client.post("/process", json={"image_id": token[:-2] + "xx", "box": PRODUCT_BOX}, headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_id"


def test_expired_upload_is_410(config, scene_pixels, monkeypatch):
    client = client_for(create_handler(replace(config, upload_ttl_s=1)))
    token = upload_image(client, scene_pixels)["image_id"]
    expires_at = int(token.split(".")[2], 36)
    monkeypatch.setattr(time, "time", lambda: expires_at + 1.0)
    response = client.post("/process", json={"image_id": token, "box": PRODUCT_BOX}, headers=AUTH)
    assert response.status_code == 410
    assert response.get_json()["error"]["code"] == "expired"


def test_expired_items_are_purged_from_disk(tmp_path):
    store = FileStore(tmp_path, max_bytes=10_000)
    store.put(new_key(), "scene", b"x" * 100, {}, expires_at=time.time() + 60)
    assert store.purge_expired(now=time.time() + 61) == 1
    assert store.used_bytes() == 0


def test_store_evicts_the_least_recently_used_when_over_its_cap(tmp_path):
    store = FileStore(tmp_path, max_bytes=3_000)
    keys = [new_key() for _ in range(4)]
    for index, key in enumerate(keys):
        store.put(key, "scene", b"x" * 900, {}, expires_at=time.time() + 100 + index)
    assert store.get(keys[0]) is None
    assert all(store.get(key) is not None for key in keys[1:])
    assert store.used_bytes() <= 3_000


def test_an_item_read_recently_outlives_older_unread_ones(tmp_path):
    store = FileStore(tmp_path, max_bytes=3_000)
    product, *scenes = [new_key() for _ in range(4)]
    store.put(product, "product", b"p" * 900, {}, expires_at=time.time() + 100)
    for key in scenes[:2]:
        store.put(key, "scene", b"s" * 900, {}, expires_at=time.time() + 100)
    assert store.get(product) is not None  # used for a replace
    store.put(scenes[2], "scene", b"s" * 900, {}, expires_at=time.time() + 100)
    assert store.get(product) is not None and store.get(scenes[0]) is None


def test_evicted_upload_is_404_not_found(config, scene_pixels):
    client = client_for(create_handler(replace(config, max_store_mb=1)))
    first = upload_image(client, scene_pixels[:300, :300])["image_id"]
    for _ in range(4):
        upload_image(client, scene_pixels[:300, :300])
    response = client.post("/process", json={"image_id": first, "box": [10, 10, 100, 100]}, headers=AUTH)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_deleting_an_upload_removes_its_masks(tmp_path):
    store = FileStore(tmp_path, max_bytes=10_000)
    scene = new_key()
    store.put(scene, "scene", b"s", {}, expires_at=time.time() + 60)
    store.put(new_child_key(scene), "mask", b"m", {}, expires_at=time.time() + 60)
    other = new_key()
    store.put(other, "scene", b"o", {}, expires_at=time.time() + 60)
    assert store.delete(scene) == 2
    assert store.get(other) is not None


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    store = FileStore(tmp_path, max_bytes=10_000)

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    from handler.errors import InsufficientStorage

    with pytest.raises(InsufficientStorage):
        store.put(new_key(), "scene", b"x" * 10, {}, expires_at=time.time() + 60)
    assert list(tmp_path.iterdir()) == []


def test_store_never_touches_paths_outside_its_directory(tmp_path):
    store = FileStore(tmp_path / "store", max_bytes=10_000)
    with pytest.raises(ValueError):
        store.get("../outside")


@pytest.mark.parametrize("damage", [lambda blob: b"", lambda blob: b"garbage" * 10, lambda blob: blob[:-5],
                                    lambda blob: blob[:12] + b"{not json" + blob[30:]])
def test_a_damaged_item_reads_as_gone_and_is_removed(tmp_path, damage):
    store = FileStore(tmp_path, max_bytes=10_000)
    key = new_key()
    store.put(key, "scene", b"x" * 100, {"shape": [10, 10]}, expires_at=time.time() + 60)
    path = tmp_path / f"{key}.item"
    path.write_bytes(damage(path.read_bytes()))
    assert store.get(key) is None
    assert not path.exists()


def test_a_damaged_upload_over_http_is_404(client, upload, scene_pixels, tmp_path):
    token = upload(scene_pixels)["image_id"]
    item = tmp_path / "store" / "store" / f"{token.split('.')[1]}.item"
    item.write_bytes(item.read_bytes()[:-100])
    response = client.post("/process", json={"image_id": token, "box": PRODUCT_BOX}, headers=AUTH)
    assert response.status_code == 404
