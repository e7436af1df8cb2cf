"""MI-GAN reproduces the reference outputs of shared/migan (random fp16 weights, three cases).

Both executions, the literal network and the lean one, are checked on every case: the model
input exactly, the output and every recorded stage sample within 1e-3 (SPEC.md).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from handler.inpainting.migan import MiGan, load_migan
from handler.inpainting.pixels import to_model_input

from support.migan import one_torch_thread
from support.paths import MIGAN_GOLDEN, MIGAN_MANIFEST

TOLERANCE = 1e-3
CASES = ("photo", "hot", "all_known")


@pytest.fixture(scope="module")
def golden() -> dict:
    """The contents of shared/migan/golden_migan512.pt; skips the test when it is absent."""
    if not MIGAN_GOLDEN.is_file():
        pytest.skip(f"golden data absent: {MIGAN_GOLDEN} not found")
    return torch.load(MIGAN_GOLDEN, weights_only=True)


@pytest.fixture(scope="module")
def manifest() -> list:
    """[(key, shape, dtype)] of shared/migan/state_dict_manifest.json; skips the test when it is absent."""
    if not MIGAN_MANIFEST.is_file():
        pytest.skip(f"manifest absent: {MIGAN_MANIFEST} not found")
    return json.loads(MIGAN_MANIFEST.read_text())["tensors"]


@pytest.fixture(scope="module")
def checkpoints(golden, tmp_path_factory) -> dict[str, Path]:
    """fp16 checkpoint files per case: the golden weights; for `hot`, with one tensor scaled in fp16."""
    folder = tmp_path_factory.mktemp("migan_golden")
    weights = golden["weights_fp16"]
    hot = dict(weights)
    hot[golden["hot_weight_key"]] = weights[golden["hot_weight_key"]] * golden["hot_scale"]
    paths = {"weights": folder / "fp16.pt", "hot": folder / "hot_fp16.pt"}
    torch.save(weights, paths["weights"])
    torch.save(hot, paths["hot"])
    return {case: paths["hot" if case == "hot" else "weights"] for case in CASES}


@pytest.fixture(scope="module", params=["literal", "lean"])
def execution(request) -> str:
    return request.param


@pytest.fixture(scope="module", params=CASES)
def run(request, golden, checkpoints, execution) -> tuple[dict, torch.Tensor, dict[str, torch.Tensor]]:
    """(golden case, output (3, 512, 512), stage samples taken like the golden file's) for one case."""
    case = golden["cases"][request.param]
    model = load_migan(checkpoints[request.param], lean=execution == "lean")
    stages: dict[str, torch.Tensor] = {}
    with one_torch_thread(), torch.inference_mode():
        output = model(to_model_input(case["image_512"], case["known_512"]), stages)
    return case, output[0], {name: _sample(name, value) for name, value in stages.items()}


def _sample(name: str, value: torch.Tensor) -> torch.Tensor:
    """The golden file's sample of a recorded stage: first 8 channels, every (r/64)-th row and column."""
    if name == "encoder_out":
        return value[0, :8].clone()
    resolution = int(name.split(".")[1])
    step = max(resolution // 64, 1)
    return value[0, :8, ::step, ::step].clone()


def _max_err(got: torch.Tensor, expected: torch.Tensor) -> float:
    assert got.shape == expected.shape
    return (got - expected).abs().max().item()


def test_model_input_is_built_exactly_from_image_and_known_mask(golden):
    for name in CASES:
        case = golden["cases"][name]
        model_input = to_model_input(case["image_512"].numpy(), case["known_512"].numpy())
        assert model_input.shape == (1, 4, 512, 512), name
        assert torch.equal(model_input[0], case["model_input"]), name


@pytest.mark.slow
def test_output_matches_reference(run):
    case, output, _ = run
    assert _max_err(output, case["output"]) <= TOLERANCE


@pytest.mark.slow
def test_encoder_stages_match_reference(run):
    case, _, samples = run
    assert _max_err(samples["encoder_out"], case["encoder_out"]) <= TOLERANCE
    for r, expected in case["encoder_feats"].items():
        assert _max_err(samples[f"encoder_feats.{r}"], expected) <= TOLERANCE, r


@pytest.mark.slow
def test_synthesis_stages_match_reference(run):
    case, _, samples = run
    for group in ("synthesis_x", "synthesis_img"):
        for r, expected in case[group].items():
            assert _max_err(samples[f"{group}.{r}"], expected) <= TOLERANCE, f"{group}.{r}"


def test_module_tree_has_exactly_the_manifest_keys_and_shapes_in_order(manifest):
    with torch.device("meta"):
        state = MiGan().state_dict()
    assert [(k, list(v.shape)) for k, v in state.items()] == [(k, shape) for k, shape, _ in manifest]
