"""GrabCutSegmenter on real photos (scikit-image's bundled ones): its score and warnings mean
something, and points steer it."""
from __future__ import annotations

import numpy as np
import pytest

data = pytest.importorskip("skimage.data", reason="the real photos ship with scikit-image (requirements-dev.txt)")

from handler.segmentation.base import Prompt  # noqa: E402
from handler.segmentation.grabcut import FALLBACK_SCORE, GrabCutSegmenter  # noqa: E402
from handler.segmentation.quality import LOW_SCORE, mask_warnings  # noqa: E402

CUP_BOX = (160.0, 10.0, 420.0, 310.0)         # the espresso cup in `coffee`, rim to base
CUP_BODY = np.s_[200:250, 200:380]            # its red body below the rim
ON_THE_BODY = np.array([[290, 240]], np.float32)

# (photo, box) of objects GrabCut separates cleanly
CLEAN = {
    "rocket": ("rocket", (295.0, 120.0, 345.0, 412.0)),
    "helmet": ("astronaut", (270.0, 335.0, 512.0, 512.0)),
    "flag": ("astronaut", (0.0, 0.0, 100.0, 512.0)),
}


@pytest.fixture(scope="module")
def segmenter() -> GrabCutSegmenter:
    return GrabCutSegmenter()


def test_a_cup_cut_down_to_its_rim_scores_low_and_is_warned(segmenter):
    result = segmenter.segment(data.coffee(), Prompt(box=CUP_BOX))
    assert result.mask[CUP_BODY].mean() < 0.2          # the rim alone: the red body is lost
    assert result.score < LOW_SCORE
    assert [w.code for w in mask_warnings(result.mask, CUP_BOX, result.score)] == ["mask_suspicious"]


@pytest.mark.parametrize("name", CLEAN)
def test_a_clean_cut_scores_well_and_is_not_warned(segmenter, name):
    photo, box = CLEAN[name]
    result = segmenter.segment(getattr(data, photo)(), Prompt(box=box))
    assert result.score >= 0.7
    assert mask_warnings(result.mask, box, result.score) == []


def test_one_point_on_the_cup_brings_in_its_body(segmenter):
    prompt = Prompt(box=CUP_BOX, points=ON_THE_BODY, labels=np.array([1]))
    result = segmenter.segment(data.coffee(), prompt)
    assert result.score > FALLBACK_SCORE
    assert result.mask[CUP_BODY].mean() > 0.8
    assert not result.mask[250:300, 90:150].any()    # the saucer beside it stays out
