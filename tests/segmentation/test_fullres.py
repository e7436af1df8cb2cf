"""Masks at the photo's own size: the model's logits upscaled over a region only, with the same
bilinear math as the whole upscale; masks without logits following the photo's edges."""
from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from handler.sam.predictor import upscale_logits
from handler.sam.upscale import upscale_logits_region
from handler.segmentation.fullres import mask_region

from support.paths import REPO


@pytest.fixture(scope="module")
def logits() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(256, 256)).astype(np.float32)


@pytest.mark.parametrize("input_size, size", [((768, 1024), (3000, 4000)), ((1024, 683), (6000, 4000)),
                                              ((768, 1024), (960, 1280))], ids=["12mp", "24mp-portrait", "working"])
def test_a_region_of_the_upscale_is_the_whole_upscale_there(logits, input_size, size):
    whole = upscale_logits(torch.from_numpy(logits)[None, None], input_size, size)[0, 0].numpy()
    region = (size[1] // 3, size[0] // 4, size[1] - 5, size[0] // 2 + 7)
    x0, y0, x1, y1 = region
    assert np.abs(upscale_logits_region(logits, input_size, size, region) - whole[y0:y1, x0:x1]).max() < 1e-4


@pytest.mark.parametrize("shift, most_wrong", [(0, 600), (1, 3600)], ids=["exact", "one-working-px-off"])
def test_a_mask_without_logits_follows_the_photos_edge_not_the_working_copys_pixels(shift, most_wrong):
    """A disc photographed at 3200x2400, cut out on its 1280x960 working copy (exactly, or one
    working pixel off as GrabCut may be): at full size its edge follows the photo's. (Enlarging
    the working mask gets 2791 pixels wrong nearest-neighbour, 2033 bilinear; 7253 bilinear when
    one pixel off.)"""
    photo = np.full((2400, 3200, 3), 230, np.uint8)
    cv2.circle(photo, (1600, 1200), 700, (40, 50, 60), -1, lineType=cv2.LINE_AA)
    working = cv2.resize(photo, (1280, 960), interpolation=cv2.INTER_AREA)
    working_mask = np.roll(working[..., 0] < 135, shift, axis=1)
    full = mask_region(working_mask, None, (2400, 3200), (0, 0, 3200, 2400), photo)
    assert (full != (photo[..., 0] < 135)).sum() < most_wrong


def test_starting_the_function_imports_no_torch():
    code = "import sys, main; print('torch' in sys.modules)"
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert completed.stdout.strip() == "False", completed.stderr[-500:]
