"""MobileSAM reproduces the public reference predictor's outputs (golden file, random weights).

Tolerances are those of shared/mobilesam/SPEC.md (float32, CPU).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from handler.sam.checkpoint import load_mobile_sam
from handler.sam.predictor import (
    ImageEmbedding,
    SamPredictor,
    input_size_for,
    resize_longest_side,
)

pytestmark = pytest.mark.slow

EMBEDDING_TOL = 1e-3
LOGITS_TOL = 1e-4
MASK_AGREEMENT = 0.999

@pytest.fixture(scope="module")
def checkpoint(golden, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sam") / "vit_t_fp32.pt"
    torch.save({k: v.float() for k, v in golden["weights_fp16"].items()}, path)
    return path


@pytest.fixture(scope="module", params=[False, True], ids=["literal", "optimised"])
def predictor(request, checkpoint) -> SamPredictor:
    return SamPredictor(load_mobile_sam(checkpoint, optimise=request.param))


@pytest.fixture(scope="module", params=["landscape", "portrait"])
def encoded(request, golden, predictor):
    """(golden entry, recorded encoder stages, ImageEmbedding) for one test image."""
    case = golden[request.param]
    stages: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        resized = torch.from_numpy(resize_longest_side(case["image"].numpy()))
        embedding = predictor.model.image_encoder.encode_image(resized, stages)
    image_size = tuple(case["image"].shape[:2])
    return case, stages, ImageEmbedding(embedding, image_size, tuple(case["input_size"]))


def _max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()


def test_every_encoder_stage_matches_reference(encoded):
    case, stages, _ = encoded
    for name, ref in case["stages"].items():
        out = stages[name]
        assert list(out.shape) == ref["shape"], name
        sampled = out.reshape(-1)[ref["sample_index"]]
        assert _max_err(sampled, ref["sample_values"]) <= EMBEDDING_TOL, name


def test_image_embedding_matches_reference(encoded):
    case, _, embedding = encoded
    assert embedding.embedding.shape == (1, 256, 64, 64)
    assert _max_err(embedding.embedding, case["image_embedding"]) <= EMBEDDING_TOL


def test_input_size_matches_reference(golden):
    for name in ("landscape", "portrait"):
        case = golden[name]
        assert input_size_for(tuple(case["image"].shape[:2])) == tuple(case["input_size"])


def test_low_res_logits_and_iou_match_reference_for_every_prompt(encoded, predictor):
    case, _, embedding = encoded
    for name, prompt in case["cases"].items():
        low_res, iou = predictor.predict_logits(
            embedding, box=_np(prompt.get("box")), points=_np(prompt.get("points")),
            labels=_np(prompt.get("labels")), multimask=prompt["multimask"])
        assert _max_err(low_res, prompt["low_res_logits"]) <= LOGITS_TOL, name
        assert _max_err(iou, prompt["iou"]) <= LOGITS_TOL, name


def test_full_resolution_mask_matches_reference(encoded, predictor):
    case, _, embedding = encoded
    prompt = case["cases"]["box_single"]
    prediction = predictor.predict(embedding, box=_np(prompt["box"]))
    expected = (prompt["mask_logits"][0] > 0).numpy()
    assert prediction.mask.shape == expected.shape
    assert np.mean(prediction.mask == expected) >= MASK_AGREEMENT
    assert abs(prediction.score - prompt["iou"].item()) <= LOGITS_TOL


def test_black_image_embedding_matches_reference(golden, predictor):
    black = np.zeros_like(golden["landscape"]["image"].numpy())
    embedding = predictor.encode(black).embedding
    assert _max_err(embedding, golden["black_embedding"]) <= EMBEDDING_TOL
    assert _max_err(embedding, golden["landscape"]["image_embedding"]) > 100 * EMBEDDING_TOL


def _np(value: torch.Tensor | None) -> np.ndarray | None:
    return None if value is None else value.numpy()
