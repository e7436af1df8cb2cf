"""The lean MI-GAN execution computes what the literal network computes; loading; conversion.

Everything here uses seeded random weights that the tests write themselves (no shared data).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from handler.inpainting.convert import convert_traced_checkpoint
from handler.inpainting.migan import CheckpointError, MiGan, Upsample, load_migan
from handler.inpainting.migan_lean import LeanMiGan, RowStream, Stored, up_filter, up_rows
from handler.inpainting.pixels import to_model_input

from support.migan import one_torch_thread, photo_with_hole, random_migan_state
from support.paths import SAMPLES

TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    return random_migan_state()


@pytest.fixture(scope="module")
def checkpoint(state, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("migan") / "random_fp32.pt"
    torch.save(state, path)
    return path


def _all_known() -> torch.Tensor:
    pixels = np.asarray(Image.open(SAMPLES / "scene.jpg").convert("RGB").resize((512, 512), Image.BILINEAR))
    return to_model_input(pixels, np.ones((512, 512), bool))


@pytest.fixture(scope="module", params=["photo_with_hole", "all_known"])
def outputs(request, checkpoint) -> tuple[torch.Tensor, torch.Tensor]:
    """(literal output, lean output), both (1, 3, 512, 512), for one input."""
    x = photo_with_hole() if request.param == "photo_with_hole" else _all_known()
    with one_torch_thread(), torch.inference_mode():
        literal = load_migan(checkpoint, lean=False)(x)
        lean = load_migan(checkpoint)(x)
    return literal, lean


@pytest.mark.slow
def test_lean_output_equals_literal_output(outputs):
    literal, lean = outputs
    assert lean.shape == literal.shape == (1, 3, 512, 512)
    assert (lean - literal).abs().max().item() <= TOLERANCE


@pytest.mark.slow
def test_output_is_not_trivial(outputs):
    literal, _ = outputs
    assert literal.std().item() > 0.05


@pytest.mark.slow
def test_lean_execution_is_the_default(checkpoint):
    assert isinstance(load_migan(checkpoint), LeanMiGan)
    assert isinstance(load_migan(checkpoint, lean=False), MiGan)


def test_up_as_transposed_conv_equals_the_literal_up():
    generator = torch.Generator().manual_seed(1)
    literal = Upsample(5, 32)
    with torch.no_grad():
        literal.filter.weight.copy_(torch.rand(5, 1, 4, 4, generator=generator))
    x = torch.randn(1, 5, 16, 16, generator=generator)
    rows = x[0].permute(1, 2, 0).contiguous()
    lean = up_rows(Stored(rows), up_filter(literal.filter.weight), 32, 0, 32)
    with torch.no_grad():
        expected = literal(x)[0].permute(1, 2, 0)
    assert (lean - expected).abs().max().item() <= 1e-5


def test_up_of_a_band_equals_the_same_rows_of_the_whole_map():
    generator = torch.Generator().manual_seed(2)
    rows = torch.randn(16, 16, 5, generator=generator)
    flipped = up_filter(torch.rand(5, 1, 4, 4, generator=generator))
    whole = up_rows(Stored(rows), flipped, 32, 0, 32)
    for lo, hi in ((0, 1), (0, 8), (1, 2), (3, 11), (8, 16), (30, 32), (31, 32)):
        assert torch.allclose(up_rows(Stored(rows), flipped, 32, lo, hi), whole[lo:hi], atol=1e-6), (lo, hi)


def test_row_stream_computes_each_row_once_and_serves_overlapping_requests():
    full = torch.arange(20 * 3 * 2, dtype=torch.float32).view(20, 3, 2)
    computed = []

    def compute(lo: int, hi: int, out: torch.Tensor) -> None:
        computed.append((lo, hi))
        out.copy_(full[lo:hi])

    stream = RowStream(20, 3, 2, compute, band=4)
    read = stream.reader()
    for lo in range(0, 20, 3):
        hi = min(lo + 5, 20)
        assert torch.equal(read(lo, hi), full[lo:hi])
    rows = [r for lo, hi in computed for r in range(lo, hi)]
    assert rows == list(range(20))
    assert all(hi - lo <= 4 for lo, hi in computed)


def test_row_stream_holds_only_rows_that_a_reader_can_still_ask_for():
    stream = RowStream(100, 1, 1, lambda lo, hi, out: out.fill_(0), band=4)
    read = stream.reader()
    for lo in range(0, 96):
        read(lo, lo + 4)
    assert len(stream.buffer) <= 8


def test_fp16_checkpoint_loads_as_float32_with_its_values(state, tmp_path):
    path = tmp_path / "fp16.pt"
    torch.save({k: v.half() for k, v in state.items()}, path)
    model = load_migan(path, lean=False)
    key = "encoder.b512.conv1.conv2.weight"
    loaded = model.state_dict()[key]
    assert loaded.dtype == torch.float32
    assert torch.equal(loaded, state[key].half().float())


def test_legacy_format_checkpoint_loads(state, tmp_path):
    path = tmp_path / "legacy.pt"
    torch.save(state, path, _use_new_zipfile_serialization=False)
    assert torch.equal(load_migan(path, lean=False).state_dict()["synthesis.b4.torgb.bias"],
                       state["synthesis.b4.torgb.bias"])


@pytest.mark.parametrize("execution", ["literal", "lean"])
def test_input_that_is_not_float32_1x4x512x512_is_rejected(checkpoint, execution):
    model = load_migan(checkpoint, lean=execution == "lean")
    for bad in (torch.zeros(1, 4, 256, 256), torch.zeros(1, 3, 512, 512), torch.zeros(1, 4, 512, 512).double()):
        with pytest.raises(ValueError, match="MI-GAN input must be float32"):
            model(bad)


def _error_for(path: Path) -> str:
    with pytest.raises(CheckpointError) as failure:
        load_migan(path)
    message = str(failure.value)
    assert str(path.parent) not in message and path.name not in message
    return message


def test_truncated_checkpoint_is_reported_as_corrupt(checkpoint, tmp_path):
    path = tmp_path / "truncated.pt"
    path.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    assert "unreadable or corrupt" in _error_for(path)


def test_missing_checkpoint_is_reported(tmp_path):
    assert "not found" in _error_for(tmp_path / "absent.pt")


def test_checkpoint_that_is_not_a_state_dict_is_reported(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(3)], path)
    assert "not a state dict" in _error_for(path)


def test_wrong_keys_are_named(state, tmp_path):
    wrong = dict(state)
    wrong["encoder.b512.fromrgb.kernel"] = wrong.pop("encoder.b512.fromrgb.weight")
    path = tmp_path / "keys.pt"
    torch.save(wrong, path)
    message = _error_for(path)
    assert "1 missing key (encoder.b512.fromrgb.weight)" in message
    assert "1 unexpected key (encoder.b512.fromrgb.kernel)" in message


def test_wrong_shapes_are_named(state, tmp_path):
    wrong = dict(state)
    wrong["synthesis.b512.torgb.weight"] = torch.zeros(3, 32, 1, 1)
    path = tmp_path / "shapes.pt"
    torch.save(wrong, path)
    assert "synthesis.b512.torgb.weight [3, 32, 1, 1] (expected [3, 64, 1, 1])" in _error_for(path)


@pytest.fixture(scope="module")
def traced(state, tmp_path_factory) -> Path:
    """A TorchScript trace of MiGan with the random weights, like IOPaint's migan_traced.pt."""
    model = MiGan().eval().requires_grad_(False)
    model.load_state_dict(state)
    path = tmp_path_factory.mktemp("traced") / "migan_traced.pt"
    with one_torch_thread(), warnings.catch_warnings():
        # The input check reads shapes as Python values (TracerWarning); jit is deprecated.
        warnings.simplefilter("ignore")
        torch.jit.trace(model, torch.zeros(1, 4, 512, 512), check_trace=False).save(str(path))
    return path


@pytest.mark.slow
def test_converter_writes_the_trace_weights_as_a_plain_state_dict(traced, state, tmp_path):
    out = tmp_path / "migan_512.pt"
    convert_traced_checkpoint(traced, out)
    converted = torch.load(out, weights_only=True)
    assert list(converted) == list(state)
    assert all(torch.equal(converted[k], v) for k, v in state.items())
    assert [p.name for p in tmp_path.iterdir()] == ["migan_512.pt"]


@pytest.mark.slow
def test_converted_checkpoint_loads_strictly(traced, tmp_path):
    out = tmp_path / "migan_512.pt"
    convert_traced_checkpoint(traced, out)
    assert isinstance(load_migan(out, lean=False), MiGan)


def test_converter_rejects_a_trace_with_other_keys_and_leaves_no_file(tmp_path):
    small = torch.nn.Sequential(torch.nn.Conv2d(4, 3, 1)).eval()
    path = tmp_path / "other_traced.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.trace(small, torch.zeros(1, 4, 8, 8)).save(str(path))
    out = tmp_path / "out.pt"
    with pytest.raises(CheckpointError) as failure:
        convert_traced_checkpoint(path, out)
    message = str(failure.value)
    assert "177 missing keys (synthesis.b4.conv1.conv1.weight, synthesis.b4.conv1.conv1.bias, " in message
    assert "2 unexpected keys (0.weight, 0.bias)" in message
    assert str(tmp_path) not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other_traced.pt"]


def test_converter_rejects_a_file_that_is_not_torchscript(checkpoint, tmp_path):
    out = tmp_path / "out.pt"
    out.write_bytes(b"previous")
    with pytest.raises(CheckpointError) as failure:
        convert_traced_checkpoint(checkpoint, out)
    assert "not TorchScript" in str(failure.value)
    assert str(checkpoint.parent) not in str(failure.value)
    assert out.read_bytes() == b"previous"


@pytest.mark.slow
def test_only_the_rows_asked_for_are_computed_and_they_equal_a_whole_pass(checkpoint):
    x = photo_with_hole()
    with one_torch_thread():
        model = load_migan(checkpoint)
        whole = model(x)
        for lo, hi in ((0, 512), (0, 100), (1, 2), (137, 391), (300, 512), (511, 512)):
            part = model(x, rows=(lo, hi))
            assert torch.equal(part[..., lo:hi, :], whole[..., lo:hi, :]), (lo, hi)
            assert not part[..., :lo, :].any() and not part[..., hi:, :].any()


def test_row_stream_starting_below_the_top_computes_from_there_only():
    full = torch.arange(20 * 3 * 2, dtype=torch.float32).view(20, 3, 2)
    computed = []

    def compute(lo: int, hi: int, out: torch.Tensor) -> None:
        computed.append((lo, hi))
        out.copy_(full[lo:hi])

    stream = RowStream(20, 3, 2, compute, band=4, first=9)
    read = stream.reader()
    assert torch.equal(read(9, 13), full[9:13]) and torch.equal(read(12, 20), full[12:20])
    assert computed[0][0] == 9
    with pytest.raises(ValueError, match="rows from 8"):
        read(8, 10)


def test_rows_must_be_a_range_of_output_rows(checkpoint):
    model = load_migan(checkpoint)
    for rows in ((5, 5), (-1, 3), (0, 513)):
        with pytest.raises(ValueError, match="rows must be"):
            model(torch.zeros(1, 4, 512, 512), rows=rows)
