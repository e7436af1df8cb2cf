"""SamPredictor: prompt handling, output types and shapes, statelessness across threads."""
from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

from handler.sam.checkpoint import load_mobile_sam
from handler.sam.predictor import (
    ImageEmbedding,
    SamPredictor,
    input_size_for,
    resize_longest_side,
    to_input_frame,
)

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def predictor(golden, tmp_path_factory) -> SamPredictor:
    path = tmp_path_factory.mktemp("sam") / "vit_t.pt"
    torch.save(golden["weights_fp16"], path)
    return SamPredictor(load_mobile_sam(path))


def _embedding(golden: dict, name: str) -> ImageEmbedding:
    case = golden[name]
    return ImageEmbedding(case["image_embedding"], tuple(case["image"].shape[:2]), tuple(case["input_size"]))


@pytest.fixture
def landscape(golden) -> ImageEmbedding:
    return _embedding(golden, "landscape")


@pytest.fixture
def box() -> np.ndarray:
    return np.array([300.0, 200.0, 900.0, 700.0])


def test_input_size_scales_the_long_side_to_1024():
    assert input_size_for((960, 1280)) == (768, 1024)
    assert input_size_for((1000, 640)) == (1024, 655)
    assert input_size_for((100, 50)) == (1024, 512)


@pytest.mark.parametrize("shape", [(960, 1280), (1000, 640), (2645, 203), (1375, 312), (333, 999), (100, 50)])
def test_resize_equals_pillow_bilinear_on_the_rgb_image(shape):
    image = np.random.default_rng(shape[0]).integers(0, 256, (*shape, 3), dtype=np.uint8)
    newh, neww = input_size_for(shape)
    expected = np.asarray(Image.fromarray(image).resize((neww, newh), Image.BILINEAR))
    assert np.array_equal(resize_longest_side(image), expected)


def test_prompt_coordinates_are_scaled_per_axis_into_the_1024_frame():
    scaled = to_input_frame(np.array([[1280.0, 480.0]]), (960, 1280), (768, 1024))
    assert torch.allclose(scaled, torch.tensor([[1024.0, 384.0]]))


def test_encode_returns_a_frozen_embedding_with_sizes(predictor):
    image = np.random.default_rng(0).integers(0, 256, (120, 200, 3), dtype=np.uint8)
    embedding = predictor.encode(image)
    assert embedding.embedding.shape == (1, 256, 64, 64)
    assert embedding.embedding.dtype == torch.float32
    assert embedding.original_size == (120, 200)
    assert embedding.input_size == (614, 1024)
    with pytest.raises(dataclasses.FrozenInstanceError):
        embedding.original_size = (1, 1)


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32),
                                 np.zeros((10, 10, 4), np.uint8)])
def test_encode_rejects_anything_but_rgb_uint8(predictor, bad):
    with pytest.raises(ValueError):
        predictor.encode(bad)


def test_predict_without_a_prompt_is_a_value_error(predictor, landscape):
    with pytest.raises(ValueError, match="box or points"):
        predictor.predict(landscape)


def test_points_without_matching_labels_are_a_value_error(predictor, landscape):
    with pytest.raises(ValueError, match="label"):
        predictor.predict(landscape, points=np.array([[10.0, 20.0]]), labels=np.array([1, 0]))


def test_box_prediction_is_an_original_size_bool_mask_from_the_single_mask_output(predictor, landscape, box):
    prediction = predictor.predict(landscape, box=box)
    assert prediction.mask.shape == (960, 1280) and prediction.mask.dtype == np.bool_
    assert prediction.low_res_logits.shape == (256, 256) and prediction.low_res_logits.dtype == np.float32
    low_res, iou = predictor.predict_logits(landscape, box=box, multimask=False)
    assert np.array_equal(prediction.low_res_logits, low_res[0].numpy())
    assert prediction.score == pytest.approx(iou[0].item())
    with pytest.raises(dataclasses.FrozenInstanceError):
        prediction.score = 1.0


def test_points_alone_keep_the_multimask_output_with_the_highest_iou(predictor, landscape):
    points, labels = np.array([[500.0, 400.0], [100.0, 100.0]]), np.array([1, 0])
    prediction = predictor.predict(landscape, points=points, labels=labels)
    low_res, iou = predictor.predict_logits(landscape, points=points, labels=labels, multimask=True)
    best = int(torch.argmax(iou))
    assert prediction.score == pytest.approx(iou.max().item())
    assert np.array_equal(prediction.low_res_logits, low_res[best].numpy())


def test_mask_is_where_upscaled_logits_are_positive(predictor, landscape, box):
    prediction = predictor.predict(landscape, box=box)
    assert prediction.mask.any() and not prediction.mask.all()


def test_concurrent_predictions_on_different_images_match_sequential_ones(predictor, golden, box):
    embeddings = [_embedding(golden, "landscape"), _embedding(golden, "portrait")] * 4
    sequential = [predictor.predict(e, box=box).low_res_logits for e in embeddings]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda e: predictor.predict(e, box=box).low_res_logits, embeddings))
    assert all(np.array_equal(a, b) for a, b in zip(sequential, concurrent))
