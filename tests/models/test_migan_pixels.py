"""8-bit image + known mask -> MI-GAN input, and MI-GAN output -> 8-bit image."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from handler.inpainting.pixels import to_model_input, to_pixels


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (6, 5, 3), dtype=np.uint8)


@pytest.fixture
def known() -> np.ndarray:
    mask = np.ones((6, 5), bool)
    mask[2:4, 1:3] = False
    return mask


def test_model_input_is_known_minus_half_then_rgb_in_minus_one_to_one(image, known):
    x = to_model_input(image, known)
    assert x.shape == (1, 4, 6, 5) and x.dtype == torch.float32
    assert torch.equal(x[0, 0], torch.from_numpy(np.where(known, 0.5, -0.5)).float())
    expected = torch.from_numpy(image).permute(2, 0, 1).float() * 2 / 255 - 1
    assert torch.equal(x[0, 1:][:, known], expected[:, known])


def test_hole_pixels_are_zero_in_the_model_input(image, known):
    x = to_model_input(image, known)
    assert torch.count_nonzero(x[0, 1:][:, ~known]) == 0


def test_model_input_takes_tensors_like_arrays(image, known):
    assert torch.equal(to_model_input(torch.from_numpy(image), torch.from_numpy(known)), to_model_input(image, known))


@pytest.mark.parametrize("bad_image, bad_known", [
    (np.zeros((6, 5, 3), np.float32), np.ones((6, 5), bool)),
    (np.zeros((6, 5), np.uint8), np.ones((6, 5), bool)),
    (np.zeros((6, 5, 3), np.uint8), np.ones((6, 5), np.uint8)),
    (np.zeros((6, 5, 3), np.uint8), np.ones((5, 6), bool)),
])
def test_model_input_rejects_wrong_types_and_shapes(bad_image, bad_known):
    with pytest.raises(ValueError):
        to_model_input(bad_image, bad_known)


def test_pixels_map_minus_one_to_zero_and_one_to_255_clamping_beyond():
    y = torch.tensor([-1.5, -1.0, 0.0, 1.0, 2.0]).view(1, 1, 1, 5).expand(1, 3, 1, 5)
    assert to_pixels(y)[0, :, 0].tolist() == [0, 0, 128, 255, 255]


def test_pixels_of_the_input_rgb_are_the_image_itself(image, known):
    rgb = to_model_input(image, np.ones_like(known))[:, 1:]
    pixels = to_pixels(rgb)
    assert pixels.dtype == np.uint8 and pixels.shape == image.shape
    assert np.array_equal(pixels, image)
