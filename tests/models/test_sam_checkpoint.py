"""Loading MobileSAM checkpoints: exact keys/shapes, fp16 and fp32, clear errors."""
from __future__ import annotations

import ctypes
import json
import mmap
import os
import pickle
from pathlib import Path

import pytest
import torch

from handler.platform.config import Config
from handler.sam.checkpoint import CheckpointError, load_mobile_sam
from handler.sam.model import MobileSam
from handler.segmentation.service import load_predictor_from_checkpoint

from support.checkpoints import random_state_dict
from support.paths import MANIFEST

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def weights_fp16() -> dict[str, torch.Tensor]:
    """Random weights in the published layout, stored as fp16 (the golden file's format)."""
    return {key: value.half() if value.is_floating_point() else value for key, value in random_state_dict().items()}


@pytest.fixture
def save(tmp_path):
    def _save(obj, name="ckpt.pt", **kwargs) -> Path:
        path = tmp_path / name
        torch.save(obj, path, **kwargs)
        return path
    return _save


@pytest.mark.skipif(not MANIFEST.is_file(), reason=f"manifest absent: {MANIFEST} not found")
def test_module_tree_has_exactly_the_checkpoint_keys_and_shapes_in_order():
    manifest = json.loads(MANIFEST.read_text())["tensors"]
    with torch.device("meta"):
        state = MobileSam().state_dict()
    assert [(k, list(v.shape)) for k, v in state.items()] == [(k, shape) for k, shape, _ in manifest]


@pytest.mark.parametrize("optimise", [False, True])
def test_fp16_checkpoint_loads_as_float32_frozen_eval_model(weights_fp16, save, optimise):
    model = load_mobile_sam(save(weights_fp16), optimise=optimise)
    params = list(model.parameters())
    assert params and all(p.dtype == torch.float32 and not p.requires_grad for p in params)
    assert not model.training
    expected = weights_fp16["mask_decoder.iou_token.weight"].float()
    assert torch.equal(model.mask_decoder.iou_token.weight, expected)


def test_fp32_checkpoint_loads_bit_exact(weights_fp16, save):
    weights = {k: v.float() for k, v in weights_fp16.items()}
    model = load_mobile_sam(save(weights), optimise=False)
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key


def test_legacy_non_zip_checkpoint_loads(weights_fp16, save):
    path = save(weights_fp16, _use_new_zipfile_serialization=False)
    assert isinstance(load_mobile_sam(path, optimise=False), MobileSam)


def test_missing_file_is_a_checkpoint_error_without_the_path(tmp_path):
    path = tmp_path / "secret_dir" / "absent.pt"
    with pytest.raises(CheckpointError, match="not found") as info:
        load_mobile_sam(path)
    assert "secret_dir" not in str(info.value)


def test_corrupt_file_is_a_checkpoint_error_without_the_path(tmp_path):
    path = tmp_path / "secret_name.pt"
    path.write_bytes(b"PK\x03\x04 this is not really a zip archive" * 10)
    with pytest.raises(CheckpointError, match="unreadable or corrupt") as info:
        load_mobile_sam(path)
    assert "secret_name" not in str(info.value)


def test_truncated_checkpoint_is_a_checkpoint_error(weights_fp16, save):
    path = save(weights_fp16)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="unreadable or corrupt"):
        load_mobile_sam(path)


def test_pickle_that_is_not_a_state_dict_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "list.pt"
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(CheckpointError):
        load_mobile_sam(path)


def test_non_state_dict_object_is_a_checkpoint_error(save):
    with pytest.raises(CheckpointError, match="not a state dict"):
        load_mobile_sam(save([torch.zeros(3)]))


def test_missing_keys_are_counted_in_the_error(weights_fp16, save):
    weights = dict(weights_fp16)
    del weights["mask_decoder.iou_token.weight"], weights["image_encoder.head.bias"]
    with pytest.raises(CheckpointError, match="2 missing keys"):
        load_mobile_sam(save(weights))


def test_unexpected_keys_are_named_in_the_error(weights_fp16, save):
    weights = dict(weights_fp16, **{"extra.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match=r"1 unexpected key \(extra\.weight\)"):
        load_mobile_sam(save(weights))


def test_wrong_shapes_are_named_in_the_error(weights_fp16, save):
    weights = dict(weights_fp16, **{"mask_decoder.iou_token.weight": torch.zeros(2, 256)})
    with pytest.raises(CheckpointError, match=r"wrong shape \(mask_decoder\.iou_token\.weight \[2, 256\]"):
        load_mobile_sam(save(weights))


def _cached_pages(path: Path) -> int:
    """Pages of `path` resident in the page cache (mincore over a fresh read-only mapping)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long)
    size = path.stat().st_size
    with path.open("rb") as f:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, f.fileno(), 0)
        resident = (ctypes.c_ubyte * -(-size // mmap.PAGESIZE))()
        libc.mincore(ctypes.c_void_p(addr), ctypes.c_size_t(size), resident)
        libc.munmap(ctypes.c_void_p(addr), ctypes.c_size_t(size))
    return sum(page & 1 for page in resident)


@pytest.fixture
def fp32_checkpoint(weights_fp16, save) -> Path:
    return save({k: v.float() for k, v in weights_fp16.items()})


@pytest.mark.parametrize("optimise", [False, True])
def test_no_mapping_of_the_checkpoint_survives_loading(fp32_checkpoint, optimise):
    model = load_mobile_sam(fp32_checkpoint, optimise=optimise)
    maps = Path("/proc/self/maps").read_text()
    assert model is not None and str(fp32_checkpoint) not in maps


def test_the_service_leaves_the_loaded_checkpoint_out_of_the_page_cache(fp32_checkpoint, tmp_path):
    control = tmp_path / "control.bin"
    control.write_bytes(fp32_checkpoint.read_bytes())
    fd = os.open(control, os.O_RDONLY)
    os.fdatasync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    if _cached_pages(control):
        pytest.skip("this file system keeps files in memory (tmpfs?): nothing can be dropped")
    fp32_checkpoint.read_bytes()
    assert _cached_pages(fp32_checkpoint) > 0
    load_predictor_from_checkpoint(Config(model_path=fp32_checkpoint), lambda state: None)
    assert _cached_pages(fp32_checkpoint) == 0
