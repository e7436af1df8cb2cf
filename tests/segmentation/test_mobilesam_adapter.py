"""The MobileSAM adapter around a predictor: each scene is encoded once."""
from __future__ import annotations

import numpy as np

from handler.segmentation.mobilesam import EmbeddingCache, MobileSamSegmenter

SCENE = np.zeros((48, 64, 3), np.uint8)


class CountingPredictor:
    def __init__(self):
        self.encodes = 0

    def encode(self, image):
        self.encodes += 1
        return object()


def test_a_scene_is_encoded_once_per_key():
    predictor = CountingPredictor()
    segmenter = MobileSamSegmenter(predictor, EmbeddingCache(2))
    first = segmenter.encode(SCENE, "scene-a")
    second = segmenter.encode(SCENE, "scene-a")
    assert (first[1], second[1]) == (False, True) and first[0] is second[0]
    assert predictor.encodes == 1


def test_without_a_cache_every_encode_runs():
    predictor = CountingPredictor()
    segmenter = MobileSamSegmenter(predictor, EmbeddingCache(0))
    segmenter.encode(SCENE, "scene-a")
    segmenter.encode(SCENE, "scene-a")
    assert predictor.encodes == 2
