"""The lean encoder and decoder compute what the literal model computes (the model written
literally from SPEC.md is the oracle): seeded random weights, real photos, every prompt kind.

Needs no ../shared: the golden tests compare both with the reference outputs there.
Tolerances are SPEC.md's (float32, CPU).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from handler.sam.checkpoint import load_mobile_sam
from handler.sam.predictor import SamPredictor

from support.checkpoints import write_random_checkpoint
from support.paths import SAMPLES

pytestmark = pytest.mark.slow

EMBEDDING_TOL = 1e-3
LOGITS_TOL = 1e-4
PROMPTS = {
    "box": {"box": np.array([520.0, 230.0, 760.0, 730.0])},
    "points": {"points": np.array([[640.0, 480.0], [300.0, 200.0]]), "labels": np.array([1, 0])},
    "box_and_points": {"box": np.array([520.0, 230.0, 760.0, 730.0]), "points": np.array([[640.0, 500.0]]),
                       "labels": np.array([1])},
}


@pytest.fixture(scope="module")
def predictors(tmp_path_factory) -> tuple[SamPredictor, SamPredictor]:
    """(literal, lean) predictors with the same seeded random weights."""
    path = write_random_checkpoint(tmp_path_factory.mktemp("oracle") / "random.pt", seed=11)
    return SamPredictor(load_mobile_sam(path, optimise=False)), SamPredictor(load_mobile_sam(path))


@pytest.fixture(scope="module", params=["landscape", "portrait"])
def photo(request) -> np.ndarray:
    """samples/scene.jpg (1280x960), or a 720x960 portrait crop of it holding the bottle."""
    scene = np.asarray(Image.open(SAMPLES / "scene.jpg").convert("RGB"))
    return scene if request.param == "landscape" else np.ascontiguousarray(scene[:, 280:1000])


@pytest.fixture(scope="module")
def embeddings(predictors, photo):
    literal, lean = predictors
    return literal.encode(photo), lean.encode(photo)


def _max_err(a, b) -> float:
    return (torch.as_tensor(a).float() - torch.as_tensor(b).float()).abs().max().item()


def test_the_lean_image_embedding_equals_the_literal_one(embeddings):
    literal, lean = embeddings
    assert lean.embedding.shape == literal.embedding.shape == (1, 256, 64, 64)
    assert _max_err(lean.embedding, literal.embedding) <= EMBEDDING_TOL


@pytest.mark.parametrize("name", PROMPTS)
@pytest.mark.parametrize("multimask", [False, True])
def test_the_lean_decoder_equals_the_literal_one(predictors, embeddings, photo, name, multimask):
    prompt = dict(PROMPTS[name])
    if photo.shape[1] < 1000:  # the portrait crop starts 280 px to the right
        prompt = {key: _shifted(key, value) for key, value in prompt.items()}
    literal, lean = predictors
    # The literal embedding for both: this compares the decoders alone.
    expected = literal.predict_logits(embeddings[0], multimask=multimask, **prompt)
    actual = lean.predict_logits(embeddings[0], multimask=multimask, **prompt)
    assert _max_err(actual[0], expected[0]) <= LOGITS_TOL
    assert _max_err(actual[1], expected[1]) <= LOGITS_TOL


def _shifted(key: str, value: np.ndarray) -> np.ndarray:
    if key == "box":
        return value - np.array([280.0, 0.0, 280.0, 0.0])
    if key == "points":
        return value - np.array([280.0, 0.0])
    return value
